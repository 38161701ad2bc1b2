#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "common/error.h"
#include "io/mapped_file.h"
#include "text/tokenizer.h"
#include "text_test_util.h"

using m4cxr::Error;
using m4cxr::Status;
using m4cxr::Tokenizer;
using namespace m4cxr_test;

namespace {

bool has_special_string(const std::string& s) {
  return s.find("<s>") != std::string::npos || s.find("</s>") != std::string::npos ||
         s.find("<unk>") != std::string::npos;
}

std::string temp_file(const std::string& name, const std::string& content) {
  const std::string path = "/tmp/m4cxr_text_test_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

Status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.status();
  }
  return Status::ok;
}

}  // namespace

TEST_CASE("mistral tokenizer: basic facts (docs/upstream-model.md §6.1)") {
  const Tokenizer& t = mistral();
  CHECK(t.vocab_size() == 32000);
  CHECK(t.unk_id() == 0);
  CHECK(t.bos_id() == 1);
  CHECK(t.eos_id() == 2);
  CHECK(t.pad_id() == 0);
  CHECK(t.id_to_piece(28705) == "\xE2\x96\x81");
  CHECK(t.id_to_piece(259) == "\xE2\x96\x81\xE2\x96\x81");
  CHECK(t.id_to_piece(13) == "<0x0A>");
  CHECK(t.byte_value(13) == 0x0A);
  CHECK(t.byte_value(3) == 0);
  CHECK(t.byte_value(258) == 255);
  CHECK(t.byte_value(28705) == -1);
  CHECK(t.is_special(0));
  CHECK(t.is_special(1));
  CHECK(t.is_special(2));
  CHECK_FALSE(t.is_special(3));
  CHECK(t.piece_to_id("<s>") == 1);
  CHECK(t.piece_to_id("no such piece at all") == 0);
}

TEST_CASE("mistral tokenizer: vectors.jsonl (raw SentencePiece encode/decode)") {
  const Tokenizer& t = mistral();
  const auto lines = read_jsonl(mistral_dir() + "/vectors.jsonl");
  REQUIRE(lines.size() == 398);
  const Oracle oracle(mistral_model_path());
  int differs = 0, literal_space_symbol = 0;
  for (const auto& v : lines) {
    const std::string text = v["text"].get<std::string>();
    const auto with_bos = to_ids(v["ids_with_bos"]);
    const auto without_bos = to_ids(v["ids_without_bos"]);
    const std::string decoded = v["decoded"].get<std::string>();
    INFO("group=" << v["group"].get<std::string>() << " text=" << text);
    CHECK(t.encode(text, true) == with_bos);
    CHECK(t.encode(text, false) == without_bos);
    CHECK(t.decode_raw(with_bos) == decoded);
    // encode_chunk only differs from plain SentencePiece when "<s>"/"</s>"/"<unk>" occur.
    if (!has_special_string(text)) CHECK(t.encode_chunk(text) == without_bos);
    // Upstream decode = raw decode except for leading whitespace: HF strips one "▁" from
    // the first token and SentencePiece then drops a dummy-prefix space as well.
    const std::string up = t.decode(with_bos);
    CHECK(up == oracle.hf_decode(with_bos));
    CHECK(t.decode(without_bos) == up);
    if (decoded.empty() || decoded[0] != ' ') CHECK(up == decoded);
    if (up != decoded) ++differs;
    // 16+ leading spaces: the first token "▁"x16 loses one "▁"; "▁"x15 is not a piece, so
    // SentencePiece emits the unknown string verbatim, i.e. literal U+2581 characters.
    if (up.find("\xE2\x96\x81") != std::string::npos && decoded.find("\xE2\x96\x81") == std::string::npos)
      ++literal_space_symbol;
  }
  MESSAGE("vectors.jsonl: " << lines.size() << " lines; upstream decode() differs from raw decode in "
                            << differs << " (leading spaces), " << literal_space_symbol
                            << " of them with literal U+2581");
}

