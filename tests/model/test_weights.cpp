// Checkpoint loading (load_weights / Model::load) with checkpoints built in a temp dir
// from the golden tiny models: validation errors that name the tensor, unexpected and
// optional tensors, every PEFT layout of docs/upstream-model.md §4.4 (in-memory state dict, separate
// adapter folder, wrapper prefixes), LoRA errors, dtypes, missing files, progress and
// cancellation, zero-copy bf16 views, and sharded == single-file.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <fstream>
#include <set>
#include <sstream>


using m4cxr::LoadReport;
using m4cxr::Status;
using m4cxr::WeightMap;

namespace {

const char* kMerged = "models/merged_fp32";

WeightMap load(const std::string& dir, const std::string& adapter = "", LoadReport* rep = nullptr,
               const m4cxr::LoadProgress& progress = {}, c10::ScalarType dtype = at::kFloat,
               const std::string& config_rel = kMerged) {
  return m4cxr::load_weights(dir, adapter, mt::config_of(config_rel), mt::runtime(dtype), rep, progress);
}

const WeightMap& merged_reference() {
  static WeightMap w = load(mt::gpath(kMerged));
  return w;
}

// Same names; every tensor within atol (0 = bit-identical).
void check_same_weights(const WeightMap& got, const WeightMap& want, double atol, const std::string& what) {
  INFO(what);
  std::set<std::string> gk, wk;
  for (const auto& kv : got) gk.insert(kv.first);
  for (const auto& kv : want) wk.insert(kv.first);
  CHECK(gk == wk);
  int bad = 0;
  for (const auto& kv : want) {
    auto it = got.find(kv.first);
    if (it == got.end()) continue;
    if (it->second.sizes() != kv.second.sizes() || it->second.scalar_type() != kv.second.scalar_type()) {
      ++bad;
      FAIL_CHECK(kv.first << ": shape/dtype differs");
      continue;
    }
    bool ok = atol == 0 ? at::equal(it->second, kv.second) : mt::max_abs_diff(it->second, kv.second) <= atol;
    if (!ok) {
      ++bad;
      FAIL_CHECK(kv.first << ": max |diff| " << mt::max_abs_diff(it->second, kv.second) << " > " << atol);
    }
  }
  CHECK(bad == 0);
}

// The golden merged model's tensors, written into a fresh folder after `edit`.
template <class Edit>
std::string build(const mt::TempDir& tmp, Edit edit, const std::string& from = kMerged) {
  mt::TensorList ts = mt::read_tensors(from);
  edit(ts);
  std::string dir = tmp.sub("ckpt");
  mt::write_checkpoint(dir, ts, from);
  return dir;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

void replace_once(std::string& s, const std::string& from, const std::string& to) {
  size_t p = s.find(from);
  REQUIRE(p != std::string::npos);
  s.replace(p, from.size(), to);
}

// The state dict of a live PeftModel (docs/upstream-model.md §4.4 variant 2), assembled from the
// stage-1 base checkpoint and the saved adapter: base_layer q/v weights,
// lora_A/B.default, original_module (stock) + modules_to_save.default (fine-tuned).
mt::TensorList peft_state_dict() {
  mt::TensorList out;
  for (auto t : mt::read_tensors("models/base_fp32")) {
    const std::string n = t.name;
    if (starts_with(n, "vision_model.") || starts_with(n, "abstractor.")) {
      const size_t dot = n.find('.');
      t.name = "base_model.model." + n.substr(0, dot) + ".original_module" + n.substr(dot);
    } else {
      t.name = "base_model.model." + n;
      for (const char* p : {"q_proj", "v_proj"})
        if (n.find(std::string(".self_attn.") + p + ".weight") != std::string::npos)
          replace_once(t.name, std::string(p) + ".weight", std::string(p) + ".base_layer.weight");
    }
    out.push_back(std::move(t));
  }
  int lora = 0;
  for (auto t : mt::read_tensors("models/adapter")) {
    REQUIRE(starts_with(t.name, "base_model.model."));
    if (t.name.find(".lora_A.weight") != std::string::npos) {
      replace_once(t.name, ".lora_A.weight", ".lora_A.default.weight");
      ++lora;
    } else if (t.name.find(".lora_B.weight") != std::string::npos) {
      replace_once(t.name, ".lora_B.weight", ".lora_B.default.weight");
      ++lora;
    } else {
      const std::string rest = t.name.substr(17);  // after base_model.model.
      const size_t dot = rest.find('.');
      t.name = "base_model.model." + rest.substr(0, dot) + ".modules_to_save.default" + rest.substr(dot);
    }
    out.push_back(std::move(t));
  }
  REQUIRE(lora > 0);
  return out;
}

std::string write_peft(const mt::TempDir& tmp, const mt::TensorList& ts, bool with_adapter_config = true) {
  std::string dir = tmp.sub("peft");
  mt::write_checkpoint(dir, ts, "models/base_fp32");
  if (with_adapter_config)
    mt::fs::copy_file(mt::gpath("models/adapter/adapter_config.json"), m4cxr::join_path(dir, "adapter_config.json"));
  return dir;
}

std::string first_lora(const mt::TensorList& ts, const std::string& tag) {
  for (const auto& t : ts)
    if (t.name.find(tag) != std::string::npos) return t.name;
  FAIL("no tensor with " << tag);
  return "";
}

// /proc/self/maps regions that map `file`: [lo, hi) -> file offset of lo.
struct Region {
  uintptr_t lo, hi;
  uint64_t offset;
};

std::vector<Region> mappings_of(const std::string& file) {
  const std::string want = mt::fs::canonical(file).string();
  std::vector<Region> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream ss(line);
    std::string range, perms, off, dev, inode, path;
    ss >> range >> perms >> off >> dev >> inode;
    std::getline(ss >> std::ws, path);
    if (path != want) continue;
    const size_t dash = range.find('-');
    out.push_back(Region{static_cast<uintptr_t>(std::stoull(range.substr(0, dash), nullptr, 16)),
                         static_cast<uintptr_t>(std::stoull(range.substr(dash + 1), nullptr, 16)),
                         std::stoull(off, nullptr, 16)});
  }
  return out;
}

// Offset inside `file` of the byte at p, or -1 when p is not in a mapping of it.
int64_t file_offset(const std::vector<Region>& regions, const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  for (const auto& r : regions)
    if (a >= r.lo && a < r.hi) return static_cast<int64_t>(r.offset + (a - r.lo));
  return -1;
}

}  // namespace

