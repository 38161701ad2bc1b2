// IncrementalDecoder: streaming form of Tokenizer::decode() for generated ids.
//
// Invariant: for any id sequence, push(id_0) + push(id_1) + ... + finish()
// == tokenizer.decode({id_0, id_1, ...}), byte for byte.
//
// How: decode() is a single left-to-right pass of SentencePiece's decoder over the
// HF-filtered pieces, so it can be run one piece at a time. The only state that
// cannot be emitted at once is an unfinished UTF-8 character made of byte-fallback
// pieces (at most 3 bytes): it is held until the character completes, turns out
// invalid, or the stream ends (finish() then writes U+FFFD per byte, as decode() does).
// Special ids (unk/bos/eos) produce nothing and, as in decode(), do not break a run of
// byte pieces. Cost is O(1) per id.
//
// Ownership/lifetime: keeps a reference to the Tokenizer, which must outlive it.
// Thread-safety: one decoder per stream; not safe for concurrent use (many decoders
// may share one Tokenizer). Errors: push() throws Error(invalid_argument) for an id
// outside the vocabulary and leaves the state unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "text/tokenizer.h"

namespace m4cxr {

class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer);

  // Text completed by this id (often empty: specials, held-back bytes, dropped prefix).
  std::string push(int32_t id);
  // Flushes held bytes and ends the stream; the decoder is then fresh again.
  std::string finish();
  // Drops held bytes and starts a new stream.
  void reset();

 private:
  std::string drain_bytes(bool final);
  void append_text(std::string* out, const std::string& s);

  const Tokenizer* tok_;
  bool seen_piece_ = false;   // first non-special piece already handled (HF strips its "▁")
  bool is_bos_ws_ = true;     // SentencePiece: still expecting the dummy-prefix space
  bool bos_ws_seen_ = false;  // SentencePiece: the dummy-prefix space was consumed
  bool text_nonempty_ = false;
  std::string held_;          // byte-fallback bytes not yet decided (<= 3)
};

}  // namespace m4cxr
