// Shared by the fuzz targets in tests/fuzz. Each target defines LLVMFuzzerTestOneInput
// and is built twice: as a libFuzzer binary (clang, -DM4CXR_FUZZ=ON, scripts/fuzz.sh)
// and as a replay program run by ctest over the seed corpus and the kept crash
// reproducers (replay_main.cpp), so that every finding stays a regression test.
//
// What a target may see from the library: m4cxr::Error (the library's own, a clean
// refusal) or std::bad_alloc. Anything else that escapes, and any broken invariant, aborts
// with a message, which both libFuzzer and ctest report as a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <unistd.h>

#include "common/error.h"

namespace m4cxr::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", file, line, what);
  std::abort();
}

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) ::m4cxr::fuzz::invariant_failed(#cond, __FILE__, __LINE__);   \
  } while (0)

// Runs `f`; a library Error or bad_alloc is an accepted outcome (returns false), any
// other exception aborts. Returns true when `f` completed.
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const Error& e) {
    FUZZ_CHECK(e.what() != nullptr && e.what()[0] != '\0');  // a refusal says why
    FUZZ_CHECK(e.status() != Status::ok && e.status() != Status::internal);
    return false;
  } catch (const std::bad_alloc&) {
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "foreign exception escaped the library: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "unknown exception escaped the library\n");
    std::abort();
  }
}

// Splits the input: the first byte chooses a variant, the rest is the payload.
struct Input {
  const uint8_t* data;
  size_t size;
  uint8_t take_byte() {
    if (size == 0) return 0;
    const uint8_t b = *data;
    ++data;
    --size;
    return b;
  }
  uint32_t take_u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | take_byte();
    return v;
  }
  std::string_view rest() const { return {reinterpret_cast<const char*>(data), size}; }
};

// A private scratch folder for targets that must go through files (one per process),
// removed with its files when the process exits normally (a crash leaves it for study).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/m4cxr-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return dir;
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::abort();
  }
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
}

}  // namespace m4cxr::fuzz
