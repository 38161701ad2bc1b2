// Read-only memory map of a whole file (RAII). Used for safetensors shards, so that
// weights are paged in on demand and never copied when no conversion is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace m4cxr {

class MappedFile {
 public:
  // Throws Error(io_error) naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole file into memory; refuses files larger than max_bytes
// (Error limit_exceeded) and reports missing/unreadable files (Error io_error).
std::vector<uint8_t> read_file_bytes(const std::string& path, size_t max_bytes);

// Reads a text file (same limits) into a string.
std::string read_file_text(const std::string& path, size_t max_bytes = 64u << 20);

bool file_exists(const std::string& path);
bool directory_exists(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace m4cxr
