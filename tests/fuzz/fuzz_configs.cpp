// Fuzz target: the JSON files of a model folder. First input byte chooses the file:
// 0 config.json, 1 adapter_config.json, 2 preprocessor_config.json; the rest is its text.
// Invariants: an accepted configuration has the positive sizes the model code relies on.
#include <filesystem>

#include "fuzz_support.h"
#include "image/preprocess_config.h"
#include "io/model_config.h"

using namespace m4cxr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const std::string dir = fuzz::scratch_dir();
  switch (in.take_byte() % 3) {
    case 0:
      fuzz::write_file(dir + "/config.json", in.rest());
      fuzz::accepts([&] {
        const ModelConfig c = load_model_config(dir);
        FUZZ_CHECK(c.num_visual_tokens() > 0);
        FUZZ_CHECK(c.vision.patch_size > 0 && c.vision.image_size >= c.vision.patch_size);
        FUZZ_CHECK(c.vision.num_patches() > 0);
        FUZZ_CHECK(c.text.num_attention_heads > 0 && c.text.num_key_value_heads > 0);
        FUZZ_CHECK(c.text.num_attention_heads % c.text.num_key_value_heads == 0);
        FUZZ_CHECK(c.text.head_dim > 0 && c.text.head_dim % 2 == 0);
        FUZZ_CHECK(c.text.bos_token_id >= 0 && c.text.bos_token_id < c.text.vocab_size);
        FUZZ_CHECK(c.text.eos_token_id >= 0 && c.text.eos_token_id < c.text.vocab_size);
        FUZZ_CHECK(c.projector.output_hidden_size == c.text.hidden_size);
      });
      break;
    case 1:
      fuzz::write_file(dir + "/adapter_config.json", in.rest());
      fuzz::accepts([&] {
        const LoraConfig c = load_lora_config(dir);
        FUZZ_CHECK(c.r >= 1);
        (void)c.scaling();
      });
      break;
    default:
      fuzz::write_file(dir + "/preprocessor_config.json", in.rest());
      fuzz::accepts([&] {
        const PreprocessConfig c = load_preprocess_config(dir);
        validate_preprocess_config(c);  // what the loader accepted must be valid
      });
      break;
  }
  return 0;
}