TEST_CASE("weights: the golden merged checkpoint yields exactly the tensors the config implies") {
  c10::InferenceMode g;
  LoadReport rep;
  WeightMap w = load(mt::gpath(kMerged), "", &rep);
  const auto specs = m4cxr::expected_tensors(mt::config_of(kMerged));
  auto src = m4cxr::TensorSource::open_directory(mt::gpath(kMerged));
  uint64_t bytes = 0;
  size_t present = 0;
  for (const auto& s : specs) {
    INFO(s.name);
    const auto* v = src->find(s.name);
    if (!v) {
      CHECK(s.optional);
      CHECK(w.count(s.name) == 0);
      continue;
    }
    ++present;
    bytes += v->nbytes;
    REQUIRE(w.count(s.name) == 1);
    CHECK(w.at(s.name).sizes().vec() == s.shape);
    CHECK((w.at(s.name).scalar_type() == at::kFloat));
  }
  CHECK(w.size() == present);
  CHECK(present == src->tensors().size());  // the golden file holds nothing else
  CHECK(rep.unexpected.empty());
  CHECK(rep.lora_pairs_merged == 0);
  CHECK(rep.bytes_read == bytes);
  // weight() finds loaded tensors and reports absent ones as internal errors.
  CHECK(m4cxr::weight(w, "language_model.model.norm.weight").numel() == 64);
  CHECK(mt::status_of([&] { m4cxr::weight(w, "no.such.tensor"); }) == Status::internal);
}

