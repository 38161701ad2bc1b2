// Reading structured answers out of M4CXR's generated text (docs/upstream-tasks.md §9, §11).
//
// Upstream's evaluation code is the reference for what the answers mean, but it is
// fragile (multi-box answers score 0, stray words abort the run, Title case matches
// nothing). These parsers reproduce upstream where upstream works and degrade
// gracefully where it does not: no function here throws on any model output (only
// std::bad_alloc can escape); malformed input gives an empty result.
//
// Plain values in and out; every function is pure and reentrant (thread-safe).
// Inputs may contain special-token text ("</s>", "[INST]", ...) and any bytes.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "image/box_geometry.h"

namespace m4cxr {

// upstream evaluate.remove_special_tokens: deletes every "<s>", then every "</s>",
// "[INST]", "[/INST]" (in that order, like the successive str.replace calls), then
// strips whitespace (Python str.strip).
std::string strip_special_text(std::string_view text);

// How candidate names are matched against the output.
enum class MatchCase {
  // m4cxr default: both sides lower-cased, so "Cardiomegaly, Pleural Effusion." finds
  // cardiomegaly and pleural effusion (the model was trained on lower case, but a
  // Title-case answer means the same thing).
  insensitive,
  // upstream compute_multi_cls_metrics exactly: lower-cased name searched in the raw,
  // not lower-cased output (a Title-case answer finds nothing). For reproducing paper
  // numbers.
  upstream,
};

// Candidates whose name occurs in `text` as a substring, in candidate order and
// spelled as given (a candidate listed twice is reported twice). Substring semantics are
// upstream's: negations count ("no edema" finds edema), inflections match ("fractures"
// finds fracture), and a name inside a longer one matches too ("pneumonia" inside "viral
// pneumonia") - pick candidate lists without such overlaps when that matters.
// Empty candidate names never match.
std::vector<std::string> parse_findings(std::string_view text,
                                        const std::vector<std::string>& candidates,
                                        MatchCase match = MatchCase::insensitive);

// The CheXbert-14 reading of a CoT turn-1 / C1 answer (upstream
// compute_multi_cls_metrics): labels[i] for i < 13 is parse_findings over the 13
// lower-cased CheXbert names; labels[13] ("No Finding") is true iff none of labels
// 0..11 is (Support Devices does not count).
struct ChexbertFindings {
  std::array<bool, 14> labels{};      // kChexbertConditions order
  std::vector<std::string> findings;  // lower-case names of the present labels 0..12
  bool no_finding = false;            // == labels[13]
};
ChexbertFindings parse_chexbert_findings(std::string_view text,
                                         MatchCase match = MatchCase::insensitive);

// Every box written as "[a,b,c,d]" in the text, in order of appearance. Accepted:
// spaces around numbers and commas, an optional sign, and a decimal fraction
// ("12.0" -> 12, rounded half to even; the model writes integers). Also accepted, as
// upstream does: a missing "]" when only whitespace / "." / special tokens follow
// ("[12,34,56,78"), and a text that is nothing but "a,b,c,d" (optionally ending in ".").
// Rejected: fewer or more than four numbers inside one bracket pair ("[12,34,56]",
// "[12,34,56,78,90]") and anything non-numeric inside.
// Each value is clamped to 0..100 (numbers too long to fit an int saturate first) and
// each axis ordered so that x1 <= x2, y1 <= y2 - so every result is a valid ModelBox.
// Where upstream's metric breaks, this differs on purpose: all boxes of a multi-box
// answer are returned (upstream scores 0); text around the box is ignored (upstream
// raises); "12.5" is 12 (upstream reads 125); out-of-range and swapped corners are
// repaired (upstream keeps them).
std::vector<ModelBox> parse_boxes(std::string_view text);

// A byte range [begin, end) of a text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

// Where parse_findings(text, {name}) (MatchCase::insensitive) finds `name`: the byte
// offset in `text` of its first case-insensitive occurrence, or std::string::npos.
size_t locate_finding(std::string_view text, std::string_view name);

// Where parse_boxes(text) read each of its boxes: the bytes of the box's own text
// ("[12,34,56,78]", or the whole bare "a,b,c,d" answer) in `text`, one span per box of
// parse_boxes(text) and in its order (parse_named_boxes lists the same boxes in the same
// order too).
std::vector<TextSpan> locate_boxes(std::string_view text);

// G4 answers "name [..], [..], name2 [..]." -> {{"name", {b1, b2}}, {"name2", {b3}}}.
// A name is the text between the previous box (or the start) and a box, trimmed of
// whitespace and of the separators , ; . : around it; boxes with no name before them
// join the previous group (or, at the very start, a group with an empty name).
// "Not found." and other box-free text give an empty result. Names are returned as
// written (not lower-cased).
std::vector<std::pair<std::string, std::vector<ModelBox>>> parse_named_boxes(std::string_view text);

// upstream compute_vqa_metrics: strip_special_text, delete every '.', lower-case
// (pytext::lower: ASCII, Latin-1, Greek, Cyrillic).
std::string normalize_vqa_answer(std::string_view text);

// G1's negative answer: true iff the answer, after strip_special_text, lower-casing and
// dropping trailing '.' and whitespace, is "not present" or "not found".
bool is_not_present(std::string_view text);

}  // namespace m4cxr
