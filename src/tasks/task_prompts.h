// The user messages of every M4CXR task (docs/upstream-tasks.md §3-§5), built exactly as upstream's
// templates.py + dataset classes build them, so the model sees the prompts it was
// trained on. A builder returns the user turns of one conversation in order; the caller
// renders them with render_chat() (text/chat_prompt.h), one generate() call per turn,
// inserting the model's answer after each.
//
// Turn 0 of a conversation starts with kSystemMessage + " " + image prompt + " "
// (first_user_content); later turns are the bare question. Multi-turn tasks that ask one
// question per item (G1, G2, G7/G8 on ImaGenome, G9, G10, C2, V3) take a Turn argument:
// Turn::first for the first item (carries the prefix and the image), Turn::later for
// every following item (bare question, no image).
//
// Argument checks (all throw m4cxr::Error(Status::invalid_argument), naming the
// argument): image counts outside the task's range; empty (or whitespace-only) text;
// text longer than kMaxUserTextBytes; text that is not valid UTF-8; user-supplied text
// containing "<image>", "[INST]", "[/INST]", "<s>", "</s>" or "<unk>" (the prompt
// encoder and tokenizer would treat them as structure/special tokens); empty or too
// long label/box lists; boxes outside 0..100 or with x1 > x2 / y1 > y2.
//
// Plain values in, plain values out; every function is pure and reentrant
// (thread-safe).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "image/box_geometry.h"

namespace m4cxr {

// A task's user messages, kept in parts so the engine joins them once: turn 0 is
// [kSystemMessage + " "] + [image_prompt + " "] + questions[0] (first_user_content);
// later turns are the bare questions.
struct TaskPrompt {
  std::string image_prompt;            // "radiology image: <image>"; "" for a bare question
  std::vector<std::string> questions;  // one per user turn
  bool system_message = true;          // turn 0 starts with kSystemMessage
  int n_images = 0;  // images the caller must pass, in "<image>" marker order

  // The user messages as sent, in order (turn 0 with its prefix).
  std::vector<std::string> user_turns() const;
};

enum class Turn { first, later };

// Limits (upstream: 1-5 images per study, at most 10 images in a multi-study prompt).
inline constexpr int kMaxStudyImages = 5;
inline constexpr int kMaxFollowupImages = 10;
inline constexpr size_t kMaxUserTextBytes = size_t{64} << 10;
inline constexpr size_t kMaxLabels = 64;
inline constexpr size_t kMaxBoxes = 64;

// ---- report generation (§3) -------------------------------------------------------
// R0 report_only (stage-1 pre-training format): the single user message "<image>", no
// system message. Not meant for the instruction-tuned model.
TaskPrompt report_only();
// R1 (n_images == 1, "radiology image: <image>") / R3 (n > 1, plural wording);
// 1 <= n_images <= kMaxStudyImages. One turn.
TaskPrompt report_single_turn(int n_images);
// Chain of thought, two turns: {F13} findings question, then the report request.
// R2 for n_images == 1 (singular wording), R4 for 2..kMaxStudyImages (plural).
TaskPrompt report_cot(int n_images);
// R4 wording for any 1..kMaxStudyImages (upstream's multi-image dataset keeps the
// plural for a 1-image study).
TaskPrompt report_cot_multi(int n_images);
// R5 (single turn) / R6 (CoT, two turns): prior study images, prior report, follow-up
// images. n_prior, n_current >= 1, n_prior + n_current <= kMaxFollowupImages; images
// are fed prior first. prior_report is cleaned with clean_report_mimic_cxr unless
// clean_prior is false (then inserted as given); it must not be blank, and neither the
// raw nor the cleaned text may contain a structural marker (cleaning deletes '_', so
// "<ima_ge>" would become "<image>").
TaskPrompt report_followup_single_turn(int n_prior, int n_current, std::string_view prior_report,
                                       bool clean_prior = true);
TaskPrompt report_followup_cot(int n_prior, int n_current, std::string_view prior_report,
                               bool clean_prior = true);

// ---- classification (§4 C1, C2) ----------------------------------------------------
// C1: "Which of the following findings are present ...? Findings: {F}". Labels are
// lower-cased, "no finding" and "lung" entries dropped (as upstream), ", "-joined in
// the given order; an empty vector means cot_findings() ({F13}). invalid_argument when
// nothing is left or more than kMaxLabels labels are given.
TaskPrompt classify(const std::vector<std::string>& labels = {});
// C2 (defined upstream, unused in training): "Is {finding} present in the radiology
// image?"; the finding "no finding" asks "Are there any findings in the radiology image?".
TaskPrompt single_disease(std::string_view finding, Turn turn = Turn::first);

// ---- grounding (§4 G1-G10) ---------------------------------------------------------
// Finding / organ / region names are lower-cased (upstream lower-cases every catalogue
// name); phrases, questions and instructions are used verbatim.
TaskPrompt ground_finding(std::string_view finding, Turn turn = Turn::first);         // G1
TaskPrompt grounded_finding(const ModelBox& box, Turn turn = Turn::first);            // G2
TaskPrompt detect_abnormalities();                                                    // G3
TaskPrompt ground_multi_findings(const std::vector<std::string>& labels);             // G4
TaskPrompt ground_organ(std::string_view organ = "lung");                             // G5
TaskPrompt grounded_organ(const std::vector<ModelBox>& boxes);                        // G6
TaskPrompt grounded_phrase(const std::vector<ModelBox>& boxes, Turn turn = Turn::first);  // G7
TaskPrompt ground_phrase(std::string_view phrase, Turn turn = Turn::first);           // G8
TaskPrompt ground_region(std::string_view region, Turn turn = Turn::first);           // G9
TaskPrompt grounded_region(const ModelBox& box, Turn turn = Turn::first);             // G10
// G4 labels: lower-cased, "no finding"/"lung" dropped like classify(); must not end up
// empty (there is no default set).

// ---- question answering (§5) -------------------------------------------------------
TaskPrompt vqa(std::string_view question);             // V1, one image
TaskPrompt difference_vqa(std::string_view question);  // V2, two images: reference, then main
// V3 free instruction ("radiology image: <image> {text}" first, bare text later). As
// upstream's RaDialog loader does, a first-turn text containing "write the finding
// section of a chest x-ray radiology report for this X-ray image" is replaced by the
// report question the model was trained on. Also the way to add a free follow-up
// question after any task (Turn::later).
TaskPrompt instruction(std::string_view text, Turn turn = Turn::first);

// The candidate names exactly as classify()/ground_multi_findings() put them in the
// prompt (lower-cased, "no finding"/"lung" dropped; empty -> cot_findings()). Same errors.
std::vector<std::string> prompt_labels(const std::vector<std::string>& labels);

// ---- formatting helpers --------------------------------------------------------------
// "[x1,y1,x2,y2]" (no spaces) and boxes joined by ", " (docs/upstream-model.md §7.3). No validation.
std::string format_box(const ModelBox& box);
std::string format_boxes(const std::vector<ModelBox>& boxes);
// n "<image>" markers joined by single spaces ("" for n <= 0).
std::string image_markers(int n);

}  // namespace m4cxr