TEST_CASE("weights: a missing tensor is a model_error naming it") {
  for (const std::string missing : {"language_model.model.layers.1.self_attn.k_proj.weight", "abstractor.readout.2.bias",
                                    "vision_model.encoder.layer.0.layer_scale2.lambda1", "language_model.lm_head.weight"}) {
    INFO(missing);
    mt::TempDir tmp;
    std::string dir = build(tmp, [&](mt::TensorList& ts) { REQUIRE(mt::erase(ts, missing)); });
    std::string msg;
    CHECK(mt::status_of([&] { load(dir); }, &msg) == Status::model_error);
    CHECK(msg.find(missing) != std::string::npos);
    // Model::load reports the same.
    std::string msg2;
    CHECK(mt::status_of([&] { m4cxr::Model::load(dir); }, &msg2) == Status::model_error);
    CHECK(msg2.find(missing) != std::string::npos);
  }
  SUBCASE("several missing tensors are all named") {
    mt::TempDir tmp;
    const std::string a = "abstractor.pos_emb", b = "language_model.model.norm.weight";
    std::string dir = build(tmp, [&](mt::TensorList& ts) {
      REQUIRE(mt::erase(ts, a));
      REQUIRE(mt::erase(ts, b));
    });
    std::string msg;
    CHECK(mt::status_of([&] { load(dir); }, &msg) == Status::model_error);
    CHECK(msg.find(a) != std::string::npos);
    CHECK(msg.find(b) != std::string::npos);
  }
}

TEST_CASE("weights: a mis-shaped tensor is a model_error naming tensor, actual and expected shape") {
  mt::TempDir tmp;
  const std::string n = "language_model.model.layers.1.mlp.up_proj.weight";  // [128, 64]
  std::string dir = build(tmp, [&](mt::TensorList& ts) {
    auto* t = mt::find(ts, n);
    REQUIRE(t);
    REQUIRE(t->shape == std::vector<int64_t>{128, 64});
    t->shape = {64, 128};  // same bytes, transposed shape
  });
  std::string msg;
  CHECK(mt::status_of([&] { load(dir); }, &msg) == Status::model_error);
  INFO(msg);
  CHECK(msg.find(n) != std::string::npos);
  CHECK(msg.find("[64, 128]") != std::string::npos);
  CHECK(msg.find("[128, 64]") != std::string::npos);

  SUBCASE("an optional tensor with the wrong shape is rejected too") {
    mt::TempDir tmp2;
    const std::string m = "vision_model.embeddings.mask_token";  // [1, 32]
    std::string dir2 = build(tmp2, [&](mt::TensorList& ts) {
      auto* t = mt::find(ts, m);
      REQUIRE(t);
      t->shape = {32, 1};
    });
    std::string msg2;
    CHECK(mt::status_of([&] { load(dir2); }, &msg2) == Status::model_error);
    CHECK(msg2.find(m) != std::string::npos);
  }
}

