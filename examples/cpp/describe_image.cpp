// m4cxr_describe: the core C++ pipeline end to end, bytes -> pixels -> visual tokens ->
// prompt -> streamed tokens. Usage:
//   m4cxr_describe MODEL_DIR IMAGE [QUESTION] [--fp32] [--max-new-tokens N] [--adapter DIR]
// The question defaults to the paper's single-image report request (TASKS.md R1).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.h"
#include "engine/conversation.h"
#include "engine/model.h"
#include "image/image_decoder.h"
#include "image/preprocess.h"
#include "text/chat_prompt.h"
#include "text/incremental_decoder.h"

int main(int argc, char** argv) {
  using namespace m4cxr;
  std::string model_dir, image, question = "Provide a description of the findings in the radiology image.";
  ModelOptions opt;
  GenerationOptions gen;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--fp32") opt.runtime.dtype = at::kFloat;
    else if (a == "--max-new-tokens" && i + 1 < argc) gen.max_new_tokens = std::atoi(argv[++i]);
    else if (a == "--adapter" && i + 1 < argc) opt.adapter_dir = argv[++i];
    else if (positional == 0 && ++positional) model_dir = a;
    else if (positional == 1 && ++positional) image = a;
    else if (positional == 2 && ++positional) question = a;
  }
  if (model_dir.empty() || image.empty()) {
    std::fprintf(stderr, "usage: m4cxr_describe MODEL_DIR IMAGE [QUESTION] [--fp32] [--max-new-tokens N] [--adapter DIR]\n");
    return 2;
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    auto model = Model::load(model_dir, opt);
    const auto& cfg = model->config();
    std::fprintf(stderr, "loaded %s: vision %dx%d, decoder %d layers x %d, %d visual tokens per image (%.0f ms)\n",
                 model_dir.c_str(), cfg.vision.num_hidden_layers, cfg.vision.hidden_size, cfg.text.num_hidden_layers,
                 cfg.text.hidden_size, model->num_visual_tokens(),
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    RgbImage rgb = decode_image_file(image);
    PreprocessedImage pre = preprocess_image(rgb, model->preprocess_config());
    at::Tensor visual = model->encode_images(Model::pixel_values({pre}));

    std::vector<ChatMessage> chat{{ChatMessage::Role::user, first_user_content("radiology image: <image>", question)}};
    EncodedPrompt prompt = encode_prompt(model->tokenizer(), render_chat(chat), model->num_visual_tokens());
    Conversation conv(model);
    conv.set_images(visual);
    IncrementalDecoder dec(model->tokenizer());
    GenerationStats st;
    conv.generate(prompt.ids, gen, [&](int32_t id) {
      std::string piece = dec.push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    }, &st);
    std::string rest = dec.finish();
    std::printf("%s\n", rest.c_str());
    std::fprintf(stderr, "%ld prompt tokens (%.0f ms), %ld generated (%.1f tokens/s)%s\n", (long)st.prompt_tokens,
                 st.prefill_ms, (long)st.generated_tokens, st.generated_tokens / (st.decode_ms / 1000.0 + 1e-9),
                 st.stopped_by_eos ? ", stopped at EOS" : "");
  } catch (const Error& e) {
    std::fprintf(stderr, "m4cxr_describe: %s: %s\n", status_name(e.status()), e.what());
    return e.status() == Status::io_error ? 3 : 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "m4cxr_describe: %s\n", e.what());
    return 4;
  }
  return 0;
}
