// Token-level constrained decoding (issue 14): which token ids may come next so that the
// decoded answer, Tokenizer::decode(generated ids), stays inside an AnswerFormat, and the
// answer may end (EOS) only once it is complete.
//
// The text a token adds: the first visible token adds decode({id}) (Hugging Face drops one
// leading "▁" of the first piece and SentencePiece its dummy-prefix space); every later one
// adds its piece with "▁" as a space, or its byte for a byte piece. Special ids (unk, bos)
// and tokens that would add nothing are never allowed. Those texts are computed once per
// tokenizer (TokenTexts) and shared by every constraint on it.
//
// Thread-safety: TokenTexts is immutable and shareable; a TokenConstraint belongs to one
// generation (not thread-safe). The Tokenizer and AnswerFormat must outlive them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/answer_format.h"
#include "text/tokenizer.h"

namespace m4cxr {

struct TokenTexts {
  explicit TokenTexts(const Tokenizer& tokenizer);
  std::vector<std::string> first;  // text added as the first visible token
  std::vector<std::string> later;  // text added after it
  int32_t eos_id = 2;
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const TokenTexts> texts, std::shared_ptr<const AnswerFormat> format);

  // allowed->at(id) = 1 for each id that may come next (size vocab). EOS only when the
  // answer is complete. `tokens_left` counts this token: once the answer could no longer
  // be finished otherwise, only tokens that shorten the way to a complete answer remain
  // (every byte has a one-byte token, so a complete answer always fits when the first
  // call has at least min_tokens() left). Never all zero for a viable state with tokens
  // left.
  void allowed(std::vector<uint8_t>* allowed, int tokens_left = 1 << 30) const;
  // Tokens the shortest complete answer needs from here, EOS included.
  int min_tokens() const { return format_->min_bytes_to_complete(state_) + 1; }
  // Takes the chosen id. Throws Error(internal) for an id allowed() refused.
  void accept(int32_t id);
  bool complete() const { return format_->complete(state_); }
  const std::string& text() const noexcept { return text_; }

 private:
  std::shared_ptr<const TokenTexts> texts_;
  std::shared_ptr<const AnswerFormat> format_;
  AnswerFormat::State state_;
  std::string text_;      // the answer so far
  bool started_ = false;  // a visible token was accepted
};

}  // namespace m4cxr
