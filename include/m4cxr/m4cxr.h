/*
 * m4cxr.h - C API of the m4cxr engine (M4CXR chest X-ray multimodal LLM).
 *
 * Plain C99. Every object is an opaque handle; no struct is passed by value. Option
 * structs are passed by pointer, start with `struct_size` and are filled by their
 * `*_default()` initialiser, so fields can be added without breaking callers.
 *
 * Errors: every fallible call returns an m4cxr_status. On failure a message describing
 * what went wrong (file, tensor, argument) is kept per thread and read with
 * m4cxr_last_error(); it stays valid until the next m4cxr call on that thread. Nothing
 * throws or aborts across this API.
 *
 * Ownership: an object returned through an `out` pointer belongs to the caller and is
 * released with its *_free function (NULL is accepted and ignored). Strings returned by
 * the library belong to the object they came from and live as long as it does.
 *
 * Threading:
 *  - m4cxr_model: immutable after loading; any number of threads may use one model
 *    (create sessions, create images) at the same time.
 *  - m4cxr_image: immutable; may be shared between threads and sessions.
 *  - m4cxr_session: used by one thread at a time. A call on a session that is busy in
 *    another thread (or that has an unfinished task) returns M4CXR_ERR_BUSY.
 *  - m4cxr_task: driven by one thread at a time (M4CXR_ERR_BUSY otherwise);
 *    m4cxr_task_cancel() and m4cxr_session_cancel() may be called from any thread.
 *  - m4cxr_result: immutable; readable from any thread.
 *  - Lifetimes: sessions keep the model's weights alive, and tasks keep the pixels of
 *    their images, so a model or an image may be freed while sessions/tasks made from it
 *    are still in use. A task needs its session: after m4cxr_session_free its calls return
 *    M4CXR_ERR_INVALID_HANDLE. Freed handles are detected; a *_free must not race with
 *    another call on the same object (cancel included) on another thread.
 */
#ifndef M4CXR_M4CXR_H
#define M4CXR_M4CXR_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define M4CXR_API __declspec(dllexport)
#elif defined(__GNUC__)
#define M4CXR_API __attribute__((visibility("default")))
#else
#define M4CXR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define M4CXR_VERSION_MAJOR 0
#define M4CXR_VERSION_MINOR 1
#define M4CXR_VERSION_PATCH 0
/* Incremented on any incompatible change of this header. */
#define M4CXR_ABI_VERSION 1

/* ---------------------------------------------------------------- status codes */
typedef enum m4cxr_status {
  M4CXR_OK = 0,
  M4CXR_ERR_INVALID_ARGUMENT = 1, /* bad value, NULL pointer, empty prompt, ... */
  M4CXR_ERR_IO = 2,               /* file missing or unreadable */
  M4CXR_ERR_FORMAT = 3,           /* malformed file content (image, checkpoint, json) */
  M4CXR_ERR_UNSUPPORTED = 4,      /* well-formed but not supported */
  M4CXR_ERR_LIMIT = 5,            /* input over a configured limit (pixels, tokens) */
  M4CXR_ERR_OUT_OF_MEMORY = 6,
  M4CXR_ERR_CANCELLED = 7,        /* stopped by m4cxr_*_cancel or a callback */
  M4CXR_ERR_BUSY = 8,             /* object in use by another thread or task */
  M4CXR_ERR_MODEL = 9,            /* checkpoint does not match the architecture */
  M4CXR_ERR_INTERNAL = 10,
  M4CXR_ERR_INVALID_HANDLE = 11,  /* NULL, freed or wrong kind of handle */
  M4CXR_DONE = 100                /* not an error: m4cxr_task_next has nothing more */
} m4cxr_status;

