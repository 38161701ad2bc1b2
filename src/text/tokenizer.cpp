#include "text/tokenizer.h"

#include <utility>

#include "common/error.h"
#include "io/mapped_file.h"
#include "text/spm_bpe_model.h"
#include "text/utf8.h"

namespace m4cxr {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁" U+2581

enum class Kind : uint8_t { normal, unknown, control, byte };

std::string replace_space_symbol(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(kSpaceSymbol, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.push_back(' ');
    pos = hit + kSpaceSymbol.size();
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<SpmBpeModel> sp;  // own BPE: libsentencepiece cannot share a process with libtorch
  std::string origin;
  int32_t vocab = 0, unk = -1, bos = -1, eos = -1;
  std::vector<Kind> kind;      // per id
  std::vector<int16_t> byte;   // per id: 0..255 for byte pieces, else -1
  // Special-token strings matched literally by encode_chunk(), with their ids.
  std::vector<std::pair<std::string, int32_t>> specials;

  [[noreturn]] void bad_model(const std::string& what) const {
    fail(Status::format_error, "'" + origin + "' is not a usable SentencePiece model: " + what);
  }

  void encode_plain(std::string_view text, std::vector<int32_t>* out) const {
    if (text.empty()) return;
    const std::vector<int> ids = sp->encode(text);
    out->insert(out->end(), ids.begin(), ids.end());
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& model_path) {
  const std::vector<uint8_t> bytes = read_file_bytes(model_path, kMaxModelBytes);
  return from_serialized(std::string(bytes.begin(), bytes.end()), model_path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_serialized(std::string bytes, const std::string& origin) {
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;
  if (bytes.empty()) impl->bad_model("the file is empty");
  impl->sp = std::make_unique<SpmBpeModel>(bytes, origin);

  Impl& m = *impl;
  m.vocab = m.sp->size();
  if (m.vocab <= 0) m.bad_model("empty vocabulary");
  m.unk = m.sp->unk_id();
  m.bos = m.sp->bos_id();
  m.eos = m.sp->eos_id();
  if (m.unk < 0) m.bad_model("no <unk> piece");
  if (m.bos < 0) m.bad_model("no BOS control piece");
  if (m.eos < 0) m.bad_model("no EOS control piece");

  m.kind.resize(m.vocab);
  m.byte.assign(m.vocab, -1);
  for (int32_t id = 0; id < m.vocab; ++id) {
    const auto type = m.sp->type(id);
    if (type == SpmBpeModel::PieceType::byte) {
      const int b = parse_byte_piece(m.sp->id_to_piece(id));
      if (b < 0) m.bad_model("byte piece " + std::to_string(id) + " is not named <0xNN>");
      m.kind[id] = Kind::byte;
      m.byte[id] = static_cast<int16_t>(b);
    } else if (type == SpmBpeModel::PieceType::control) {
      m.kind[id] = Kind::control;
    } else if (type == SpmBpeModel::PieceType::unknown) {
      m.kind[id] = Kind::unknown;
    } else {
      m.kind[id] = Kind::normal;  // normal, user-defined, unused: all decoded as text
    }
  }
  for (int32_t id : {m.unk, m.bos, m.eos}) {
    const std::string& piece = m.sp->id_to_piece(id);
    if (piece.empty()) m.bad_model("special piece " + std::to_string(id) + " has an empty name");
    m.specials.emplace_back(piece, id);
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

void Tokenizer::check_id(int32_t id, size_t index) const {
  if (!valid_id(id))
    fail(Status::invalid_argument, "token id " + std::to_string(id) + " at position " +
                                       std::to_string(index) + " is outside the vocabulary [0, " +
                                       std::to_string(impl_->vocab) + ")");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(impl_->bos);
  impl_->encode_plain(text, &ids);
  return ids;
}

std::string Tokenizer::decode_raw(const std::vector<int32_t>& ids) const {
  for (size_t i = 0; i < ids.size(); ++i) check_id(ids[i], i);
  std::vector<std::pair<std::string_view, int32_t>> pieces;
  pieces.reserve(ids.size());
  for (int32_t id : ids) pieces.emplace_back(impl_->sp->id_to_piece(id), id);
  return decode_pieces(pieces);
}

std::string Tokenizer::decode_pieces(const std::vector<std::pair<std::string_view, int32_t>>& pieces) const {
  // SentencePieceProcessor::Decode(pieces): runs of byte pieces become UTF-8, control
  // pieces vanish, the dummy prefix is dropped from the first piece that starts with
  // "▁" before any text.
  std::string text, bytes;
  bool is_bos_ws = true, bos_ws_seen = false;
  for (const auto& [piece, id] : pieces) {
    if (impl_->kind[id] == Kind::byte) {
      bytes.push_back(static_cast<char>(impl_->byte[id]));
      continue;
    }
    utf8::append_bytes(bytes, &text);
    bytes.clear();
    if (bos_ws_seen || !text.empty()) is_bos_ws = false;
    text += piece_surface(piece, id, is_bos_ws, &bos_ws_seen);
  }
  utf8::append_bytes(bytes, &text);
  return text;
}

std::vector<int32_t> Tokenizer::encode_chunk(std::string_view text) const {
  // transformers' added-token Trie split: take the leftmost occurrence of any special
  // string (the longest one if several start there). The AddedTokens of this tokenizer
  // have lstrip = rstrip = false, so neighbouring spaces stay in the text segments.
  const auto& specials = impl_->specials;
  std::vector<size_t> next(specials.size());
  for (size_t k = 0; k < specials.size(); ++k) next[k] = text.find(specials[k].first);

  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_k = 0;
    for (size_t k = 0; k < specials.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos) next[k] = text.find(specials[k].first, pos);
      if (next[k] == std::string_view::npos) continue;
      if (best == std::string_view::npos || next[k] < best ||
          (next[k] == best && specials[k].first.size() > specials[best_k].first.size())) {
        best = next[k];
        best_k = k;
      }
    }
    if (best == std::string_view::npos) {
      impl_->encode_plain(text.substr(pos), &ids);
      break;
    }
    impl_->encode_plain(text.substr(pos, best - pos), &ids);  // own dummy prefix
    ids.push_back(specials[best_k].second);
    pos = best + specials[best_k].first.size();
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  for (size_t i = 0; i < ids.size(); ++i) check_id(ids[i], i);

  // HF convert_ids_to_tokens(skip_special_tokens=True), then convert_tokens_to_string:
  // the first kept token loses one leading "▁" before sp_model.decode(tokens), and
  // SentencePiece looks every token string up again (PieceToId) - only the shortened
  // first one can change its id.
  std::vector<std::pair<std::string_view, int32_t>> pieces;
  pieces.reserve(ids.size());
  for (int32_t id : ids)
    if (!is_special(id)) pieces.emplace_back(impl_->sp->id_to_piece(id), id);
  if (pieces.empty()) return "";
  if (pieces[0].first.compare(0, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
    pieces[0].first.remove_prefix(kSpaceSymbol.size());
    pieces[0].second = piece_to_id(pieces[0].first);
  }

  return decode_pieces(pieces);
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab; }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
int32_t Tokenizer::pad_id() const { return impl_->unk; }

bool Tokenizer::is_special(int32_t id) const {
  return id == impl_->unk || id == impl_->bos || id == impl_->eos;
}

const std::string& Tokenizer::id_to_piece(int32_t id) const {
  if (!valid_id(id))
    fail(Status::invalid_argument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                       std::to_string(impl_->vocab) + ")");
  return impl_->sp->id_to_piece(id);
}

int32_t Tokenizer::piece_to_id(std::string_view piece) const { return impl_->sp->piece_to_id(piece); }

int Tokenizer::byte_value(int32_t id) const { return valid_id(id) ? impl_->byte[id] : -1; }

std::string Tokenizer::piece_surface(std::string_view piece, int32_t id, bool is_bos_ws,
                                     bool* consumed_bos_ws) const {
  *consumed_bos_ws = false;
  switch (valid_id(id) ? impl_->kind[id] : Kind::unknown) {
    case Kind::control: return "";
    case Kind::unknown:
      return piece == impl_->sp->id_to_piece(impl_->unk) ? impl_->sp->unk_surface() : std::string(piece);
    case Kind::byte:  // callers route bytes through utf8::append_bytes; keep it total
      return "";
    case Kind::normal: break;
  }
  const SpmBpeModel& s = *impl_->sp;
  if (is_bos_ws && (s.add_dummy_prefix() || s.remove_extra_whitespaces()) &&
      piece.compare(0, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
    piece.remove_prefix(kSpaceSymbol.size());
    // With remove_extra_whitespaces every leading space goes, so keep expecting one.
    *consumed_bos_ws = !s.remove_extra_whitespaces();
  }
  return replace_space_symbol(piece);
}

}  // namespace m4cxr
