// WeightTransfer::copy_each, the path a CUDA load takes (issue 15, part 2), forced on the
// CPU: bit-identical weights to the default load for every dtype pairing and a LoRA merge;
// nothing of the file stays mapped afterwards; and while it runs, the mapped file's resident
// pages stay within about one tensor (each tensor's pages are released once it is copied).
// And which weights M4CXR_LARGE_PAGES puts on 2 MiB pages (model/large_pages.h).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "model_test_support.h"

#include "model/large_pages.h"

using m4cxr::WeightMap;
using m4cxr::WeightTransfer;

namespace {

WeightMap load(const std::string& dir, c10::ScalarType dtype, WeightTransfer transfer, const std::string& adapter = "",
               const m4cxr::LoadProgress& progress = {}) {
  return m4cxr::load_weights(dir, adapter, mt::config_of("models/merged_fp32"), mt::runtime(dtype), nullptr, progress,
                             transfer);
}

// Resident bytes of this process's mappings of `path` (/proc/self/smaps), -1 when none is mapped.
long long mapped_rss(const std::string& path) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool in = false, found = false;
  long long rss = 0;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string first;
    ls >> first;
    if (!first.empty() && first.back() != ':') {  // a mapping's header line: "start-end perms offset dev inode path"
      in = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
      found = found || in;
    } else if (in && first == "Rss:") {
      long long kb = 0;
      ls >> kb;
      rss += kb * 1024;
    }
  }
  return found ? rss : -1;
}

// The golden merged model rewritten into a folder of its own, so that no other test's
// model maps the same file.
struct OwnCheckpoint {
  mt::TempDir tmp;
  std::string dir = tmp.sub("ckpt");
  std::string file = m4cxr::join_path(dir, "model.safetensors");
  size_t largest = 0, count = 0, total = 0;
  explicit OwnCheckpoint(const std::string& from = "models/merged_fp32") {
    const mt::TensorList ts = mt::read_tensors(from);
    for (const auto& t : ts) {
      largest = std::max(largest, t.bytes.size());
      total += t.bytes.size();
      ++count;
    }
    mt::write_checkpoint(dir, ts, from);
  }
};

void check_identical(const WeightMap& got, const WeightMap& want) {
  REQUIRE(got.size() == want.size());
  int differ = 0;
  for (const auto& kv : want) {
    auto it = got.find(kv.first);
    REQUIRE_MESSAGE(it != got.end(), kv.first);
    const bool same = it->second.scalar_type() == kv.second.scalar_type() && it->second.sizes() == kv.second.sizes() &&
                      at::equal(it->second, kv.second);
    if (!same) FAIL_CHECK(kv.first << " differs");
    differ += !same;
  }
  CHECK(differ == 0);
}

}  // namespace

TEST_CASE("copy_each: the same weights as the default load, for every dtype pairing and a LoRA merge") {
  struct Case {
    const char* model;
    const char* adapter;
    c10::ScalarType dtype;
  };
  for (const Case& c : {Case{"models/merged_fp32", "", at::kFloat}, Case{"models/merged_fp32", "", at::kBFloat16},
                        Case{"models/merged_bf16", "", at::kBFloat16}, Case{"models/merged_bf16", "", at::kFloat},
                        Case{"models/base_fp32", "models/adapter", at::kFloat},
                        Case{"models/base_fp32", "models/adapter", at::kBFloat16}}) {
    INFO(c.model << " + '" << c.adapter << "' in " << c10::toString(c.dtype));
    const std::string adapter = *c.adapter ? mt::gpath(c.adapter) : "";
    const WeightMap automatic = load(mt::gpath(c.model), c.dtype, WeightTransfer::automatic, adapter);
    const WeightMap copied = load(mt::gpath(c.model), c.dtype, WeightTransfer::copy_each, adapter);
    check_identical(copied, automatic);
    for (const auto& kv : copied) CHECK((kv.second.scalar_type() == c.dtype));
  }
}

TEST_CASE("copy_each: nothing of the file stays mapped after the load; the default fp32 load keeps its views") {
  OwnCheckpoint ck;
  {
    const WeightMap views = load(ck.dir, at::kFloat, WeightTransfer::automatic);
    CHECK(mapped_rss(ck.file) >= 0);  // zero-copy views keep the mapping (the contrast)
  }
  CHECK(mapped_rss(ck.file) == -1);  // and it goes with them
  const WeightMap copied = load(ck.dir, at::kFloat, WeightTransfer::copy_each);
  CHECK(copied.size() == ck.count);
  CHECK(mapped_rss(ck.file) == -1);
}

