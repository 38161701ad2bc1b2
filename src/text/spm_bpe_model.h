// A self-contained SentencePiece BPE model: reads tokenizer.model (ModelProto) with a
// bounds-checked protobuf wire reader and encodes exactly as libsentencepiece's
// bpe::Model + identity normalizer do (dummy prefix, "▁" escaping, highest-score
// merge first with leftmost tie-break, byte fallback).
//
// Why not libsentencepiece: Debian's libsentencepiece0 carries a private protobuf
// 3.14 runtime whose symbols clash with the system protobuf 3.21 that libtorch loads;
// a process linking both crashes during static initialisation.
//
// Thread-safety: immutable after construction; all const methods are reentrant.
// Errors: Error(format_error) for malformed model bytes (naming `origin`),
// Error(unsupported) for models this encoder would not reproduce (unigram, custom
// normalisation rules).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace m4cxr {

// The byte of a byte-fallback piece: "<0xNN>" with exactly two upper-case hex digits, as
// SentencePiece writes them -> NN; -1 for any other text.
int parse_byte_piece(std::string_view piece) noexcept;

class SpmBpeModel {
 public:
  enum class PieceType : uint8_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

  SpmBpeModel(std::string_view serialized, const std::string& origin);

  int size() const noexcept { return static_cast<int>(pieces_.size()); }
  const std::string& id_to_piece(int id) const { return pieces_[static_cast<size_t>(id)].piece; }
  PieceType type(int id) const { return pieces_[static_cast<size_t>(id)].type; }
  float score(int id) const { return pieces_[static_cast<size_t>(id)].score; }
  // Reserved (control/unknown/byte) pieces first, then the others; unk_id() if absent.
  int piece_to_id(std::string_view piece) const;
  int unk_id() const noexcept { return unk_id_; }
  int bos_id() const noexcept { return bos_id_; }  // -1 when the model has none
  int eos_id() const noexcept { return eos_id_; }
  int pad_id() const noexcept { return pad_id_; }
  bool add_dummy_prefix() const noexcept { return add_dummy_prefix_; }
  bool remove_extra_whitespaces() const noexcept { return remove_extra_whitespaces_; }
  bool byte_fallback() const noexcept { return byte_fallback_; }
  const std::string& unk_surface() const noexcept { return unk_surface_; }

  // SentencePieceProcessor::Encode (no BOS/EOS). Invalid UTF-8 bytes become U+FFFD.
  std::vector<int> encode(std::string_view text) const;
  // The normalised string the BPE runs on (dummy prefix, spaces -> "▁").
  std::string normalize(std::string_view text) const;

 private:
  struct Piece {
    std::string piece;
    float score = 0;
    PieceType type = PieceType::normal;
  };
  // ModelProto fields that only matter while loading.
  struct ProtoFields {
    int model_type = 1;  // UNIGRAM is the proto default
    bool has_charsmap = false;
    std::string unk_piece = "<unk>", bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
  };
  // Loading steps of the constructor: the ModelProto and its sub-messages, then the
  // piece tables (ids by piece, unknown and byte pieces).
  ProtoFields read_model_proto(std::string_view serialized, const std::string& origin);
  void read_piece(std::string_view bytes, const std::string& origin);
  void read_trainer_spec(std::string_view bytes, const std::string& origin, ProtoFields* fields);
  void read_normalizer_spec(std::string_view bytes, const std::string& origin, ProtoFields* fields);
  void index_pieces(const std::string& origin);

  int find_mergeable(std::string_view piece) const;  // normal/user-defined/unused pieces only
  void bpe(std::string_view normalized, std::vector<int>* out) const;

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int> reserved_, mergeable_;
  std::vector<std::string> user_defined_;
  int unk_id_ = -1, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  bool add_dummy_prefix_ = true, remove_extra_whitespaces_ = true, escape_whitespaces_ = true;
  bool byte_fallback_ = false, treat_ws_as_suffix_ = false;
  std::string unk_surface_ = " \xE2\x81\x87 ";
  int byte_ids_[256];
};

}  // namespace m4cxr
