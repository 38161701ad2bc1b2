// Safetensors reader: valid files (single, sharded) and every kind of malformed input,
// each rejected with a format/io error that names the file and tensor.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

using namespace m4cxr;

namespace {

std::string golden() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  return (env && *env) ? std::string(env) : std::string(M4CXR_TEST_DATA) + "/golden";
}

// Builds a file from a header string and a data blob, with a given declared length.
std::vector<uint8_t> make(const std::string& header, size_t data_bytes, int64_t declared = -1) {
  std::vector<uint8_t> b(8);
  uint64_t n = declared < 0 ? header.size() : static_cast<uint64_t>(declared);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0x3f);
  return b;
}

Status status_of(const std::vector<uint8_t>& bytes, std::string* msg = nullptr) {
  try {
    SafetensorsFile f(bytes.data(), bytes.size(), "test.safetensors");
  } catch (const Error& e) {
    if (msg) *msg = e.what();
    return e.status();
  }
  return Status::ok;
}

std::string tmpdir() {
  char tmpl[] = "/tmp/m4cxr_io_XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}


}  // namespace

TEST_CASE("safetensors: a well-formed file parses and views tensors in place") {
  auto b = make(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"s":{"dtype":"I64","shape":[],"data_offsets":[32,40]}})",
                40);
  SafetensorsFile f(b.data(), b.size(), "ok");
  REQUIRE(f.tensors().size() == 3);
  const auto& a = f.tensors().at("a");
  CHECK(a.shape == std::vector<int64_t>{2, 3});
  CHECK(a.dtype == DType::f32);
  CHECK(a.nbytes == 24);
  CHECK(a.data == b.data() + 8 + (b.size() - 8 - 40));
  CHECK(f.tensors().at("s").numel() == 1);
  CHECK(f.metadata().at("format") == "pt");
}

TEST_CASE("safetensors: every dtype string parses, unknown ones do not") {
  for (const char* d : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"})
    CHECK(std::string(dtype_name(parse_dtype(d))) == d);
  CHECK_THROWS_AS(parse_dtype("F128"), Error);
}

TEST_CASE("safetensors: malformed files give clear errors") {
  std::string msg;
  CHECK(status_of({}, &msg) == Status::format_error);
  CHECK(msg.find("too short") != std::string::npos);
  CHECK(status_of({1, 2, 3}) == Status::format_error);
  // header length past EOF
  CHECK(status_of(make("{}", 0, 1000), &msg) == Status::format_error);
  CHECK(msg.find("past the end") != std::string::npos);
  // absurd header length
  CHECK(status_of(make("{}", 0, int64_t(1) << 40)) == Status::format_error);
  // not JSON / not an object
  CHECK(status_of(make("{\"a\":", 0)) == Status::format_error);
  CHECK(status_of(make("[1,2]", 0)) == Status::format_error);
  // offsets past EOF
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), &msg) == Status::format_error);
  CHECK(msg.find("'w'") != std::string::npos);
  // shape x dtype != span
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16), &msg) == Status::format_error);
  CHECK(msg.find("12 bytes") != std::string::npos);
  // dtype mismatch with span
  CHECK(status_of(make(R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})", 16)) == Status::format_error);
  // end before begin
  CHECK(status_of(make(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 16)) == Status::format_error);
  // overlapping tensors
  CHECK(status_of(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 16),
                  &msg) == Status::format_error);
  CHECK(msg.find("overlaps") != std::string::npos);
  // missing fields, wrong types
  CHECK(status_of(make(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4)) == Status::format_error);
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":"x","data_offsets":[0,4]}})", 4)) == Status::format_error);
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)) == Status::format_error);
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4)) == Status::format_error);
  CHECK(status_of(make(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})", 4)) ==
        Status::format_error);
  CHECK(status_of(make(R"({"__metadata__":{"x":1}})", 0)) == Status::format_error);
}

TEST_CASE("safetensors: truncating a golden checkpoint at any point never crashes") {
  auto bytes = read_file_bytes(golden() + "/models/merged_bf16/model.safetensors", 1 << 30);
  for (size_t cut : {size_t(0), size_t(4), size_t(8), size_t(100), bytes.size() / 3, bytes.size() - 1}) {
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK(status_of(t) == Status::format_error);
  }
  CHECK(status_of(bytes) == Status::ok);
}

TEST_CASE("safetensors: sharded index, duplicates across shards, bad shard names") {
  auto src = TensorSource::open_directory(golden() + "/models/merged_fp32_sharded");
  auto single = TensorSource::open_directory(golden() + "/models/merged_fp32");
  REQUIRE(src->tensors().size() == single->tensors().size());
  for (const auto& kv : single->tensors()) {
    const TensorView* t = src->find(kv.first);
    REQUIRE(t != nullptr);
    CHECK(t->shape == kv.second.shape);
    CHECK(std::memcmp(t->data, kv.second.data, t->nbytes) == 0);
  }

  std::string d = tmpdir();
  float x[2] = {1, 2};
  write_safetensors(d + "/a.safetensors", {{"w", DType::f32, {2}, x}});
  write_safetensors(d + "/b.safetensors", {{"w", DType::f32, {2}, x}});
  std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"w":"a.safetensors","v":"b.safetensors"}})";
  try {
    TensorSource::open_directory(d);
    FAIL("duplicate tensor accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::format_error);
    CHECK(std::string(e.what()).find("'w'") != std::string::npos);
  }
  std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"w":"../../etc/passwd"}})";
  CHECK_THROWS_AS(TensorSource::open_directory(d), Error);
  std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"w":"missing.safetensors"}})";
  try {
    TensorSource::open_directory(d);
    FAIL("missing shard accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::io_error);
  }
  std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"w":"a.safetensors","extra":"a.safetensors"}})";
  CHECK_THROWS_AS(TensorSource::open_directory(d), Error);  // listed tensor absent from its shard
  CHECK_THROWS_AS(TensorSource::open_directory(d + "/nope"), Error);
  ::unlink((d + "/model.safetensors.index.json").c_str());
  CHECK_THROWS_AS(TensorSource::open_directory(d), Error);  // neither index nor model.safetensors
}

TEST_CASE("safetensors: a zero dimension placed last cannot hide an overflowing shape (issue 9, finding 2)") {
  // The product of the non-zero dimensions is 2^63: numel() would overflow int64 on its
  // way to the zero. The same dimensions in another order are refused the same way.
  for (const char* shape : {"[4294967296, 2147483648, 0]", "[0, 4294967296, 2147483648]", "[4294967296, 0, 2147483648]"}) {
    CAPTURE(shape);
    std::string msg;
    const auto bytes = make(std::string(R"({"t":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,0]}})", 0);
    CHECK(status_of(bytes, &msg) == Status::format_error);
    CHECK(msg.find("shape overflows") != std::string::npos);
  }
  // An empty tensor with reasonable dimensions stays valid, with 0 elements.
  const auto ok = make(R"({"t":{"dtype":"F32","shape":[7,0,5],"data_offsets":[0,0]}})", 0);
  SafetensorsFile f(ok.data(), ok.size(), "empty.safetensors");
  CHECK(f.tensors().at("t").numel() == 0);
}
