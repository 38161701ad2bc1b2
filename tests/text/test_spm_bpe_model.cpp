// m4cxr's own SentencePiece BPE against libsentencepiece (the reference), on the real
// Mistral tokenizer and the tiny golden one: random strings built from spaces, letters,
// arbitrary bytes (invalid UTF-8), "▁", newlines and whole vocabulary pieces.
#include <doctest/doctest.h>
#include <sentencepiece_processor.h>

#include <random>

#include "common/error.h"
#include "io/mapped_file.h"
#include "text/spm_bpe_model.h"
#include "text_test_util.h"

using namespace m4cxr;

namespace {

void fuzz_against_reference(const std::string& path, int cases, unsigned seed) {
  const std::string bytes = read_file_text(path, 64u << 20);
  SpmBpeModel mine(bytes, path);
  sentencepiece::SentencePieceProcessor ref;
  REQUIRE(ref.LoadFromSerializedProto(bytes).ok());
  REQUIRE(mine.size() == ref.GetPieceSize());
  CHECK(mine.unk_id() == ref.unk_id());
  CHECK(mine.bos_id() == ref.bos_id());
  CHECK(mine.eos_id() == ref.eos_id());
  std::mt19937 rng(seed);
  int mismatches = 0;
  for (int t = 0; t < cases; ++t) {
    const int len = static_cast<int>(rng() % 48);
    std::string s;
    for (int i = 0; i < len; ++i) {
      switch (rng() % 10) {
        case 0: case 1: case 2: s += ' '; break;
        case 3: case 4: s += static_cast<char>('a' + rng() % 26); break;
        case 5: s += static_cast<char>(rng() % 256); break;
        case 6: s += "\xE2\x96\x81"; break;
        case 7: s += '\n'; break;
        default: s += mine.id_to_piece(static_cast<int>(rng() % static_cast<unsigned>(mine.size())));
      }
    }
    std::vector<int> want;
    REQUIRE(ref.Encode(s, &want).ok());
    if (mine.encode(s) != want) ++mismatches;
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("own BPE encodes exactly like libsentencepiece (real Mistral tokenizer)") {
  fuzz_against_reference(m4cxr_test::test_data_dir() + "/mistral-tokenizer/tokenizer.model", 4000, 1);
}

TEST_CASE("own BPE encodes exactly like libsentencepiece (tiny golden tokenizer)") {
  fuzz_against_reference(m4cxr_test::golden_path("models/merged_fp32/tokenizer.model"), 4000, 2);
}

TEST_CASE("own BPE rejects malformed model bytes") {
  for (const std::string& junk : {std::string(), std::string("\x0a\xff\xff\xff\xff\x0f", 6), std::string("garbage!")}) {
    try {
      SpmBpeModel m(junk, "junk.model");
      FAIL("accepted junk");
    } catch (const Error& e) {
      CHECK((e.status() == Status::format_error || e.status() == Status::unsupported));
    }
  }
}

TEST_CASE("own BPE refuses byte pieces that are not exactly <0xHH> (issue 9, finding 1)") {
  // A crafted tokenizer.model whose byte piece reads "<0x-7>": sscanf("%2X") took the sign
  // and indexed 4294967289 entries past a 256-entry table. Every spelling that is not two
  // upper-case hex digits must be refused as a format error, naming the piece.
  const std::string path = m4cxr_test::golden_path("models/merged_fp32/tokenizer.model");
  const std::string original = read_file_text(path, 64u << 20);
  const size_t at = original.find("<0x07>");
  REQUIRE(at != std::string::npos);
  for (const char* bad : {"<0x-7>", "<0x+7>", "<0x 7>", "<0x7 >", "<0xG7>", "<0x0a>"}) {
    CAPTURE(bad);
    std::string bytes = original;
    bytes.replace(at, 6, bad);
    try {
      SpmBpeModel m(bytes, "crafted.model");
      FAIL("accepted a malformed byte piece");
    } catch (const Error& e) {
      CHECK(e.status() == Status::format_error);
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
    }
  }
  CHECK(parse_byte_piece("<0x07>") == 7);
  CHECK(parse_byte_piece("<0xFF>") == 255);
  CHECK(parse_byte_piece("<0x-7>") == -1);
  CHECK(parse_byte_piece("<0x7>") == -1);
  CHECK(parse_byte_piece("<0x007>") == -1);
}
