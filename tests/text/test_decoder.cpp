#include <doctest/doctest.h>

#include <random>

#include "common/error.h"
#include "io/mapped_file.h"
#include "text/incremental_decoder.h"
#include "text/tokenizer.h"
#include "text/utf8.h"
#include "text_test_util.h"

using m4cxr::Error;
using m4cxr::IncrementalDecoder;
using m4cxr::Status;
using m4cxr::Tokenizer;
using namespace m4cxr_test;

namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

std::string stream(const Tokenizer& t, const std::vector<int32_t>& ids, std::vector<std::string>* parts = nullptr) {
  IncrementalDecoder d(t);
  std::string all;
  for (int32_t id : ids) {
    std::string p = d.push(id);
    // Every emitted piece is complete, valid UTF-8 on its own.
    CHECK(m4cxr::utf8::is_valid(p));
    all += p;
    if (parts) parts->push_back(p);
  }
  const std::string tail = d.finish();
  CHECK(m4cxr::utf8::is_valid(tail));
  if (parts) parts->push_back(tail);
  return all + tail;
}

// Random ids biased towards the hard cases: byte pieces (valid and invalid UTF-8),
// specials, whitespace pieces, plus arbitrary vocabulary entries.
std::vector<int32_t> random_ids(std::mt19937& rng, int vocab, int ws1, int ws2) {
  std::uniform_int_distribution<int> len(0, 24), kind(0, 9), any(0, vocab - 1), byte(0, 255),
      special(0, 2), lead(0, 5);
  static const int leads[] = {0xC3, 0xE2, 0xF0, 0xED, 0xC0, 0xF4};
  std::vector<int32_t> ids;
  const int n = len(rng);
  for (int i = 0; i < n; ++i) {
    switch (kind(rng)) {
      case 0: case 1: ids.push_back(3 + byte(rng)); break;
      case 2: ids.push_back(3 + leads[lead(rng)]); break;
      case 3: ids.push_back(3 + 0x80 + byte(rng) % 64); break;  // continuation byte
      case 4: ids.push_back(special(rng)); break;
      case 5: ids.push_back(rng() % 2 ? ws1 : ws2); break;
      default: ids.push_back(any(rng)); break;
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("utf8 helpers follow SentencePiece") {
  using namespace m4cxr::utf8;
  bool v = false;
  CHECK(decode_step("a", &v) == 1);
  CHECK(v);
  CHECK(decode_step("\xC3\xA9", &v) == 2);
  CHECK(v);
  CHECK(decode_step("\xC3", &v) == 1);
  CHECK_FALSE(v);
  CHECK(decode_step("\xC0\xAF", &v) == 1);  // overlong
  CHECK_FALSE(v);
  CHECK(decode_step("\xED\xA0\x80", &v) == 1);  // surrogate
  CHECK_FALSE(v);
  CHECK(decode_step("\xF0\x9F\x98\x80", &v) == 4);
  CHECK(v);
  CHECK(decode_step("\xF4\x90\x80\x80", &v) == 1);  // > U+10FFFF
  CHECK_FALSE(v);
  CHECK(decode_step("\xEF\xBF\xBD", &v) == 3);  // U+FFFD itself is valid
  CHECK(v);
  CHECK_FALSE(step_is_final("\xE2"));
  CHECK_FALSE(step_is_final("\xE2\x86"));
  CHECK(step_is_final("\xE2\x41"));  // can never become valid
  CHECK(step_is_final("\x80"));
  CHECK(step_is_final("\xE2\x86\x92"));
  std::string out;
  append_bytes("\xE2\x86" "A\xE2\x86\x92", &out);
  CHECK(out == kFFFD + kFFFD + "A\xE2\x86\x92");
}

TEST_CASE("decode == transformers-style decode over libsentencepiece (fuzz)") {
  for (const std::string& path : {mistral_model_path(), tiny_model_path()}) {
    INFO(path);
    const auto tok = Tokenizer::load(path);
    const Oracle oracle(path);
    const int ws1 = tok->piece_to_id("\xE2\x96\x81");
    const int ws2 = tok->piece_to_id("\xE2\x96\x81\xE2\x96\x81");
    std::mt19937 rng(20240607);
    int mismatches = 0;
    for (int it = 0; it < 3000; ++it) {
      const auto ids = random_ids(rng, tok->vocab_size(), ws1, ws2);
      const std::string want = oracle.hf_decode(ids);
      if (tok->decode(ids) != want) {
        ++mismatches;
        if (mismatches < 5) CHECK(tok->decode(ids) == want);
      }
      if (stream(*tok, ids) != tok->decode(ids)) ++mismatches;  // the streaming invariant
    }
    CHECK(mismatches == 0);
  }
}

// Every {generated_ids, generated_text} record anywhere in the manifest.
static void collect_generations(const nlohmann::json& j,
                         std::vector<std::pair<std::vector<int32_t>, std::string>>* out) {
  if (j.is_object()) {
    if (j.contains("generated_ids") && j.contains("generated_text"))
      out->emplace_back(to_ids(j.at("generated_ids")), j.at("generated_text").get<std::string>());
    for (const auto& item : j.items()) collect_generations(item.value(), out);
  } else if (j.is_array()) {
    for (const auto& v : j) collect_generations(v, out);
  }
}

TEST_CASE("decode and IncrementalDecoder reproduce the golden generations") {
  const Tokenizer& t = tiny();
  std::vector<std::pair<std::vector<int32_t>, std::string>> gens;
  collect_generations(manifest(), &gens);
  REQUIRE(gens.size() >= 8);
  for (const auto& [ids, text] : gens) {
    CHECK(t.decode(ids) == text);
    CHECK(stream(t, ids) == text);
  }
  MESSAGE("golden generations checked: " << gens.size());
}

TEST_CASE("IncrementalDecoder emits characters as soon as they are complete") {
  const Tokenizer& t = mistral();
  IncrementalDecoder d(t);
  CHECK(d.push(t.encode("Hi")[0]) == "Hi");  // "▁Hi": first piece loses its "▁"
  CHECK(d.push(3 + 0xE2).empty());
  CHECK(d.push(2).empty());  // EOS in between does not break the byte run
  CHECK(d.push(3 + 0x86).empty());
  CHECK(d.push(3 + 0x92) == "\xE2\x86\x92");
  CHECK(d.push(3 + 0xE2).empty());
  CHECK(d.push(3 + 0x41) == kFFFD + "A");  // decided early: 'A' is no trail byte
  CHECK(d.push(3 + 0xF0).empty());
  CHECK(d.push(3 + 0x9F).empty());
  CHECK(d.finish() == kFFFD + kFFFD);  // incomplete at the end: one U+FFFD per byte
  // finish() started a fresh stream: the first piece loses its "▁" again.
  // ("▁" then "▁Hi": HF leaves "" + "▁Hi", SentencePiece then drops the dummy space.)
  CHECK(d.push(28705) == "");
  CHECK(d.push(t.encode("Hi")[0]) == "Hi");
  CHECK(d.finish().empty());
}

TEST_CASE("IncrementalDecoder: invalid ids throw and keep the state") {
  const Tokenizer& t = mistral();
  IncrementalDecoder d(t);
  CHECK(d.push(3 + 0xC3).empty());
  for (int32_t bad : {-1, 32000, 1 << 30}) {
    try {
      d.push(bad);
      FAIL("no throw");
    } catch (const Error& e) {
      CHECK(e.status() == Status::invalid_argument);
    }
  }
  CHECK(d.push(3 + 0xA9) == "\xC3\xA9");
  d.reset();
  CHECK(d.finish().empty());
}

TEST_CASE("IncrementalDecoder: long output stays linear") {
  const Tokenizer& t = mistral();
  std::vector<int32_t> ids;
  const auto unit = t.encode("The heart is enlarged. \xE2\x86\x92 No pleural effusion.\n");
  for (int i = 0; i < 4000; ++i) ids.insert(ids.end(), unit.begin(), unit.end());
  std::vector<std::string> parts;
  CHECK(stream(t, ids, &parts) == t.decode(ids));
  CHECK(parts.size() == ids.size() + 1);
}