TEST_CASE("mistral tokenizer: docs/upstream-model.md §6.3 / §11 chunk ids") {
  const Tokenizer& t = mistral();
  using V = std::vector<int32_t>;
  CHECK(t.encode_chunk(" ") == V{259});
  CHECK(t.encode_chunk(" grabbed") == V{28705, 13300});
  CHECK(t.encode_chunk("Yes.") == V{5592, 28723});
  CHECK(t.encode_chunk("Yes.</s>") == V{5592, 28723, 2});
  CHECK(t.encode_chunk("[INST]") == V{733, 16289, 28793});
  CHECK(t.encode_chunk("[/INST]") == V{733, 28748, 16289, 28793});
  CHECK(t.encode_chunk("<s>") == V{1});
  CHECK(t.encode_chunk("</s>") == V{2});
  CHECK(t.encode_chunk("<unk>") == V{0});
  CHECK(t.encode_chunk("").empty());
  CHECK(t.encode("", true) == V{1});
  CHECK(t.encode("").empty());
  // "domesticated" -> [2853, 374, 6899] (mistral-inference issue #134, per README).
  CHECK(t.encode("domesticated") == V{2853, 374, 6899});
  // Plain encode treats "<s>" as text; encode_chunk matches it.
  CHECK(t.encode("<s>") != V{1});
  // Segments around special strings each get their own dummy prefix, spaces are kept
  // (AddedToken lstrip/rstrip = false).
  const V a = t.encode_chunk("Hi <s> there");
  V b = t.encode("Hi ");
  b.push_back(1);
  const V c = t.encode(" there");
  b.insert(b.end(), c.begin(), c.end());
  CHECK(a == b);
  // Leftmost match, and a partial "<s" is text.
  V d = t.encode("<s");
  d.push_back(1);
  CHECK(t.encode_chunk("<s<s>") == d);
  V e{2, 1};
  CHECK(t.encode_chunk("</s><s>") == e);
}

TEST_CASE("tiny tokenizer: manifest tokenizer.cases") {
  const Tokenizer& t = tiny();
  const auto& tk = manifest().at("tokenizer");
  CHECK(t.vocab_size() == tk.at("vocab_size").get<int>());
  int n = 0;
  for (const auto& c : tk.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    const auto ids = to_ids(c.at("ids_no_special"));
    INFO("text=" << text);
    CHECK(t.encode_chunk(text) == ids);
    CHECK(t.decode(ids) == c.at("decoded").get<std::string>());
    const auto pieces = c.at("pieces").get<std::vector<std::string>>();
    REQUIRE(pieces.size() == ids.size());
    for (size_t i = 0; i < ids.size(); ++i) CHECK(t.id_to_piece(ids[i]) == pieces[i]);
    ++n;
  }
  CHECK(n > 0);
  MESSAGE("tiny tokenizer cases: " << n);
}

TEST_CASE("decode: upstream rules on hand-made id sequences") {
  const Tokenizer& t = mistral();
  using V = std::vector<int32_t>;
  CHECK(t.decode({}).empty());
  CHECK(t.decode({1, 2, 0}).empty());
  // First piece loses one "▁", then SentencePiece drops the dummy space once more.
  const V the = t.encode("The");
  V ids{259};
  ids.insert(ids.end(), the.begin(), the.end());
  // "▁▁" -> "▁", which SentencePiece consumes as the dummy prefix; "▁The" keeps its space.
  CHECK(t.decode(ids) == " The");
  CHECK(t.decode_raw(ids) == "  The");
  // "▁" -> "" (not a piece: emitted verbatim, and it is empty), so "▁The" loses the space.
  V ids2{28705};
  ids2.insert(ids2.end(), the.begin(), the.end());
  CHECK(t.decode(ids2) == "The");
  // Bytes split by a special id are still joined (specials are removed first).
  CHECK(t.decode({3 + 0xE2, 2, 3 + 0x86, 3 + 0x92}) == "\xE2\x86\x92");
  // Invalid bytes: one U+FFFD each (SentencePiece rule), incomplete tail too.
  CHECK(t.decode({3 + 0xE2, 3 + 0x86}) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(t.decode({3 + 0xFF}) == "\xEF\xBF\xBD");
  CHECK(t.decode({3 + 0xEF, 3 + 0xBF, 3 + 0xBD}) == "\xEF\xBF\xBD");
  // unk (0) is dropped like bos/eos (it is a special token of the HF tokenizer).
  CHECK(t.decode({0, 5592, 0, 28723}) == "Yes.");
  // Answer ids with EOS decode without the dummy-prefix space.
  CHECK(t.decode({5592, 28723, 2}) == "Yes.");
}

TEST_CASE("bad input: ids out of range") {
  const Tokenizer& t = mistral();
  CHECK(status_of([&] { t.decode({5, -1}); }) == Status::invalid_argument);
  CHECK(status_of([&] { t.decode({32000}); }) == Status::invalid_argument);
  CHECK(status_of([&] { t.decode_raw({-7}); }) == Status::invalid_argument);
  CHECK(status_of([&] { t.id_to_piece(40000); }) == Status::invalid_argument);
  CHECK(t.byte_value(-1) == -1);
  try {
    t.decode({1, 2, 99999});
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("99999") != std::string::npos);
    CHECK(std::string(e.what()).find("position 2") != std::string::npos);
  }
}

