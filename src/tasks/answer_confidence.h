// How sure the model was of the parts of an answer (issue 14), from the probabilities of
// the tokens it generated; no extra forward pass. Definitions (README "Confidence"):
//
//  * A span of the answer text has the probability of the generated tokens that wrote
//    it: the product of the probabilities of every token whose text overlaps the span (a
//    token that reaches across the span's border counts whole).
//  * Label score, for every candidate of a label-list answer (the findings turn of a
//    report, classification), in [0, 1]:
//      - a label the answer names (as parse_findings finds it: case-insensitive, any
//        order): the probability of the span where it is first found;
//      - a label it does not name: the highest probability, over every point of the
//        answer where a label could start, that the next token starts this label. A label
//        can start at the beginning of the answer and wherever the text so far, without
//        trailing spaces, ends with ','. The probability of starting a label there is the
//        summed probability of the tokens whose text, without leading spaces and
//        lower-cased, is a non-empty prefix of the lower-cased label or begins with it.
//  * Box probability: the probability of the span of each box parse_boxes() reads
//    ("[x1,y1,x2,y2]").
// A probability is the model's: softmax of the raw logits of that step (before
// temperature, top-k, top-p or a constrained-decoding mask), as the token log-probabilities.
//
// Thread-safety: LabelStartScorer is used by one generation at a time; the free
// functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/token_constraint.h"

namespace m4cxr {

// One generated token: the bytes it added to the answer text and its log-probability.
struct TokenSpan {
  size_t begin = 0, end = 0;  // [begin, end) in the answer text; empty for a token that added none
  double logprob = 0;
};

// Probability of the bytes [begin, end) of the answer (see above); 0 for an empty span
// or one no token wrote.
double span_probability(const std::vector<TokenSpan>& tokens, size_t begin, size_t end);

struct LabelScore {
  std::string label;
  double score = 0;      // in [0, 1]
  bool written = false;  // the answer names the label
};

// Collects, while a label-list answer is generated, the probability of starting each
// label at every label start, and turns it into the labels' scores once it is written.
class LabelStartScorer {
 public:
  LabelStartScorer(std::shared_ptr<const TokenTexts> texts, std::vector<std::string> labels);

  // A label can start at the next token, after `text_so_far` (the answer's text).
  static bool is_label_start(std::string_view text_so_far);
  // Takes the step's log-probabilities over the vocabulary (`vocab` values) at a label
  // start; `started` says whether a token with text was generated before (the first one
  // loses the leading space of its piece). Throws Error(internal) for a vocabulary size
  // other than the tokenizer's.
  void observe(bool started, const float* logprobs, size_t vocab);
  // Scores of every label, in candidate order, for the finished answer `text` written by
  // `tokens`.
  std::vector<LabelScore> scores(std::string_view text, const std::vector<TokenSpan>& tokens) const;

 private:
  // Ids that start label `label` as the first token (started = false) or a later one.
  const std::vector<int32_t>& start_ids(size_t label, bool started);

  std::shared_ptr<const TokenTexts> texts_;
  std::vector<std::string> labels_;
  std::vector<std::vector<int32_t>> start_ids_[2];  // [started][label], built on first use
  std::vector<double> best_start_;                  // per label
};

// Probability of each box of parse_boxes(text), in its order.
std::vector<double> box_probabilities(std::string_view text, const std::vector<TokenSpan>& tokens);

}  // namespace m4cxr
