#include "tasks/token_constraint.h"

#include "common/error.h"

namespace m4cxr {

TokenTexts::TokenTexts(const Tokenizer& tok) : eos_id(tok.eos_id()) {
  const int32_t n = tok.vocab_size();
  first.resize(static_cast<size_t>(n));
  later.resize(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    if (tok.is_special(id)) continue;  // decode() drops them: they add nothing
    first[static_cast<size_t>(id)] = tok.decode({id});
    const int b = tok.byte_value(id);
    if (b >= 0) {
      // A byte piece adds its byte; only ASCII is ever part of an answer format, and a
      // lone ASCII byte decodes to itself.
      if (b < 0x80) later[static_cast<size_t>(id)] = std::string(1, static_cast<char>(b));
      continue;
    }
    bool consumed = false;
    later[static_cast<size_t>(id)] = tok.piece_surface(tok.id_to_piece(id), id, /*is_bos_ws=*/false, &consumed);
  }
}

TokenConstraint::TokenConstraint(std::shared_ptr<const TokenTexts> texts, std::shared_ptr<const AnswerFormat> format)
    : texts_(std::move(texts)), format_(std::move(format)), state_(format_->start()) {}

void TokenConstraint::allowed(std::vector<uint8_t>* out, int tokens_left) const {
  const auto& table = started_ ? texts_->later : texts_->first;
  out->assign(table.size(), 0);
  // Bytes that may come next: a token whose text starts with any other byte is out
  // without copying the state.
  bool next_byte[256];
  for (int c = 0; c < 256; ++c) {
    AnswerFormat::State s = state_;
    const char ch = static_cast<char>(c);
    next_byte[c] = format_->feed(s, std::string_view(&ch, 1));
  }
  // After this token, tokens_left - 1 remain; finishing takes the fewest bytes that
  // complete the answer (a token per byte at worst) plus EOS.
  const bool tight = format_->min_bytes_to_complete(state_) + 2 >= tokens_left;
  for (size_t id = 0; id < table.size(); ++id) {
    const std::string& t = table[id];
    if (t.empty() || !next_byte[static_cast<unsigned char>(t[0])]) continue;
    AnswerFormat::State s = state_;
    if (!format_->feed(s, t)) continue;
    if (tight && format_->min_bytes_to_complete(s) + 1 > tokens_left - 1) continue;
    (*out)[id] = 1;
  }
  if (format_->complete(state_) && texts_->eos_id >= 0 && static_cast<size_t>(texts_->eos_id) < out->size())
    (*out)[static_cast<size_t>(texts_->eos_id)] = 1;
}

void TokenConstraint::accept(int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= texts_->first.size())
    fail(Status::internal, "constrained decoding: token id " + std::to_string(id) + " out of range");
  if (id == texts_->eos_id) {
    if (!complete()) fail(Status::internal, "constrained decoding: EOS before the answer is complete");
    return;
  }
  const std::string& t = (started_ ? texts_->later : texts_->first)[static_cast<size_t>(id)];
  AnswerFormat::State next = state_;  // a refused id leaves the state as it was
  if (t.empty() || !format_->feed(next, t))
    fail(Status::internal, "constrained decoding: token " + std::to_string(id) + " leaves the answer format");
  state_ = std::move(next);
  text_ += t;
  started_ = true;
}

}  // namespace m4cxr
