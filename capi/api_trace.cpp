// C ABI of m4cxr_debug.h: m4cxr_trace (every stage of one prompt written as .npy for parity
// checks) and the layer-delay knob for cancellation tests.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <string>

#include "api_internal.h"
#include "m4cxr/m4cxr_debug.h"
#include "engine/multimodal_splice.h"
#include "io/mapped_file.h"
#include "io/npy.h"
#include "text/chat_prompt.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

void save(const std::string& dir, const std::string& name, const at::Tensor& t_in) {
  at::Tensor t = t_in.scalar_type() == at::kLong ? t_in.cpu().contiguous() : t_in.to(at::kFloat).cpu().contiguous();
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  write_npy(join_path(dir, name + ".npy"), t.scalar_type() == at::kLong ? "<i8" : "<f4", shape, t.data_ptr(),
            static_cast<size_t>(t.numel()) * t.element_size());
}

}  // namespace

extern "C" m4cxr_status m4cxr_trace(const m4cxr_model* model, const m4cxr_image* const* images, size_t n,
                                    const char* prompt, const char* out_dir) {
  return guarded([&]() -> m4cxr_status {
    auto mo = require<ModelObject>(model);
    if (prompt == nullptr || *prompt == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "prompt is empty");
    if (out_dir == nullptr || !directory_exists(out_dir))
      return set_error(M4CXR_ERR_IO, std::string("output folder '") + (out_dir ? out_dir : "(null)") + "' does not exist");
    if (n > 0 && images == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "images array is NULL");
    const Model& m = *mo->model;
    std::vector<PreprocessedImage> pix;
    for (size_t i = 0; i < n; ++i) {
      auto im = get<ImageObject>(images[i]);
      if (!im) return set_error(M4CXR_ERR_INVALID_HANDLE, "image is NULL or freed");
      pix.push_back(im->image->pixels);
    }
    const std::string user = std::string(kSystemMessage) + " " + prompt;
    EncodedPrompt e = encode_prompt(m.tokenizer(), render_chat({{ChatMessage::Role::user, user}}), m.num_visual_tokens());
    if (static_cast<size_t>(e.n_image_markers) != n)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "the prompt has " + std::to_string(e.n_image_markers) +
                                                       " <image> marker(s) but " + std::to_string(n) + " image(s) were given");
    if (e.truncated) return set_error(M4CXR_ERR_LIMIT, "the prompt exceeds 4096 tokens");
    c10::InferenceMode guard;
    apply_intra_op_threads();
    const std::string dir = out_dir;
    at::Tensor visual;
    if (n > 0) {
      at::Tensor pv = Model::pixel_values(pix);
      save(dir, "pixel_values", pv);
      std::map<std::string, at::Tensor> stages;  // written once encoding has succeeded
      visual = m.encode_images(pv, collect_stages(&stages));
      for (const auto& kv : stages) save(dir, kv.first, kv.second);
      save(dir, "visual_tokens", visual);
    }
    std::vector<int64_t> ids(e.ids.begin(), e.ids.end());
    save(dir, "prompt_ids", at::tensor(ids, at::kLong));
    at::Tensor emb = splice_embeddings(m.language_model(), e.ids, visual);
    save(dir, "inputs_embeds", emb);
    auto cache = m.language_model().make_cache(m.runtime());
    save(dir, "logits", m.language_model().forward(emb, cache, /*all_logits=*/true));
    return M4CXR_OK;
  });
}

extern "C" m4cxr_status m4cxr_debug_set_layer_delay_ms(int ms) {
  return guarded([&]() -> m4cxr_status {
    if (ms < 0 || ms > 60000) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "layer delay must be in [0, 60000] ms");
    ChatSession::set_debug_layer_delay_ms(ms);
    return M4CXR_OK;
  });
}
