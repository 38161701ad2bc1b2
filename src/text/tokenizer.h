// Tokenizer: the Mistral/Llama SentencePiece model (tokenizer.model) with the exact
// text<->id behaviour of upstream M4CXR, i.e. transformers 4.39.3's *slow*
// LlamaTokenizer with legacy=True (docs/upstream-model.md §6.1).
//
// Two families of calls:
//  * raw SentencePiece:   encode(), decode_raw()  - what spm_encode/spm_decode do.
//  * upstream (HF slow):  encode_chunk(), decode() - what M4CXR's prompt builder and
//    generation output use. Prompts must be built with encode_prompt()
//    (text/chat_prompt.h), which calls encode_chunk() once per chunk.
//
// Ownership: load()/from_serialized() return a uniquely owned object; it keeps its own
// copy of the model. Thread-safety: immutable after construction; every const method
// may be called concurrently from any number of threads.
// Encoding runs on m4cxr's own SentencePiece BPE (text/spm_bpe_model.h), checked id for
// id against libsentencepiece in the tests: the library itself cannot be linked next to
// libtorch (clashing protobuf runtimes).
// Errors: m4cxr::Error - io_error (file missing/unreadable), format_error (not a
// SentencePiece model, names the file), unsupported (model features decoding would
// not honour), invalid_argument (out-of-range ids). No call crashes on any input
// string; invalid UTF-8 text is encoded the way SentencePiece does (each malformed
// byte becomes U+FFFD before tokenisation).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace m4cxr {

class Tokenizer {
 public:
  // Largest tokenizer.model accepted (the Mistral one is 0.5 MB).
  static constexpr size_t kMaxModelBytes = size_t{64} << 20;

  static std::unique_ptr<Tokenizer> load(const std::string& model_path);
  // `origin` names the source in error messages.
  static std::unique_ptr<Tokenizer> from_serialized(std::string bytes,
                                                    const std::string& origin = "<memory>");
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // --- raw SentencePiece -------------------------------------------------------------
  // Plain SentencePiece encoding of the whole text (dummy prefix, byte fallback);
  // "<s>" in the text is ordinary text. add_bos prepends bos_id().
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  // Plain SentencePiece decoding (control pieces invisible, unk as " \u2047 ", one
  // dummy-prefix space removed). Throws invalid_argument for out-of-range ids.
  std::string decode_raw(const std::vector<int32_t>& ids) const;

  // --- upstream (transformers 4.39.3 slow LlamaTokenizer, legacy=True) --------------
  // tokenizer(text, add_special_tokens=False)["input_ids"] for one chunk: the special
  // token strings "<unk>", "<s>", "</s>" are matched literally (leftmost, no stripping
  // of surrounding spaces) and become unk/bos/eos ids; every text segment between them
  // is encoded separately by SentencePiece, each with its own dummy prefix.
  std::vector<int32_t> encode_chunk(std::string_view text) const;
  // tokenizer.decode(ids, skip_special_tokens=True): drops unk/bos/eos (pad = unk),
  // removes one leading "▁" from the first remaining piece, then SentencePiece-decodes
  // the rest (which drops the dummy-prefix space once more); byte pieces are joined
  // into UTF-8 and each invalid byte becomes U+FFFD; no clean-up of spaces.
  // Throws invalid_argument for out-of-range ids (e.g. -1 image placeholders).
  std::string decode(const std::vector<int32_t>& ids) const;

  // --- vocabulary ---------------------------------------------------------------------
  int32_t vocab_size() const;
  int32_t bos_id() const;  // 1 for Mistral
  int32_t eos_id() const;  // 2
  int32_t unk_id() const;  // 0
  // Upstream sets pad_token = unk_token (MLLMTokenizerMixin.mllm_setup).
  int32_t pad_id() const;
  bool valid_id(int32_t id) const { return id >= 0 && id < vocab_size(); }
  // Ids decode() drops (HF all_special_ids: unk, bos, eos; pad is unk).
  bool is_special(int32_t id) const;
  const std::string& id_to_piece(int32_t id) const;  // invalid_argument when out of range
  // SentencePiece PieceToId: unk_id() for strings that are not a piece.
  int32_t piece_to_id(std::string_view piece) const;

  // --- detokenisation building blocks (shared with IncrementalDecoder) ----------------
  // 0..255 for byte-fallback pieces <0xNN>, -1 otherwise. Requires valid_id(id).
  int byte_value(int32_t id) const;
  // Surface text of one non-byte piece in SentencePiece's decoder
  // (DecodeSentencePiece): control -> "", unknown -> unk surface (or the string itself
  // when it is not the unk piece), otherwise "▁" -> " ", where a leading "▁" is
  // dropped when is_bos_ws (the dummy prefix); *consumed_bos_ws tells whether that
  // happened. `id` must be piece_to_id(piece).
  std::string piece_surface(std::string_view piece, int32_t id, bool is_bos_ws,
                            bool* consumed_bos_ws) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  void check_id(int32_t id, size_t index) const;
  // SentencePiece's Decode over (piece, id) pairs; shared by decode() and decode_raw().
  std::string decode_pieces(const std::vector<std::pair<std::string_view, int32_t>>& pieces) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace m4cxr
