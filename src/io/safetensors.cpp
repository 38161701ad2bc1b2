#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/shape_math.h"

namespace m4cxr {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  fail(Status::format_error, "safetensors '" + file + "': " + what);
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return true;
  *out = a * b;
  return false;
}

}  // namespace

size_t dtype_size(DType d) noexcept {
  switch (d) {
    case DType::f64: case DType::i64: case DType::u64: return 8;
    case DType::f32: case DType::i32: case DType::u32: return 4;
    case DType::f16: case DType::bf16: case DType::i16: case DType::u16: return 2;
    case DType::i8: case DType::u8: case DType::boolean: case DType::f8_e4m3: case DType::f8_e5m2: return 1;
  }
  return 1;
}

const char* dtype_name(DType d) noexcept {
  switch (d) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::i16: return "I16";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::u16: return "U16";
    case DType::u32: return "U32";
    case DType::u64: return "U64";
    case DType::boolean: return "BOOL";
    case DType::f8_e4m3: return "F8_E4M3";
    case DType::f8_e5m2: return "F8_E5M2";
  }
  return "?";
}

DType parse_dtype(const std::string& s) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::f64}, {"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16},
      {"I64", DType::i64}, {"I32", DType::i32}, {"I16", DType::i16}, {"I8", DType::i8},
      {"U8", DType::u8},   {"U16", DType::u16}, {"U32", DType::u32}, {"U64", DType::u64},
      {"BOOL", DType::boolean}, {"F8_E4M3", DType::f8_e4m3}, {"F8_E5M2", DType::f8_e5m2}};
  for (const auto& e : table)
    if (s == e.first) return e.second;
  fail(Status::format_error, "unknown safetensors dtype '" + s + "'");
}

int64_t TensorView::numel() const {
  const auto n = checked_numel(shape);
  if (!n) fail(Status::internal, "tensor " + describe() + " has no valid element count");
  return *n;
}

std::string TensorView::describe() const {
  std::string s = "'" + name + "' [";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  s += "] ";
  s += dtype_name(dtype);
  if (file != nullptr) s += " in '" + *file + "'";
  return s;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  map_ = std::make_unique<MappedFile>(path);
  parse(map_->data(), map_->size());
}

SafetensorsFile::SafetensorsFile(const uint8_t* data, size_t size, const std::string& label)
    : path_(label) {
  parse(data, size);
}

namespace {

// Validates the 8-byte length and the JSON header; *header_len receives its length.
nlohmann::json read_header(const std::string& path, const uint8_t* data, size_t size, uint64_t* header_len) {
  if (size < 8) bad(path, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian u64
  if (n > kMaxHeaderBytes) bad(path, "header length " + std::to_string(n) + " exceeds the 100 MiB limit");
  if (n > size - 8)
    bad(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                  std::to_string(size) + " bytes)");
  if (n < 2) bad(path, "header length " + std::to_string(n) + " is too small for a JSON object");
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  nlohmann::json j = nlohmann::json::parse(hdr, hdr + n, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad(path, "header is not valid JSON");
  if (!j.is_object()) bad(path, "header is not a JSON object");
  *header_len = n;
  return j;
}

void read_metadata(const std::string& path, const nlohmann::json& v, std::map<std::string, std::string>& out) {
  if (!v.is_object()) bad(path, "__metadata__ is not an object");
  for (auto m = v.begin(); m != v.end(); ++m) {
    if (!m.value().is_string()) bad(path, "__metadata__ value '" + m.key() + "' is not a string");
    out[m.key()] = m.value().get<std::string>();
  }
}

// One header entry -> a view of its bytes in the data area [base, base + data_size).
TensorView read_tensor_entry(const std::string& path, const std::string& name, const nlohmann::json& v,
                             const uint8_t* base, uint64_t data_size) {
  auto tbad = [&](const std::string& what) { bad(path, "tensor '" + name + "': " + what); };
  if (name.empty()) tbad("empty tensor name");
  if (!v.is_object()) tbad("entry is not an object");
  if (!v.contains("dtype") || !v["dtype"].is_string()) tbad("missing or non-string 'dtype'");
  if (!v.contains("shape") || !v["shape"].is_array()) tbad("missing or non-array 'shape'");
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
    tbad("'data_offsets' must be an array of two integers");
  TensorView t;
  t.name = name;
  try {
    t.dtype = parse_dtype(v["dtype"].get<std::string>());
  } catch (const Error& e) {
    tbad(e.what());
  }
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) tbad("shape entries must be non-negative integers");
    uint64_t dim = d.get<uint64_t>();
    if (dim > (uint64_t{1} << 48)) tbad("shape dimension " + std::to_string(dim) + " is absurd");
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  // Bounded by the product of the non-zero dimensions, so that numel() cannot overflow
  // on its way to a zero placed last.
  const auto numel = checked_numel(t.shape);
  if (!numel) tbad("shape overflows");
  const auto count = static_cast<uint64_t>(*numel);
  const auto& off = v["data_offsets"];
  if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    tbad("data_offsets must be non-negative integers");
  uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
  if (e < b) tbad("data_offsets end " + std::to_string(e) + " before begin " + std::to_string(b));
  if (e > data_size)
    tbad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") run past the end of the data (" +
         std::to_string(data_size) + " bytes)");
  uint64_t expect = 0;
  if (mul_overflows(count, dtype_size(t.dtype), &expect)) tbad("byte size overflows");
  if (expect != e - b)
    tbad("shape x dtype size is " + std::to_string(expect) + " bytes but data_offsets span " +
         std::to_string(e - b) + " bytes");
  t.data = base + b;
  t.nbytes = static_cast<size_t>(e - b);
  return t;
}

// The format requires disjoint byte spans (empty tensors never overlap).
void check_disjoint(const std::string& path, std::vector<std::pair<uint64_t, uint64_t>> spans,
                    const std::map<std::string, TensorView>& tensors, const uint8_t* base) {
  std::sort(spans.begin(), spans.end());
  uint64_t prev_end = 0;
  for (const auto& s : spans) {
    if (s.first == s.second) continue;
    if (s.first < prev_end) {
      std::string who;
      for (const auto& kv : tensors)
        if (kv.second.data == base + s.first) who = kv.first;
      bad(path, "tensor '" + who + "' overlaps the previous tensor's bytes");
    }
    prev_end = s.second;
  }
}

}  // namespace