/* Message of the last failing call on this thread ("" if none). Thread-safe. */
M4CXR_API const char* m4cxr_last_error(void);
/* Static name of a status code. Thread-safe. */
M4CXR_API const char* m4cxr_status_string(m4cxr_status status);
/* M4CXR_ABI_VERSION of the loaded library; compare with the header's. Thread-safe. */
M4CXR_API int m4cxr_abi_version(void);
/* "major.minor.patch". Thread-safe. */
M4CXR_API const char* m4cxr_version_string(void);

/* ---------------------------------------------------------------- handles */
typedef struct m4cxr_model m4cxr_model;
typedef struct m4cxr_session m4cxr_session;
typedef struct m4cxr_image m4cxr_image;
typedef struct m4cxr_task m4cxr_task;
typedef struct m4cxr_result m4cxr_result;

/* ---------------------------------------------------------------- model */
typedef enum m4cxr_dtype { M4CXR_DTYPE_BFLOAT16 = 0, M4CXR_DTYPE_FLOAT32 = 1 } m4cxr_dtype;

/* Load progress in [0,1]; return non-zero to abort the load (M4CXR_ERR_CANCELLED).
 * Called on the loading thread. */
typedef int (*m4cxr_progress_fn)(double fraction, void* user_data);

typedef struct m4cxr_model_options {
  size_t struct_size;         /* sizeof(m4cxr_model_options) */
  m4cxr_dtype dtype;          /* default bfloat16 */
  const char* device;         /* "cpu" (default), "cuda", "cuda:1" with a CUDA libtorch */
  int threads;                /* intra-op threads; 0 = all cores (process-wide setting) */
  const char* adapter_dir;    /* PEFT adapter folder or NULL */
  int64_t max_image_pixels;   /* images above are refused; default 16384*16384 */
  m4cxr_progress_fn progress; /* optional */
  void* progress_user_data;
} m4cxr_model_options;

/* Fills defaults. Thread-safe. */
M4CXR_API void m4cxr_model_options_default(m4cxr_model_options* options);

/* Loads a checkpoint folder (config.json, *.safetensors, tokenizer.model).
 * options may be NULL (defaults). On success *out owns the model. Thread-safe. */
M4CXR_API m4cxr_status m4cxr_model_load(const char* model_dir, const m4cxr_model_options* options,
                                        m4cxr_model** out);
/* Frees the model handle; sessions already created keep the weights until they are freed. */
M4CXR_API void m4cxr_model_free(m4cxr_model* model);

typedef struct m4cxr_model_info {
  size_t struct_size;
  int visual_tokens_per_image;
  int image_size;             /* encoder input side in pixels (518 for the real model) */
  int vision_layers, vision_hidden;
  int text_layers, text_hidden, vocab_size;
  m4cxr_dtype dtype;
  const char* device;         /* owned by the model */
  uint64_t weight_bytes;
  int lora_pairs_merged;
} m4cxr_model_info;

/* Fills *info (set info->struct_size first). Thread-safe. */
M4CXR_API m4cxr_status m4cxr_model_get_info(const m4cxr_model* model, m4cxr_model_info* info);

/* ---------------------------------------------------------------- images */
typedef enum m4cxr_pixel_format {
  M4CXR_PIXELS_GRAY8 = 0,
  M4CXR_PIXELS_GRAY16 = 1, /* native-endian uint16; mapped to 8 bits as round(v/257) */
  M4CXR_PIXELS_RGB8 = 2,
  M4CXR_PIXELS_RGB16 = 3
} m4cxr_pixel_format;

/* Decode PNG (8/16-bit), JPEG or BMP and preprocess for `model`. The image keeps its
 * original size and the crop geometry (for boxes) and has a content hash. Thread-safe. */
M4CXR_API m4cxr_status m4cxr_image_from_file(const m4cxr_model* model, const char* path, m4cxr_image** out);
/* Same from encoded bytes (copied; the buffer may be freed afterwards). */
M4CXR_API m4cxr_status m4cxr_image_from_memory(const m4cxr_model* model, const void* data, size_t size,
                                               m4cxr_image** out);
