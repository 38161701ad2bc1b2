#include "text/incremental_decoder.h"

#include "common/error.h"
#include "text/utf8.h"

namespace m4cxr {

namespace {
constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁"
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer) : tok_(&tokenizer) {}

void IncrementalDecoder::reset() {
  seen_piece_ = false;
  is_bos_ws_ = true;
  bos_ws_seen_ = false;
  text_nonempty_ = false;
  held_.clear();
}

void IncrementalDecoder::append_text(std::string* out, const std::string& s) {
  out->append(s);
  if (!s.empty()) text_nonempty_ = true;
}

// Emits the decided prefix of held_; with final=true everything (end of the byte run).
std::string IncrementalDecoder::drain_bytes(bool final) {
  std::string out;
  size_t off = 0;
  while (off < held_.size()) {
    const std::string_view rest = std::string_view(held_).substr(off);
    if (!final && !utf8::step_is_final(rest)) break;
    bool valid = false;
    const size_t k = utf8::decode_step(rest, &valid);
    out.append(valid ? rest.substr(0, k) : utf8::kReplacement);
    off += k;
  }
  held_.erase(0, off);
  if (!out.empty()) text_nonempty_ = true;
  return out;
}

std::string IncrementalDecoder::push(int32_t id) {
  if (!tok_->valid_id(id))
    fail(Status::invalid_argument, "IncrementalDecoder: token id " + std::to_string(id) +
                                       " is outside the vocabulary [0, " +
                                       std::to_string(tok_->vocab_size()) + ")");
  if (tok_->is_special(id)) return "";  // skip_special_tokens: removed before decoding

  std::string_view piece = tok_->id_to_piece(id);
  int32_t pid = id;
  if (!seen_piece_) {  // HF convert_tokens_to_string: tokens[0] loses one leading "▁"
    seen_piece_ = true;
    if (piece.compare(0, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
      piece.remove_prefix(kSpaceSymbol.size());
      pid = tok_->piece_to_id(piece);
    }
  }

  const int b = tok_->byte_value(pid);
  if (b >= 0) {
    held_.push_back(static_cast<char>(b));
    return drain_bytes(false);
  }
  std::string out = drain_bytes(true);  // a non-byte piece ends the byte run
  if (bos_ws_seen_ || text_nonempty_) is_bos_ws_ = false;
  append_text(&out, tok_->piece_surface(piece, pid, is_bos_ws_, &bos_ws_seen_));
  return out;
}

std::string IncrementalDecoder::finish() {
  std::string out = drain_bytes(true);
  reset();
  return out;
}

}  // namespace m4cxr