TEST_CASE("weights: unexpected tensors are listed, rotary_emb.inv_freq is ignored") {
  c10::InferenceMode g;
  mt::TempDir tmp;
  std::string dir = build(tmp, [](mt::TensorList& ts) {
    ts.push_back(mt::from_tensor("vision_model.encoder.layer.0.extra_scale", at::ones({32})));
    ts.push_back(mt::from_tensor("language_model.model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({8})));
    ts.push_back(mt::from_tensor("language_model.model.rotary_emb.inv_freq", at::ones({8})));
  });
  LoadReport rep;
  WeightMap w = load(dir, "", &rep);
  CHECK(rep.unexpected == std::vector<std::string>{"vision_model.encoder.layer.0.extra_scale"});
  CHECK(w.count("vision_model.encoder.layer.0.extra_scale") == 0);
  check_same_weights(w, merged_reference(), 0, "extra tensors");
  // The whole model loads and exposes the same report.
  auto m = m4cxr::Model::load(dir, m4cxr::ModelOptions{"", mt::runtime(at::kFloat), 2, {}});
  CHECK(m->load_report().unexpected == rep.unexpected);
}

TEST_CASE("weights: optional tensors (final vision LayerNorm, mask token) may be absent") {
  c10::InferenceMode g;
  mt::TempDir tmp;
  const std::vector<std::string> optional = {"vision_model.layernorm.weight", "vision_model.layernorm.bias",
                                             "vision_model.embeddings.mask_token"};
  std::string dir = build(tmp, [&](mt::TensorList& ts) {
    for (const auto& n : optional) REQUIRE(mt::erase(ts, n));
  });
  LoadReport rep;
  WeightMap w = load(dir, "", &rep);
  for (const auto& n : optional) CHECK(w.count(n) == 0);
  CHECK(w.size() + optional.size() == merged_reference().size());
  for (const auto& kv : w) CHECK(at::equal(kv.second, merged_reference().at(kv.first)));

  // Model::load builds a working model from it: same visual tokens as the full checkpoint.
  auto m = m4cxr::Model::load(dir, m4cxr::ModelOptions{"", mt::runtime(at::kFloat), 2, {}});
  at::Tensor pv = mt::pixel_values_of(nlohmann::json::array({"rgb_150x200.jpg"}));
  CHECK(mt::max_abs_diff(m->encode_images(pv), mt::model(kMerged)->encode_images(pv)) <= 1e-6);
}

TEST_CASE("weights: in-memory PEFT state dict = merged model (LoRA merged, modules_to_save beats original_module)") {
  c10::InferenceMode g;
  mt::TempDir tmp;
  mt::TensorList ts = peft_state_dict();
  std::string dir = write_peft(tmp, ts);
  LoadReport rep;
  WeightMap w = load(dir, "", &rep);
  check_same_weights(w, merged_reference(), 1e-6, "PEFT state dict vs merged_fp32");
  const auto cfg = mt::config_of(kMerged);
  CHECK(rep.lora_pairs_merged == 2 * cfg.text.num_hidden_layers);
  CHECK(rep.lora_scaling == doctest::Approx(32.0 / 8.0));
  CHECK(rep.unexpected.empty());

  // The test only proves something if the stock copies differ from the fine-tuned ones
  // and the LoRA update is not negligible.
  WeightMap base = load(mt::gpath("models/base_fp32"));
  CHECK(mt::max_abs_diff(base.at("vision_model.embeddings.cls_token"), w.at("vision_model.embeddings.cls_token")) > 1e-3);
  CHECK(mt::max_abs_diff(base.at("abstractor.readout.0.weight"), w.at("abstractor.readout.0.weight")) > 1e-3);
  const std::string q = "language_model.model.layers.0.self_attn.q_proj.weight";
  CHECK(mt::max_abs_diff(base.at(q), w.at(q)) > 1e-4);
  const std::string k = "language_model.model.layers.0.self_attn.k_proj.weight";
  CHECK(at::equal(base.at(k), w.at(k)));

  SUBCASE("old PEFT without the base_layer segment") {
    for (auto& t : ts) {
      const size_t p = t.name.find(".base_layer.");
      if (p != std::string::npos) t.name.erase(p, 11);
    }
    mt::TempDir tmp2;
    check_same_weights(load(write_peft(tmp2, ts)), merged_reference(), 1e-6, "PEFT without base_layer");
  }
}

TEST_CASE("weights: base checkpoint + separate adapter folder = merged model") {
  c10::InferenceMode g;
  LoadReport rep;
  WeightMap w = load(mt::gpath("models/base_fp32"), mt::gpath("models/adapter"), &rep);
  check_same_weights(w, merged_reference(), 1e-6, "base + adapter vs merged_fp32");
  CHECK(rep.lora_pairs_merged == 2 * mt::config_of(kMerged).text.num_hidden_layers);
  CHECK(rep.unexpected.empty());
}

TEST_CASE("weights: an unknown wrapper prefix loads identically") {
  c10::InferenceMode g;
  for (const std::string prefix : {"model.", "mllm.inner."}) {
    INFO(prefix);
    mt::TempDir tmp;
    std::string dir = build(tmp, [&](mt::TensorList& ts) {
      for (auto& t : ts) t.name = prefix + t.name;
    });
    LoadReport rep;
    check_same_weights(load(dir, "", &rep), merged_reference(), 0, "prefix " + prefix);
    CHECK(rep.unexpected.empty());
  }
  SUBCASE("a prefixed and an unprefixed copy of one tensor collide") {
    mt::TempDir tmp;
    std::string dir = build(tmp, [&](mt::TensorList& ts) {
      auto copy = *mt::find(ts, "abstractor.pos_emb");
      copy.name = "model.abstractor.pos_emb";
      ts.push_back(copy);
    });
    std::string msg;
    CHECK(mt::status_of([&] { load(dir); }, &msg) == Status::format_error);
    CHECK(msg.find("abstractor.pos_emb") != std::string::npos);
  }
}

TEST_CASE("weights: LoRA errors") {
  c10::InferenceMode g;
  mt::TempDir tmp;
  mt::TensorList ts = peft_state_dict();

  SUBCASE("LoRA tensors without any adapter_config.json -> format_error") {
    std::string msg;
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts, false)); }, &msg) == Status::format_error);
    CHECK(msg.find("adapter_config.json") != std::string::npos);
  }
  SUBCASE("lora_A without lora_B -> model_error") {
    const std::string b = first_lora(ts, ".lora_B.");
    const std::string a = b.substr(0, b.find(".lora_B.")) + ".lora_A.default.weight";
    REQUIRE(mt::erase(ts, b));
    std::string msg;
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts)); }, &msg) == Status::model_error);
    CHECK(msg.find(a) != std::string::npos);
  }
  SUBCASE("lora_B without lora_A -> model_error") {
    const std::string a = first_lora(ts, ".lora_A.");
    REQUIRE(mt::erase(ts, a));
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts)); }) == Status::model_error);
  }
  SUBCASE("rank differs from adapter_config r -> model_error") {
    const std::string a = first_lora(ts, ".lora_A.");
    const std::string b = a.substr(0, a.find(".lora_A.")) + ".lora_B.default.weight";
    auto* ta = mt::find(ts, a);
    auto* tb = mt::find(ts, b);
    REQUIRE(ta);
    REQUIRE(tb);
    REQUIRE(ta->shape[0] == 8);
    *ta = mt::from_tensor(a, mt::to_tensor(*ta).slice(0, 0, 4));
    *tb = mt::from_tensor(b, mt::to_tensor(*tb).slice(1, 0, 4));
    std::string msg;
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts)); }, &msg) == Status::model_error);
    CHECK(msg.find(a) != std::string::npos);
  }
  SUBCASE("lora_B rank disagrees with lora_A -> model_error") {
    const std::string a = first_lora(ts, ".lora_A.");
    const std::string b = a.substr(0, a.find(".lora_A.")) + ".lora_B.default.weight";
    auto* tb = mt::find(ts, b);
    REQUIRE(tb);
    *tb = mt::from_tensor(b, mt::to_tensor(*tb).slice(1, 0, 4));
    std::string msg;
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts)); }, &msg) == Status::model_error);
  }
  SUBCASE("lora_A whose input size does not fit the weight -> model_error") {
    const std::string a = first_lora(ts, ".lora_A.");
    auto* ta = mt::find(ts, a);
    REQUIRE(ta);
    *ta = mt::from_tensor(a, mt::to_tensor(*ta).slice(1, 0, ta->shape[1] - 1));
    std::string msg;
    CHECK(mt::status_of([&] { load(write_peft(tmp, ts)); }, &msg) == Status::model_error);
  }
}

