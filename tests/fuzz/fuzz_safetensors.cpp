// Fuzz target: safetensors files (header, offsets, shapes) and the sharded-checkpoint
// index. First input byte: even -> the rest is one safetensors file parsed from memory;
// odd -> the rest is model.safetensors.index.json in a folder that holds two valid shards.
// Invariants: every accepted tensor lies inside the buffer, and its byte count is its
// element count times its dtype size; an accepted index lists exactly the tensors of the
// shards it names (a shard in the folder that the index does not name is not read, as in
// Hugging Face's loader).
#include <filesystem>
#include <set>
#include <vector>

#include "fuzz_support.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

using namespace m4cxr;

namespace {

const std::string& index_dir() {
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/sharded";
    std::filesystem::create_directories(d);
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const uint16_t b[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    write_safetensors(d + "/model-00001-of-00002.safetensors",
                      {{"a.weight", DType::f32, {2, 3}, a}, {"b.weight", DType::bf16, {4}, b}});
    write_safetensors(d + "/model-00002-of-00002.safetensors", {{"c.weight", DType::f32, {0, 5}, a}});
    return d;
  }();
  return dir;
}

void check_file(const uint8_t* data, size_t size) {
  fuzz::accepts([&] {
    SafetensorsFile f(data, size, "fuzz");
    for (const auto& [name, t] : f.tensors()) {
      FUZZ_CHECK(name == t.name && !name.empty());
      FUZZ_CHECK(t.data >= data && t.nbytes <= size && t.data - data <= static_cast<std::ptrdiff_t>(size - t.nbytes));
      const int64_t n = t.numel();
      FUZZ_CHECK(n >= 0);
      FUZZ_CHECK(static_cast<uint64_t>(n) * dtype_size(t.dtype) == t.nbytes);
      (void)t.describe();
    }
  });
}

void check_index(std::string_view json) {
  const std::string dir = index_dir();
  fuzz::write_file(dir + "/model.safetensors.index.json", json);
  fuzz::accepts([&] {
    auto src = TensorSource::open_directory(dir);
    // Shard 1 holds a and b (32 bytes), shard 2 holds c (no elements): an accepted index
    // names every tensor of one shard or of both, nothing else.
    std::set<std::string> names;
    for (const auto& kv : src->tensors()) names.insert(kv.first);
    const std::set<std::string> first{"a.weight", "b.weight"}, second{"c.weight"},
        both{"a.weight", "b.weight", "c.weight"};
    FUZZ_CHECK(names == first || names == second || names == both);
    FUZZ_CHECK(src->total_bytes() == (names == second ? 0 : 6 * 4 + 4 * 2));
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const uint8_t variant = in.take_byte();
  if (variant % 2 == 0) {
    // A private copy, so that reads past the payload are caught by the sanitizers.
    std::vector<uint8_t> bytes(in.data, in.data + in.size);
    check_file(bytes.data(), bytes.size());
  } else {
    check_index(in.rest());
  }
  return 0;
}