TEST_CASE("bad input: missing and corrupt tokenizer files") {
  CHECK(status_of([] { Tokenizer::load("/nonexistent/dir/tokenizer.model"); }) == Status::io_error);
  CHECK(status_of([] { Tokenizer::load("/tmp"); }) == Status::io_error);

  const std::string empty = temp_file("empty.model", "");
  const std::string text = temp_file("text.model", "this is not a sentencepiece model\n");
  std::string rnd(4096, '\0');
  std::mt19937 rng(1234);
  for (char& c : rnd) c = static_cast<char>(rng() & 0xFF);
  const std::string random = temp_file("random.model", rnd);
  const std::string real = m4cxr::read_file_text(mistral_model_path());
  const std::string truncated = temp_file("truncated.model", real.substr(0, real.size() / 2));
  std::string flipped = real;
  flipped[1] = static_cast<char>(0xFF);  // breaks the first length prefix
  const std::string bad_len = temp_file("badlen.model", flipped);

  for (const std::string& p : {empty, text, random, truncated, bad_len}) {
    INFO(p);
    try {
      Tokenizer::load(p);
      FAIL("loaded a corrupt model");
    } catch (const Error& e) {
      CHECK(e.status() == Status::format_error);
      CHECK(std::string(e.what()).find(p) != std::string::npos);  // names the file
    }
    std::remove(p.c_str());
  }
  CHECK(status_of([] { Tokenizer::from_serialized("garbage\x01\x02", "blob"); }) == Status::format_error);
  // The same bytes through from_serialized work.
  auto t = Tokenizer::from_serialized(real, "copy");
  CHECK(t->encode("Yes.") == std::vector<int32_t>{5592, 28723});
}

TEST_CASE("bad input: any byte string encodes and decodes without crashing") {
  const Tokenizer& t = mistral();
  const std::vector<std::string> nasty = {
      std::string("\xFF\xFE\xFD", 3),       std::string("a\x80" "b", 3),
      std::string("\xE2\x82", 2),           std::string("\xF0\x9F\x98", 3),
      std::string("\xED\xA0\x80", 3),  // UTF-16 surrogate
      std::string("\xC0\xAF", 2),           std::string("x\0y", 3),
      std::string("<s\xFF></s>", 9),        std::string("\xF4\x90\x80\x80", 4),
  };
  for (const std::string& s : nasty) {
    const auto ids = t.encode_chunk(s);
    CHECK_FALSE(ids.empty());
    const std::string back = t.decode(ids);
    // Malformed bytes come back as U+FFFD, the rest is preserved; always valid UTF-8.
    bool valid = true;
    for (size_t i = 0; i < back.size();) {
      const auto c = static_cast<unsigned char>(back[i]);
      const size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (k == 0 || i + k > back.size()) { valid = false; break; }
      i += k;
    }
    CHECK(valid);
    t.encode(s, true);
  }
  CHECK(t.decode(t.encode_chunk(std::string("a\x80" "b", 3))) == "a\xEF\xBF\xBD" "b");
}

TEST_CASE("tokenizer is shareable across threads") {
  const Tokenizer& t = mistral();
  const auto lines = read_jsonl(mistral_dir() + "/vectors.jsonl");
  std::vector<std::thread> pool;
  std::vector<int> bad(4, 0);
  for (int w = 0; w < 4; ++w)
    pool.emplace_back([&, w] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = w; i < lines.size(); i += 2) {
          const std::string text = lines[i]["text"].get<std::string>();
          const auto ids = to_ids(lines[i]["ids_with_bos"]);
          if (t.encode(text, true) != ids) ++bad[w];
          if (t.decode_raw(ids) != lines[i]["decoded"].get<std::string>()) ++bad[w];
          (void)t.decode(ids);
        }
    });
  for (auto& th : pool) th.join();
  for (int b : bad) CHECK(b == 0);
}