TEST_CASE("weights: a non-float weight dtype is unsupported") {
  mt::TempDir tmp;
  const std::string n = "language_model.model.layers.0.mlp.gate_proj.weight";
  std::string dir = build(tmp, [&](mt::TensorList& ts) {
    auto* t = mt::find(ts, n);
    REQUIRE(t);
    REQUIRE(t->dtype == m4cxr::DType::f32);
    t->dtype = m4cxr::DType::i32;  // same byte size: only the label changes
  });
  std::string msg;
  CHECK(mt::status_of([&] { load(dir); }, &msg) == Status::unsupported);
  CHECK(msg.find(n) != std::string::npos);
  CHECK(mt::status_of([&] { m4cxr::Model::load(dir); }) == Status::unsupported);
}

TEST_CASE("weights: missing folders and files are io errors") {
  mt::TempDir tmp;
  const std::string nowhere = tmp.sub("does_not_exist");
  const auto merged = mt::gpath(kMerged);
  std::string msg;

  CHECK(mt::status_of([&] { load(merged, nowhere); }, &msg) == Status::io_error);
  CHECK(msg.find(nowhere) != std::string::npos);
  m4cxr::ModelOptions o;
  o.runtime = mt::runtime(at::kFloat);
  o.threads = 2;
  o.adapter_dir = nowhere;
  CHECK(mt::status_of([&] { m4cxr::Model::load(merged, o); }) == Status::io_error);

  CHECK(mt::status_of([&] { load(nowhere); }) == Status::io_error);
  CHECK(mt::status_of([&] { m4cxr::Model::load(nowhere); }, &msg) == Status::io_error);
  CHECK(msg.find(nowhere) != std::string::npos);

  mt::TensorList ts = mt::read_tensors(kMerged);
  const std::string no_config = tmp.sub("no_config"), no_tok = tmp.sub("no_tokenizer"), no_weights = tmp.sub("no_weights");
  mt::write_checkpoint(no_config, ts, kMerged, {"config.json"});
  CHECK(mt::status_of([&] { m4cxr::Model::load(no_config); }, &msg) == Status::io_error);
  CHECK(msg.find("config.json") != std::string::npos);
  mt::write_checkpoint(no_tok, ts, kMerged, {"tokenizer.model"});
  CHECK(mt::status_of([&] { m4cxr::Model::load(no_tok); }, &msg) == Status::io_error);
  CHECK(msg.find("tokenizer.model") != std::string::npos);
  mt::write_checkpoint(no_weights, {}, kMerged);
  mt::fs::remove(m4cxr::join_path(no_weights, "model.safetensors"));
  CHECK(mt::status_of([&] { m4cxr::Model::load(no_weights); }) == Status::io_error);
}

