// SHA-256 (FIPS 180-4), used to identify images by content (session-level caching of
// visual tokens, replay records). Pure function; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace m4cxr {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finalises; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace m4cxr