void SafetensorsFile::parse(const uint8_t* data, size_t size) {
  uint64_t n = 0;
  const nlohmann::json j = read_header(path_, data, size, &n);
  const uint8_t* base = data + 8 + n;
  const uint64_t data_size = size - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      read_metadata(path_, it.value(), metadata_);
      continue;
    }
    TensorView t = read_tensor_entry(path_, it.key(), it.value(), base, data_size);
    t.file = &path_;
    const uint64_t b = static_cast<uint64_t>(t.data - base);
    spans.emplace_back(b, b + t.nbytes);
    tensors_.emplace(it.key(), std::move(t));  // JSON object keys are unique after parsing
  }
  check_disjoint(path_, std::move(spans), tensors_, base);
}

const TensorView* TensorSource::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void TensorSource::add_file(std::unique_ptr<SafetensorsFile> f) {
  for (const auto& kv : f->tensors()) {
    auto prev = tensors_.find(kv.first);
    if (prev != tensors_.end())
      fail(Status::format_error, "tensor '" + kv.first + "' appears in both '" + *prev->second.file + "' and '" +
                                     f->path() + "'");
    tensors_.emplace(kv.first, kv.second);
    total_bytes_ += kv.second.nbytes;
  }
  files_.push_back(std::move(f));
}

std::unique_ptr<TensorSource> TensorSource::open_file(const std::string& path) {
  auto src = std::unique_ptr<TensorSource>(new TensorSource());
  src->add_file(std::make_unique<SafetensorsFile>(path));
  src->description_ = path;
  return src;
}

std::unique_ptr<TensorSource> TensorSource::open_index(const std::string& index_path) {
  std::string text = read_file_text(index_path, 256u << 20);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  auto ibad = [&](const std::string& what) { fail(Status::format_error, "index '" + index_path + "': " + what); };
  if (j.is_discarded() || !j.is_object()) ibad("not a JSON object");
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) ibad("missing object 'weight_map'");
  std::string dir = index_path.substr(0, index_path.find_last_of('/') == std::string::npos
                                              ? 0 : index_path.find_last_of('/'));
  std::map<std::string, std::string> wanted;  // tensor -> shard
  std::set<std::string> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) ibad("weight_map entry '" + it.key() + "' is not a string");
    std::string shard = it.value().get<std::string>();
    // Shard names come from a downloaded file: refuse anything that leaves the folder.
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
      ibad("shard name '" + shard + "' for tensor '" + it.key() + "' is not a plain file name");
    wanted[it.key()] = shard;
    shards.insert(shard);
  }
  if (shards.empty()) ibad("weight_map is empty");
  auto src = std::unique_ptr<TensorSource>(new TensorSource());
  for (const auto& s : shards) src->add_file(std::make_unique<SafetensorsFile>(join_path(dir, s)));
  for (const auto& kv : wanted) {
    auto t = src->find(kv.first);
    if (t == nullptr) ibad("tensor '" + kv.first + "' is listed for '" + kv.second + "' but is not in any shard");
    if (*t->file != join_path(dir, kv.second))
      ibad("tensor '" + kv.first + "' is listed for '" + kv.second + "' but found in '" + *t->file + "'");
  }
  for (const auto& kv : src->tensors())
    if (!wanted.count(kv.first))
      ibad("tensor '" + kv.first + "' in '" + *kv.second.file + "' is not listed in weight_map");
  src->description_ = index_path;
  return src;
}

std::unique_ptr<TensorSource> TensorSource::open_directory(const std::string& dir) {
  if (!directory_exists(dir)) fail(Status::io_error, "checkpoint folder '" + dir + "' does not exist");
  for (const char* name : {"model.safetensors.index.json", "adapter_model.safetensors.index.json"}) {
    std::string p = join_path(dir, name);
    if (file_exists(p)) return open_index(p);
  }
  for (const char* name : {"model.safetensors", "adapter_model.safetensors"}) {
    std::string p = join_path(dir, name);
    if (file_exists(p)) return open_file(p);
  }
  fail(Status::io_error, "no model.safetensors, model.safetensors.index.json or adapter_model.safetensors in '" +
                             dir + "' (PyTorch .bin checkpoints are not supported: convert them to safetensors)");
}

}  // namespace m4cxr
