/*
 * m4cxr_debug.h - debugging aids of libm4cxr, OUTSIDE the stable C API of m4cxr.h:
 * what is declared here may change or go in any release without an ABI version bump.
 * Used by the `m4cxr trace` command, the parity checks against the Python reference and
 * the tests of cancellation latency.
 */
#ifndef M4CXR_M4CXR_DEBUG_H
#define M4CXR_M4CXR_DEBUG_H

#include "m4cxr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs one prompt from scratch and writes every stage as a NumPy .npy file into the
 * existing folder out_dir: pixel_values [N,3,H,W], vision_hidden_states [N,L+1,1+P,D],
 * projector_input [N,P,D], abstractor_* stages, visual_tokens [N,Q,H] (float32),
 * prompt_ids [T] (int64, -1 = image slot), inputs_embeds [T,H] and logits [T,V]
 * (float32). `prompt` is the first user message without the system message (e.g.
 * "radiology image: <image> Provide a description of the findings in the radiology
 * image.") with one <image> marker per image. Existing files of those names are
 * overwritten. Errors: INVALID_HANDLE, INVALID_ARGUMENT (empty prompt, missing folder,
 * marker/image mismatch), IO. Any thread (uses no session). */
M4CXR_API m4cxr_status m4cxr_trace(const m4cxr_model* model, const m4cxr_image* const* images, size_t n,
                                   const char* prompt, const char* out_dir);

/* Makes every task of every session sleep `ms` milliseconds before each transformer
 * layer (vision and text) and each abstractor block, waking early when the task is
 * cancelled: a stand-in for a slow model, so tests on the tiny test model can check
 * that a cancel or an interrupt is noticed within one layer rather than at the next
 * token. 0 (the default) turns it off. Process-wide; takes effect at the next layer.
 * Errors: INVALID_ARGUMENT (ms outside [0, 60000]). Any thread. */
M4CXR_API m4cxr_status m4cxr_debug_set_layer_delay_ms(int ms);

#ifdef __cplusplus
}
#endif

#endif /* M4CXR_M4CXR_DEBUG_H */
