#include "text/spm_bpe_model.h"

#include <cstring>
#include <queue>

#include "common/error.h"

namespace m4cxr {

namespace {

const char kSpace[] = "\xE2\x96\x81";  // U+2581 "▁"
const char kReplacement[] = "\xEF\xBF\xBD";

// Minimal protobuf wire-format reader over a byte range; every read is bounds-checked.
class Wire {
 public:
  Wire(std::string_view b, const std::string& origin) : p_(b.data()), end_(b.data() + b.size()), origin_(origin) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) bad("truncated varint");
      uint8_t c = static_cast<uint8_t>(*p_++);
      v |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    bad("varint too long");
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > uint64_t(end_ - p_)) bad("length-delimited field runs past the end");
    std::string_view s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  float fixed32_float() {
    if (end_ - p_ < 4) bad("truncated fixed32");
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= uint32_t(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: if (end_ - p_ < 8) bad("truncated fixed64"); p_ += 8; break;
      case 2: bytes(); break;
      case 5: if (end_ - p_ < 4) bad("truncated fixed32"); p_ += 4; break;
      default: bad("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail(Status::format_error, "tokenizer model '" + origin_ + "' is not a valid SentencePiece model: " + what);
  }

 private:
  const char* p_;
  const char* end_;
  const std::string& origin_;
};

// Length of the UTF-8 character at s[0], or 0 when malformed (then one byte is consumed).
size_t utf8_len(std::string_view s) {
  const auto c = static_cast<uint8_t>(s[0]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((static_cast<uint8_t>(s[i]) & 0xc0) != 0x80) return 0;
  // reject overlong forms, surrogates and > U+10FFFF like sentencepiece's DecodeUTF8
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<uint8_t>(s[i]) & 0x3f);
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return n;
}

// denormalizer_spec: m4cxr implements no denormalisation rules, so any is refused.
void check_denormalizer_spec(std::string_view bytes, const std::string& origin) {
  Wire dw(bytes, origin);
  while (!dw.done()) {
    uint64_t k = dw.varint();
    const int f = static_cast<int>(k >> 3), t = static_cast<int>(k & 7);
    if (f == 2 && t == 2 && !dw.bytes().empty())
      fail(Status::unsupported, "tokenizer model '" + origin + "' has denormalisation rules, which m4cxr does not implement");
    else dw.skip(t);
  }
}

}  // namespace

int parse_byte_piece(std::string_view piece) noexcept {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

SpmBpeModel::SpmBpeModel(std::string_view serialized, const std::string& origin) {
  const ProtoFields fields = read_model_proto(serialized, origin);
  if (fields.model_type != 2)
    fail(Status::unsupported, "tokenizer model '" + origin + "' is not a BPE model (model_type " +
                                  std::to_string(fields.model_type) + ")");
  if (fields.has_charsmap)
    fail(Status::unsupported, "tokenizer model '" + origin + "' uses a normalisation charsmap; only identity is implemented");
  index_pieces(origin);
  auto control = [&](const std::string& piece) {
    auto it = reserved_.find(piece);
    return it != reserved_.end() && pieces_[static_cast<size_t>(it->second)].type == PieceType::control ? it->second : -1;
  };
  bos_id_ = control(fields.bos_piece);
  eos_id_ = control(fields.eos_piece);
  pad_id_ = control(fields.pad_piece);
}

SpmBpeModel::ProtoFields SpmBpeModel::read_model_proto(std::string_view serialized, const std::string& origin) {
  ProtoFields fields;
  Wire w(serialized, origin);
  if (serialized.empty()) w.bad("empty file");
  while (!w.done()) {
    uint64_t key = w.varint();
    const int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    if (field == 1 && wt == 2) read_piece(w.bytes(), origin);
    else if (field == 2 && wt == 2) read_trainer_spec(w.bytes(), origin, &fields);
    else if (field == 3 && wt == 2) read_normalizer_spec(w.bytes(), origin, &fields);
    else if (field == 5 && wt == 2) check_denormalizer_spec(w.bytes(), origin);
    else w.skip(wt);
  }
  if (pieces_.empty()) w.bad("no pieces");
  return fields;
}

void SpmBpeModel::read_piece(std::string_view bytes, const std::string& origin) {
  Wire pw(bytes, origin);
  Piece p;
  while (!pw.done()) {
    uint64_t k = pw.varint();
    const int f = static_cast<int>(k >> 3), t = static_cast<int>(k & 7);
    if (f == 1 && t == 2) p.piece = std::string(pw.bytes());
    else if (f == 2 && t == 5) p.score = pw.fixed32_float();
    else if (f == 3 && t == 0) {
      uint64_t ty = pw.varint();
      if (ty < 1 || ty > 6) pw.bad("unknown piece type " + std::to_string(ty));
      p.type = static_cast<PieceType>(ty);
    } else pw.skip(t);
  }
  pieces_.push_back(std::move(p));
}

void SpmBpeModel::read_trainer_spec(std::string_view bytes, const std::string& origin, ProtoFields* fields) {
  Wire tw(bytes, origin);
  while (!tw.done()) {
    uint64_t k = tw.varint();
    const int f = static_cast<int>(k >> 3), t = static_cast<int>(k & 7);
    if (f == 3 && t == 0) fields->model_type = static_cast<int>(tw.varint());
    else if (f == 24 && t == 0) treat_ws_as_suffix_ = tw.varint() != 0;
    else if (f == 35 && t == 0) byte_fallback_ = tw.varint() != 0;
    else if (f == 44 && t == 2) unk_surface_ = std::string(tw.bytes());
    else if (f == 45 && t == 2) fields->unk_piece = std::string(tw.bytes());
    else if (f == 46 && t == 2) fields->bos_piece = std::string(tw.bytes());
    else if (f == 47 && t == 2) fields->eos_piece = std::string(tw.bytes());
    else if (f == 48 && t == 2) fields->pad_piece = std::string(tw.bytes());
    else tw.skip(t);
  }
}

void SpmBpeModel::read_normalizer_spec(std::string_view bytes, const std::string& origin, ProtoFields* fields) {
  Wire nw(bytes, origin);
  while (!nw.done()) {
    uint64_t k = nw.varint();
    const int f = static_cast<int>(k >> 3), t = static_cast<int>(k & 7);
    if (f == 2 && t == 2) fields->has_charsmap = !nw.bytes().empty();
    else if (f == 3 && t == 0) add_dummy_prefix_ = nw.varint() != 0;
    else if (f == 4 && t == 0) remove_extra_whitespaces_ = nw.varint() != 0;
    else if (f == 5 && t == 0) escape_whitespaces_ = nw.varint() != 0;
    else nw.skip(t);
  }
}

void SpmBpeModel::index_pieces(const std::string& origin) {
  Wire w(std::string_view(), origin);  // for its error messages
  for (int& b : byte_ids_) b = -1;
  for (int id = 0; id < size(); ++id) {
    const Piece& p = pieces_[static_cast<size_t>(id)];
    const bool reserved = p.type == PieceType::control || p.type == PieceType::unknown || p.type == PieceType::byte;
    auto& table = reserved ? reserved_ : mergeable_;
    if (!table.emplace(p.piece, id).second) w.bad("duplicate piece '" + p.piece + "'");
    if (p.type == PieceType::unknown) {
      if (unk_id_ >= 0) w.bad("more than one unknown piece");
      unk_id_ = id;
    }
    if (p.type == PieceType::user_defined) user_defined_.push_back(p.piece);
    if (p.type == PieceType::byte) {
      // Exactly "<0xHH>" with two hex digits: a sign or a space must not slip through
      // (sscanf's %X accepts both and would index far past the table).
      const int v = parse_byte_piece(p.piece);
      if (v < 0) w.bad("malformed byte piece '" + p.piece + "'");
      if (byte_ids_[static_cast<size_t>(v)] >= 0) w.bad("byte piece '" + p.piece + "' appears twice");
      byte_ids_[static_cast<size_t>(v)] = id;
    }
  }
  if (unk_id_ < 0) w.bad("no unknown piece");
  if (byte_fallback_)
    for (int b = 0; b < 256; ++b)
      if (byte_ids_[b] < 0) w.bad("byte_fallback is on but piece <0x" + std::to_string(b) + "> is missing");
}

int SpmBpeModel::piece_to_id(std::string_view piece) const {
  const std::string key(piece);
  auto it = reserved_.find(key);
  if (it != reserved_.end()) return it->second;
  it = mergeable_.find(key);
  return it != mergeable_.end() ? it->second : unk_id_;
}

int SpmBpeModel::find_mergeable(std::string_view piece) const {
  auto it = mergeable_.find(std::string(piece));
  return it == mergeable_.end() ? -1 : it->second;
}

std::string SpmBpeModel::normalize(std::string_view text) const {
  // Identity normaliser: copy characters, malformed bytes -> U+FFFD, optional
  // whitespace clean-up, dummy prefix, ' ' -> "▁".
  std::string chars;
  chars.reserve(text.size() + 3);
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_len(text.substr(i));
    if (n == 0) {
      chars += kReplacement;
      i += 1;
    } else {
      chars.append(text.data() + i, n);
      i += n;
    }
  }
  if (remove_extra_whitespaces_) {
    std::string t;
    bool prev_space = true;
    for (char c : chars) {
      if (c == ' ') {
        if (!prev_space) t += ' ';
        prev_space = true;
      } else {
        t += c;
        prev_space = false;
      }
    }
    while (!t.empty() && t.back() == ' ') t.pop_back();
    chars.swap(t);
  }
  if (chars.empty()) return std::string();
  std::string out;
  out.reserve(chars.size() * 2 + 3);
  if (add_dummy_prefix_ && !treat_ws_as_suffix_) out += escape_whitespaces_ ? kSpace : " ";
  for (char c : chars) {
    if (c == ' ' && escape_whitespaces_) out += kSpace;
    else out += c;
  }
  if (add_dummy_prefix_ && treat_ws_as_suffix_) out += escape_whitespaces_ ? kSpace : " ";
  return out;
}

void SpmBpeModel::bpe(std::string_view s, std::vector<int>* out) const {
  struct Sym {
    int prev, next;
    size_t begin, len;
  };
  std::vector<Sym> sym;
  for (size_t i = 0; i < s.size();) {
    size_t n = 0;
    for (const auto& u : user_defined_)  // user-defined pieces are atomic (longest match)
      if (u.size() > n && s.compare(i, u.size(), u) == 0) n = u.size();
    if (n == 0) n = std::max<size_t>(1, utf8_len(s.substr(i)));
    n = std::min(n, s.size() - i);
    const int idx = static_cast<int>(sym.size());
    sym.push_back(Sym{idx - 1, idx + 1, i, n});
    i += n;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Pair {
    int left, right;
    float score;
    size_t len;
  };
  // Highest score first; equal scores: leftmost first (sentencepiece's agenda order).
  auto worse = [](const Pair& a, const Pair& b) { return a.score == b.score ? a.left > b.left : a.score < b.score; };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  auto consider = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string_view piece = s.substr(sym[l].begin, sym[l].len + sym[r].len);
    const int id = find_mergeable(piece);
    if (id < 0) return;
    agenda.push(Pair{l, r, pieces_[static_cast<size_t>(id)].score, piece.size()});
  };
  for (size_t i = 1; i < sym.size(); ++i) consider(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!agenda.empty()) {
    Pair top = agenda.top();
    agenda.pop();
    Sym& l = sym[static_cast<size_t>(top.left)];
    Sym& r = sym[static_cast<size_t>(top.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != top.len || l.next != top.right) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = top.left;
    consider(l.prev, top.left);
    consider(top.left, l.next);
  }
  bool prev_unk = false;
  for (int i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
    const std::string_view piece = s.substr(sym[static_cast<size_t>(i)].begin, sym[static_cast<size_t>(i)].len);
    int id = piece_to_id(piece);
    if (id == unk_id_ && piece != pieces_[static_cast<size_t>(unk_id_)].piece) {
      if (byte_fallback_) {
        for (char c : piece) out->push_back(byte_ids_[static_cast<uint8_t>(c)]);
        prev_unk = false;
        continue;
      }
      if (prev_unk) continue;  // consecutive unknown characters become one <unk>
      prev_unk = true;
      out->push_back(id);
      continue;
    }
    prev_unk = false;
    out->push_back(id);
  }
}

std::vector<int> SpmBpeModel::encode(std::string_view text) const {
  std::vector<int> ids;
  const std::string n = normalize(text);
  if (!n.empty()) bpe(n, &ids);
  return ids;
}

}  // namespace m4cxr
