#include "tasks/answer_confidence.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "tasks/output_parsing.h"
#include "tasks/python_text.h"

namespace m4cxr {

double span_probability(const std::vector<TokenSpan>& tokens, size_t begin, size_t end) {
  if (begin >= end) return 0;
  double logprob = 0;
  bool any = false;
  for (const TokenSpan& t : tokens)
    if (t.end > t.begin && t.end > begin && t.begin < end) {
      logprob += t.logprob;
      any = true;
    }
  return any ? std::exp(logprob) : 0;
}

LabelStartScorer::LabelStartScorer(std::shared_ptr<const TokenTexts> texts, std::vector<std::string> labels)
    : texts_(std::move(texts)), labels_(std::move(labels)), best_start_(labels_.size(), 0.0) {}

bool LabelStartScorer::is_label_start(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text.empty() || text.back() == ',';
}

const std::vector<int32_t>& LabelStartScorer::start_ids(size_t label, bool started) {
  auto& sets = start_ids_[started ? 1 : 0];
  if (sets.empty()) {
    // One pass over the vocabulary for every label: the token's text without leading
    // spaces, lower-cased, against each lower-cased label.
    sets.resize(labels_.size());
    std::vector<std::string> lowered;
    for (const std::string& l : labels_) lowered.push_back(pytext::lower(l));
    const auto& table = started ? texts_->later : texts_->first;
    for (size_t id = 0; id < table.size(); ++id) {
      std::string_view t = table[id];
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      if (t.empty()) continue;
      const std::string r = pytext::lower(t);
      for (size_t i = 0; i < lowered.size(); ++i) {
        const std::string& l = lowered[i];
        if (l.empty()) continue;
        const bool starts = r.size() <= l.size() ? l.compare(0, r.size(), r) == 0 : r.compare(0, l.size(), l) == 0;
        if (starts) sets[i].push_back(static_cast<int32_t>(id));
      }
    }
  }
  return sets[label];
}

void LabelStartScorer::observe(bool started, const float* logprobs, size_t vocab) {
  if (vocab != texts_->first.size())
    fail(Status::internal, "label scores: " + std::to_string(vocab) + " log-probabilities for a vocabulary of " +
                               std::to_string(texts_->first.size()));
  for (size_t i = 0; i < labels_.size(); ++i) {
    double p = 0;
    for (int32_t id : start_ids(i, started)) p += std::exp(static_cast<double>(logprobs[id]));
    best_start_[i] = std::max(best_start_[i], std::min(p, 1.0));
  }
}

std::vector<LabelScore> LabelStartScorer::scores(std::string_view text, const std::vector<TokenSpan>& tokens) const {
  std::vector<LabelScore> out;
  for (size_t i = 0; i < labels_.size(); ++i) {
    LabelScore s;
    s.label = labels_[i];
    const size_t at = locate_finding(text, labels_[i]);
    s.written = at != std::string::npos;
    s.score = s.written ? span_probability(tokens, at, at + labels_[i].size()) : best_start_[i];
    s.score = std::clamp(s.score, 0.0, 1.0);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<double> box_probabilities(std::string_view text, const std::vector<TokenSpan>& tokens) {
  std::vector<double> out;
  for (const TextSpan& span : locate_boxes(text)) out.push_back(span_probability(tokens, span.begin, span.end));
  return out;
}

}  // namespace m4cxr