/* Raw pixels, rows `stride_bytes` apart (copied). data_bytes is the buffer size. */
M4CXR_API m4cxr_status m4cxr_image_from_pixels(const m4cxr_model* model, const void* data, size_t data_bytes,
                                               int width, int height, size_t stride_bytes,
                                               m4cxr_pixel_format format, m4cxr_image** out);
M4CXR_API void m4cxr_image_free(m4cxr_image* image);
/* Original width/height in pixels. */
M4CXR_API m4cxr_status m4cxr_image_get_size(const m4cxr_image* image, int* width, int* height);
/* Hex SHA-256 of the decoded RGB pixels and size; owned by the image. NULL on bad handle. */
M4CXR_API const char* m4cxr_image_hash(const m4cxr_image* image);

/* ---------------------------------------------------------------- sessions */
/* A conversation with its KV cache. Many sessions may share one model and run on
 * different threads. Thread-safe with respect to other sessions. */
M4CXR_API m4cxr_status m4cxr_session_create(m4cxr_model* model, m4cxr_session** out);
/* Frees the session. Free its task first: a task left alive afterwards returns
 * M4CXR_ERR_INVALID_HANDLE, and freeing while another thread is inside a call on the
 * session or its task is undefined behaviour. */
M4CXR_API void m4cxr_session_free(m4cxr_session* session);
/* Forgets the conversation (keeps encoded images cached). */
M4CXR_API m4cxr_status m4cxr_session_reset(m4cxr_session* session);
/* Asks the running task of this session to stop; any thread; returns at once. A cancel
 * issued before a task is created does not carry over to that task. */
M4CXR_API m4cxr_status m4cxr_session_cancel(m4cxr_session* session);

/* ---------------------------------------------------------------- generation options */
typedef struct m4cxr_generation_options {
  size_t struct_size;
  int max_new_tokens;  /* per turn; default 500 (upstream) */
  int do_sample;       /* 0 = greedy (default, as the paper) */
  float temperature;   /* sampling only; default 1 */
  int top_k;           /* sampling only; 0 = off (default 50 when sampling) */
  float top_p;         /* sampling only; 1 = off */
  uint64_t seed;
} m4cxr_generation_options;

M4CXR_API void m4cxr_generation_options_default(m4cxr_generation_options* options);

/* ---------------------------------------------------------------- tasks
 * Each call below checks its arguments, builds the exact upstream prompt of the paper's
 * task and returns a task ready to run; nothing is computed until the task is driven
 * with m4cxr_task_next() (pull streaming) or m4cxr_task_run() (callback). A session has
 * at most one unfinished task; later calls continue the same conversation (the KV cache
 * of earlier turns is reused). options may be NULL (defaults). Boxes are given in
 * ORIGINAL image pixels as x1,y1,x2,y2 and converted to the model's 0-100 frame.
 * `images` arrays hold `n` image handles, in order. */

/* Chain-of-thought report: turn 1 lists the present CheXbert findings, turn 2 writes the
 * report. One image (single-image wording) or up to 5 views of one study. */
M4CXR_API m4cxr_status m4cxr_report(m4cxr_session* s, const m4cxr_image* const* images, size_t n,
                                    const m4cxr_generation_options* options, m4cxr_task** out);
/* Follow-up study: prior images + prior report (cleaned as upstream) + current images. */
M4CXR_API m4cxr_status m4cxr_report_followup(m4cxr_session* s, const m4cxr_image* const* prior, size_t n_prior,
                                             const char* prior_report, const m4cxr_image* const* current,
                                             size_t n_current, const m4cxr_generation_options* options,
                                             m4cxr_task** out);
/* Disease classification over `labels` (NULL/0 = the 13 CheXbert findings). */
M4CXR_API m4cxr_status m4cxr_classify(m4cxr_session* s, const m4cxr_image* image, const char* const* labels,
                                      size_t n_labels, const m4cxr_generation_options* options, m4cxr_task** out);