TEST_CASE("copy_each: while loading, the mapped file's resident pages stay within one tensor") {
  OwnCheckpoint ck;
  const long long page = ::sysconf(_SC_PAGESIZE);
  // One tensor's pages, plus the pages that straddle two tensors (never wholly inside one,
  // so never released) and one the file's header shares.
  const long long bound = static_cast<long long>(ck.largest) + static_cast<long long>(ck.count + 2) * page;
  INFO("file " << ck.total << " bytes in " << ck.count << " tensors, largest " << ck.largest << ", bound " << bound);
  REQUIRE(static_cast<long long>(ck.total) > bound);  // else the check below could not fail
  auto peak_during = [&](WeightTransfer transfer) {
    long long peak = 0;
    const WeightMap w = load(ck.dir, at::kFloat, transfer, "", [&](double) {  // after each tensor
      peak = std::max(peak, mapped_rss(ck.file));
      return true;
    });
    return peak;
  };
  const long long copied = peak_during(WeightTransfer::copy_each);
  // The contrast: zero-copy views, once read, keep every page they touched resident.
  const WeightMap views = load(ck.dir, at::kFloat, WeightTransfer::automatic);
  double sum = 0;
  for (const auto& kv : views) sum += kv.second.abs().sum().item<double>();
  const long long viewed = mapped_rss(ck.file);
  INFO("peak resident: copy_each " << copied << "; views after reading them " << viewed << " (sum " << sum << ")");
  CHECK(copied > 0);  // the measure sees the copies' reads
  CHECK(copied <= bound);
  CHECK(viewed > bound);  // and would see a load that kept the pages
}

namespace {

bool on_2mib_boundary(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t(2) << 20) == 0; }

// Restores the process's large-pages setting when a test is done with it.
struct LargePagesGuard {
  m4cxr::LargePages before = m4cxr::large_pages_setting();
  ~LargePagesGuard() { m4cxr::set_large_pages(before); }
};

// The golden model's layout with a vocabulary large enough that the embedding and the LM
// head pass 2 MiB in bf16 (the golden tensors are all smaller), random weights, written
// once in fp32 and once in bf16.
struct LargeCheckpoint {
  mt::TempDir tmp;
  m4cxr::ModelConfig config = mt::config_of("models/merged_fp32");
  std::string fp32_dir = tmp.sub("fp32"), bf16_dir = tmp.sub("bf16");
  std::string big = "language_model.lm_head.weight";
  LargeCheckpoint() {
    config.text.vocab_size = (int64_t(2) << 20) / (2 * config.text.hidden_size) + 7;
    mt::TensorList f32, b16;
    at::manual_seed(3);
    for (const auto& s : m4cxr::expected_tensors(config)) {
      const at::Tensor t = at::randn(s.shape);
      f32.push_back(mt::from_tensor(s.name, t));
      b16.push_back(mt::from_tensor(s.name, t.to(at::kBFloat16)));
    }
    mt::write_checkpoint(fp32_dir, f32);
    mt::write_checkpoint(bf16_dir, b16);
  }
  m4cxr::WeightMap load(const std::string& dir, c10::ScalarType dtype, bool int8 = false) const {
    m4cxr::Runtime rt = mt::runtime(dtype);
    rt.int8_weights = int8;
    return m4cxr::load_weights(dir, "", config, rt);
  }
  std::string file(const std::string& dir) const { return m4cxr::join_path(dir, "model.safetensors"); }
};

}  // namespace

TEST_CASE("large pages: converted weights on 2 MiB pages by default; all copies the file's; off none") {
  c10::InferenceMode g;
  LargePagesGuard guard;
  LargeCheckpoint ck;
  std::map<std::string, at::Tensor> want;  // the default load's weights, owned
  {
    m4cxr::set_large_pages(m4cxr::LargePages::made_at_load);
    const WeightMap views = ck.load(ck.bf16_dir, at::kBFloat16);
    REQUIRE(views.at(ck.big).numel() * 2 >= (int64_t(2) << 20));
    CHECK(mapped_rss(ck.file(ck.bf16_dir)) >= 0);  // the file's own dtype: zero-copy views
    for (const auto& kv : views) want[kv.first] = kv.second.clone();
    const WeightMap converted = ck.load(ck.fp32_dir, at::kBFloat16);
    CHECK(on_2mib_boundary(converted.at(ck.big)));
    CHECK(at::equal(converted.at(ck.big), want.at(ck.big)));  // fp32 -> bf16 as the file's bf16 copy
  }
  CHECK(mapped_rss(ck.file(ck.bf16_dir)) == -1);
  {
    m4cxr::set_large_pages(m4cxr::LargePages::all);
    const WeightMap copied = ck.load(ck.bf16_dir, at::kBFloat16);
    CHECK(mapped_rss(ck.file(ck.bf16_dir)) == -1);  // nothing of the file kept
    int large = 0;
    for (const auto& kv : copied) {
      INFO(kv.first);
      CHECK(at::equal(kv.second, want.at(kv.first)));
      if (kv.second.numel() * kv.second.element_size() >= (int64_t(2) << 20)) {
        CHECK(on_2mib_boundary(kv.second));
        ++large;
      }
    }
    CHECK(large >= 2);  // the embedding and the LM head
    // int8 quantizes the decoder's weights from the mapped file: no bf16 copy first.
    const WeightMap for_int8 = ck.load(ck.bf16_dir, at::kBFloat16, /*int8=*/true);
    CHECK(mapped_rss(ck.file(ck.bf16_dir)) >= 0);
  }
  {
    m4cxr::set_large_pages(m4cxr::LargePages::off);
    const WeightMap converted = ck.load(ck.fp32_dir, at::kBFloat16);
    CHECK_FALSE(on_2mib_boundary(converted.at(ck.big)));
    CHECK(at::equal(converted.at(ck.big), want.at(ck.big)));
  }
}
