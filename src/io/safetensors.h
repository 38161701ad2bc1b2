// Safetensors reader: memory-mapped, single file or sharded (HF index json).
// Every header field is validated before use (header length vs file size, JSON shape,
// offsets inside the data area, shape x dtype size == byte span, no overlapping
// tensors, no duplicate names across shards); failures are Error(format_error) naming
// the file and the tensor. Tensor bytes are exposed in place (pointer into the map).
//
// Thread-safety: immutable after construction; concurrent reads are safe.
// Ownership: a TensorView's data pointer lives as long as the SafetensorsFile / Checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.h"

namespace m4cxr {

enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u8, u16, u32, u64, boolean, f8_e4m3, f8_e5m2 };

// Size in bytes of one element; parse_dtype throws format_error on unknown strings.
size_t dtype_size(DType d) noexcept;
const char* dtype_name(DType d) noexcept;
DType parse_dtype(const std::string& s);

struct TensorView {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapped file; not aligned in general
  size_t nbytes = 0;
  const std::string* file = nullptr;  // the file this tensor lives in (for messages)

  int64_t numel() const;
  std::string describe() const;  // "name [a, b] BF16 in file"
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws Error(io_error | format_error).
  explicit SafetensorsFile(const std::string& path);
  // Validates an in-memory buffer (used by tests and by callers that own the bytes;
  // the buffer must outlive this object). `label` names it in messages.
  SafetensorsFile(const uint8_t* data, size_t size, const std::string& label);

  const std::string& path() const noexcept { return path_; }
  const std::map<std::string, TensorView>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

 private:
  void parse(const uint8_t* data, size_t size);
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A set of tensors from one or more safetensors files: a single file, a sharded
// checkpoint (model.safetensors.index.json), or every *.safetensors of a folder.
class TensorSource {
 public:
  // Opens `dir`: prefers model.safetensors.index.json, then model.safetensors,
  // then adapter_model.safetensors. Throws io_error when nothing loadable is found.
  static std::unique_ptr<TensorSource> open_directory(const std::string& dir);
  static std::unique_ptr<TensorSource> open_index(const std::string& index_path);
  static std::unique_ptr<TensorSource> open_file(const std::string& path);

  const std::map<std::string, TensorView>& tensors() const noexcept { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const std::string& description() const noexcept { return description_; }
  // Total bytes of all tensors (for progress reporting).
  uint64_t total_bytes() const noexcept { return total_bytes_; }

 private:
  void add_file(std::unique_ptr<SafetensorsFile> f);
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, TensorView> tensors_;
  std::string description_;
  uint64_t total_bytes_ = 0;
};

}  // namespace m4cxr
