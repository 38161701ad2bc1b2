// Fuzz target: text in and out of the real Mistral tokenizer (tests/data). First input byte:
//   0  the rest is text -> encode / encode_chunk: every id in range; decoding it never fails;
//   1  the rest is little-endian uint16 ids -> decode: the streaming decoder, fed one id at
//      a time, produces exactly decode()'s text (the property the streamed answers rely on);
//   2  the rest is a prompt -> encode_prompt: image slots come in whole runs, one per
//      marker unless truncated, every other id in range, the mask as long as the ids.
#include "fuzz_support.h"
#include "text/chat_prompt.h"
#include "text/incremental_decoder.h"
#include "text/tokenizer.h"

using namespace m4cxr;

namespace {

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = Tokenizer::load(M4CXR_FUZZ_TOKENIZER);
  return *tok;
}

void check_text(std::string_view text) {
  const Tokenizer& tok = tokenizer();
  fuzz::accepts([&] {
    const auto ids = tok.encode(text, true);
    for (int32_t id : ids) FUZZ_CHECK(tok.valid_id(id));
    FUZZ_CHECK(!ids.empty() && ids[0] == tok.bos_id());
    const auto chunk = tok.encode_chunk(text);
    for (int32_t id : chunk) FUZZ_CHECK(tok.valid_id(id));
    (void)tok.decode(chunk);
    (void)tok.decode_raw(ids);
  });
}

void check_stream(fuzz::Input in) {
  const Tokenizer& tok = tokenizer();
  std::vector<int32_t> ids;
  while (in.size >= 2) {
    const uint32_t v = in.take_byte() | (uint32_t(in.take_byte()) << 8);
    ids.push_back(static_cast<int32_t>(v % uint32_t(tok.vocab_size())));
  }
  std::string whole;
  FUZZ_CHECK(fuzz::accepts([&] { whole = tok.decode(ids); }));
  IncrementalDecoder dec(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.push(id);
  streamed += dec.finish();
  FUZZ_CHECK(streamed == whole);
  // An id outside the vocabulary is refused, and leaves the decoder usable.
  bool refused = !fuzz::accepts([&] { (void)dec.push(tok.vocab_size()); });
  FUZZ_CHECK(refused);
}

void check_prompt(std::string_view text) {
  const Tokenizer& tok = tokenizer();
  constexpr int kVisual = 5;
  fuzz::accepts([&] {
    const EncodedPrompt p = encode_prompt(tok, text, kVisual, 512);
    FUZZ_CHECK(p.answer_mask.size() == p.ids.size());
    FUZZ_CHECK(p.ids.size() <= 513);
    int runs = 0;
    for (size_t i = 0; i < p.ids.size();) {
      if (p.ids[i] == kImagePlaceholderId) {
        size_t j = i;
        while (j < p.ids.size() && p.ids[j] == kImagePlaceholderId) ++j;
        FUZZ_CHECK((j - i) % kVisual == 0);  // never half an image
        runs += static_cast<int>((j - i) / kVisual);
        i = j;
      } else {
        FUZZ_CHECK(tok.valid_id(p.ids[i]));
        ++i;
      }
    }
    FUZZ_CHECK(runs == p.n_image_runs);
    FUZZ_CHECK(p.n_image_runs <= p.n_image_markers);
    FUZZ_CHECK(p.truncated || p.n_image_runs == p.n_image_markers);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  switch (in.take_byte() % 3) {
    case 0: check_text(in.rest()); break;
    case 1: check_stream(in); break;
    default: check_prompt(in.rest()); break;
  }
  return 0;
}