TEST_CASE("weights: progress rises to 1.0; returning false cancels") {
  c10::InferenceMode g;
  std::vector<double> seen;
  LoadReport rep;
  load(mt::gpath(kMerged), "", &rep, [&](double f) {
    seen.push_back(f);
    return true;
  });
  REQUIRE(seen.size() >= 2);
  for (size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i] > 0.0);
    CHECK(seen[i] <= 1.0);
    if (i) CHECK(seen[i] > seen[i - 1]);
  }
  CHECK(seen.back() == 1.0);

  int calls = 0;
  std::string msg;
  CHECK(mt::status_of([&] { load(mt::gpath(kMerged), "", nullptr, [&](double) { return ++calls < 3; }); }, &msg) ==
        Status::cancelled);
  CHECK(calls == 3);  // nothing is called after the abort

  m4cxr::ModelOptions o;
  o.runtime = mt::runtime(at::kFloat);
  o.threads = 2;
  int model_calls = 0;
  o.progress = [&](double) {
    ++model_calls;
    return false;
  };
  CHECK(mt::status_of([&] { m4cxr::Model::load(mt::gpath(kMerged), o); }) == Status::cancelled);
  CHECK(model_calls == 1);
}

TEST_CASE("weights: bf16 checkpoint as bf16 is zero-copy; as fp32 it is the exact upcast") {
  c10::InferenceMode g;
  const std::string rel = "models/merged_bf16";
  const std::string file = mt::gpath(rel + "/model.safetensors");
  WeightMap bf = load(mt::gpath(rel), "", nullptr, {}, at::kBFloat16, rel);
  auto src = m4cxr::TensorSource::open_directory(mt::gpath(rel));
  const auto regions = mappings_of(file);
  REQUIRE(regions.size() >= 2);  // the loader's map (kept alive by the tensors) and ours
  int zero_copy = 0;
  for (const auto& kv : bf) {
    INFO(kv.first);
    const auto* v = src->find(kv.first);
    REQUIRE(v);
    REQUIRE(v->dtype == m4cxr::DType::bf16);
    CHECK((kv.second.scalar_type() == at::kBFloat16));
    const int64_t want = file_offset(regions, v->data);
    REQUIRE(want >= 0);
    if (reinterpret_cast<uintptr_t>(v->data) % 2 != 0) continue;
    CHECK(file_offset(regions, kv.second.data_ptr()) == want);  // a view of the mapped file, same offset
    CHECK(kv.second.data_ptr() != static_cast<const void*>(v->data));  // ...of the loader's own mapping
    ++zero_copy;
  }
  CHECK(zero_copy > 0);
  CHECK(zero_copy == static_cast<int>(bf.size()));  // the golden header keeps every bf16 tensor aligned

  WeightMap fp = load(mt::gpath(rel), "", nullptr, {}, at::kFloat, rel);
  REQUIRE(fp.size() == bf.size());
  for (const auto& kv : fp) {
    INFO(kv.first);
    CHECK((kv.second.scalar_type() == at::kFloat));
    CHECK(file_offset(regions, kv.second.data_ptr()) == -1);  // converted: owns its memory
    mt::OwnedTensor raw{kv.first, src->find(kv.first)->dtype, src->find(kv.first)->shape,
                        std::vector<uint8_t>(src->find(kv.first)->data,
                                             src->find(kv.first)->data + src->find(kv.first)->nbytes)};
    CHECK(at::equal(kv.second, mt::to_tensor(raw).to(at::kFloat)));
    CHECK(at::equal(kv.second, bf.at(kv.first).to(at::kFloat)));
  }

  SUBCASE("fp32 checkpoint as fp32 is zero-copy too") {
    const std::string f32file = mt::gpath(std::string(kMerged) + "/model.safetensors");
    WeightMap w = load(mt::gpath(kMerged));
    auto s32 = m4cxr::TensorSource::open_directory(mt::gpath(kMerged));
    const auto r32 = mappings_of(f32file);  // after opening s32: both mappings
    int n = 0;
    for (const auto& kv : w) {
      const auto* v = s32->find(kv.first);
      REQUIRE(v);
      if (reinterpret_cast<uintptr_t>(v->data) % 4 != 0) continue;
      const int64_t want = file_offset(r32, v->data);
      REQUIRE(want >= 0);
      CHECK(file_offset(r32, kv.second.data_ptr()) == want);
      ++n;
    }
    CHECK(n > 0);
  }
}

TEST_CASE("weights: sharded and single-file checkpoints give identical weights") {
  c10::InferenceMode g;
  LoadReport rs;
  WeightMap sharded = load(mt::gpath("models/merged_fp32_sharded"), "", &rs, {}, at::kFloat, "models/merged_fp32_sharded");
  check_same_weights(sharded, merged_reference(), 0, "sharded vs single");
  LoadReport r1;
  load(mt::gpath(kMerged), "", &r1);
  CHECK(rs.bytes_read == r1.bytes_read);
  CHECK(rs.unexpected.empty());
}
