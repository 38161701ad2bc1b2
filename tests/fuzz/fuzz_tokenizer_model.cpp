// Fuzz target: the tokenizer.model parser (SentencePiece ModelProto, read by m4cxr's own
// wire reader). Invariants for an accepted model: special ids in range, every id has a
// piece, and encoding/decoding a fixed text gives ids in range and never fails.
#include "fuzz_support.h"
#include "text/tokenizer.h"

using namespace m4cxr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::accepts([&] {
    auto tok = Tokenizer::from_serialized(std::move(bytes), "fuzz");
    const int32_t n = tok->vocab_size();
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(tok->valid_id(tok->unk_id()));
    for (int32_t id : {tok->bos_id(), tok->eos_id()}) FUZZ_CHECK(id == -1 || tok->valid_id(id));
    for (int32_t id = 0; id < n && id < 4096; ++id) (void)tok->id_to_piece(id);
    for (const char* text : {"Findings: no acute \xC3\xA9 <s> [INST] \xFF\xFE", "", " "}) {
      const auto ids = tok->encode(text, true);
      for (int32_t id : ids) FUZZ_CHECK(tok->valid_id(id));
      const auto chunk = tok->encode_chunk(text);
      for (int32_t id : chunk) FUZZ_CHECK(tok->valid_id(id));
      (void)tok->decode(ids);
      (void)tok->decode_raw(ids);
    }
  });
  return 0;
}