/* Boxes out. */
M4CXR_API m4cxr_status m4cxr_ground_finding(m4cxr_session* s, const m4cxr_image* image, const char* finding,
                                            const m4cxr_generation_options* options, m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_ground_findings(m4cxr_session* s, const m4cxr_image* image, const char* const* findings,
                                             size_t n_findings, const m4cxr_generation_options* options,
                                             m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_detect_abnormalities(m4cxr_session* s, const m4cxr_image* image,
                                                  const m4cxr_generation_options* options, m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_ground_organ(m4cxr_session* s, const m4cxr_image* image, const char* organ,
                                          const m4cxr_generation_options* options, m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_ground_phrase(m4cxr_session* s, const m4cxr_image* image, const char* phrase,
                                           const m4cxr_generation_options* options, m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_ground_region(m4cxr_session* s, const m4cxr_image* image, const char* region,
                                           const m4cxr_generation_options* options, m4cxr_task** out);
/* A box in, text out. `boxes` holds 4*n_boxes doubles (x1,y1,x2,y2 in pixels). */
typedef enum m4cxr_box_question {
  M4CXR_NAME_FINDING = 0, /* grounded finding: one box */
  M4CXR_NAME_ORGAN = 1,   /* grounded organ: one or more boxes */
  M4CXR_NAME_REGION = 2,  /* grounded anatomical region: one box */
  M4CXR_NAME_PHRASE = 3   /* grounded phrase generation: one or more boxes */
} m4cxr_box_question;
M4CXR_API m4cxr_status m4cxr_identify_region(m4cxr_session* s, const m4cxr_image* image, m4cxr_box_question what,
                                             const double* boxes, size_t n_boxes,
                                             const m4cxr_generation_options* options, m4cxr_task** out);
/* Visual question answering; difference VQA takes the reference (earlier) image too. */
M4CXR_API m4cxr_status m4cxr_vqa(m4cxr_session* s, const m4cxr_image* image, const char* question,
                                 const m4cxr_generation_options* options, m4cxr_task** out);
M4CXR_API m4cxr_status m4cxr_difference_vqa(m4cxr_session* s, const m4cxr_image* reference,
                                            const m4cxr_image* main_image, const char* question,
                                            const m4cxr_generation_options* options, m4cxr_task** out);
/* A free user turn. On an empty conversation `images` (n may be 0) are attached with
 * the "radiology image(s): <image> ..." prefix and the system message; afterwards it
 * continues the conversation with bare text (images must then be empty). */
M4CXR_API m4cxr_status m4cxr_chat(m4cxr_session* s, const char* text, const m4cxr_image* const* images, size_t n,
                                  const m4cxr_generation_options* options, m4cxr_task** out);

/* ---------------------------------------------------------------- driving a task */
/* Pull the next piece of text (complete UTF-8). On M4CXR_OK, *piece and *length describe the
 * piece, valid until the next call on this task, and *turn (may be NULL) says which
 * user turn of the task produced it (0-based). Returns M4CXR_DONE when finished, an
 * error otherwise (the task then is finished too). */
M4CXR_API m4cxr_status m4cxr_task_next(m4cxr_task* task, const char** piece, size_t* length, int* turn);

/* Called for each piece; return non-zero to stop (the result keeps what was produced). */
typedef int (*m4cxr_piece_fn)(const char* piece, size_t length, int turn, void* user_data);
/* Runs the task to the end (callback may be NULL). */
M4CXR_API m4cxr_status m4cxr_task_run(m4cxr_task* task, m4cxr_piece_fn on_piece, void* user_data);
/* Any thread: stop as soon as possible (within one transformer layer). A stop before
 * the first token still ends with M4CXR_DONE and a result marked cancelled. Must not race
 * with m4cxr_task_free of the same task. */
M4CXR_API m4cxr_status m4cxr_task_cancel(m4cxr_task* task);
/* After M4CXR_DONE (or a stop): the result, owned by the caller. */
M4CXR_API m4cxr_status m4cxr_task_result(m4cxr_task* task, m4cxr_result** out);
M4CXR_API void m4cxr_task_free(m4cxr_task* task);

/* ---------------------------------------------------------------- results */
typedef struct m4cxr_box {
  size_t struct_size;
  const char* label;     /* finding/organ name or "" (owned by the result) */
  int model[4];          /* x1,y1,x2,y2 in the model's 0-100 frame */
  double pixels[4];      /* the same box in original image pixels */
  int image_index;       /* index into the task's images the box refers to */
} m4cxr_box;

typedef struct m4cxr_stats {
  size_t struct_size;
  int64_t prompt_tokens;     /* ids of the last turn's prompt */
  int64_t prefilled_tokens;  /* ids actually run over all turns (the rest came from the cache) */
  int64_t generated_tokens;  /* over all turns */
  double image_encode_ms, prefill_ms, decode_ms;
  int stopped_by_eos;        /* last turn ended on EOS */
  int cancelled;
} m4cxr_stats;

/* Final answer: the report for m4cxr_report*, otherwise the (only/last) turn's text. */
M4CXR_API const char* m4cxr_result_text(const m4cxr_result* r);
M4CXR_API size_t m4cxr_result_turn_count(const m4cxr_result* r);
M4CXR_API const char* m4cxr_result_turn_text(const m4cxr_result* r, size_t i);
/* Findings (report turn 1, classification): names as listed in the question. */
M4CXR_API size_t m4cxr_result_finding_count(const m4cxr_result* r);
M4CXR_API const char* m4cxr_result_finding(const m4cxr_result* r, size_t i);
M4CXR_API size_t m4cxr_result_box_count(const m4cxr_result* r);
/* Fills *box (set box->struct_size first). */
M4CXR_API m4cxr_status m4cxr_result_get_box(const m4cxr_result* r, size_t i, m4cxr_box* box);
M4CXR_API m4cxr_status m4cxr_result_get_stats(const m4cxr_result* r, m4cxr_stats* stats);
/* Everything above plus a replay record (checkpoint, image hashes, options, prompt ids
 * count) as one JSON document, owned by the result. */
M4CXR_API const char* m4cxr_result_json(const m4cxr_result* r);
M4CXR_API void m4cxr_result_free(m4cxr_result* r);

/* ---------------------------------------------------------------- geometry helpers */
/* Convert between original pixels and the 0-100 model frame of `image` (upstream
 * normalize_bbox / norm2origin_box). in/out hold 4 values. Thread-safe. */
M4CXR_API m4cxr_status m4cxr_image_pixels_to_model(const m4cxr_image* image, const double* pixels, int* model);
M4CXR_API m4cxr_status m4cxr_image_model_to_pixels(const m4cxr_image* image, const int* model, double* pixels);

/* ---------------------------------------------------------------- parity tracing */
/* Runs one prompt from scratch and writes every stage as a NumPy .npy file into the
 * existing folder out_dir, for stage-by-stage comparison with the Python reference:
 * pixel_values [N,3,H,W], vision_hidden_states [N,L+1,1+P,D], projector_input [N,P,D],
 * abstractor_* stages, visual_tokens [N,Q,H] (float32), prompt_ids [T] (int64, -1 =
 * image slot), inputs_embeds [T,H] and logits [T,V] (float32). `prompt` is the first
 * user message without the system message (e.g. "radiology image: <image> Provide a
 * description of the findings in the radiology image."); it must hold one <image>
 * marker per image. Thread-safe (uses no session). */
M4CXR_API m4cxr_status m4cxr_trace(const m4cxr_model* model, const m4cxr_image* const* images, size_t n,
                                   const char* prompt, const char* out_dir);

#ifdef __cplusplus
}
#endif

#endif /* M4CXR_M4CXR_H */
