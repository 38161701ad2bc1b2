/*
 * m4cxr.h - C API of the m4cxr engine (M4CXR chest X-ray multimodal LLM).
 *
 * Plain C99. Every object is an opaque handle; no struct is passed by value.
 *
 * Option and info structs start with `struct_size`. Set it with the struct's
 * *_default() initialiser (options) or to sizeof (info structs filled by the library). The library accepts every size from the struct's
 * first published size up to its own: a program built against an older m4cxr.h keeps
 * working (fields it does not know get their defaults), and a struct larger than the
 * library knows is refused with M4CXR_ERR_INVALID_ARGUMENT (the program was built
 * against a newer header than the library it runs with).
 *
 * Errors: every fallible call returns an m4cxr_status. On failure a message describing
 * what went wrong (file, tensor, argument) is kept per thread and read with
 * m4cxr_last_error(); it stays valid until the next m4cxr call on that thread. Calls
 * that return a value instead of a status (getters) say below whether they set it.
 * Nothing throws or aborts across this API.
 *
 * Ownership: an object returned through an `out` pointer belongs to the caller and is
 * released with its *_free function (NULL and already-freed handles are ignored).
 * Strings returned by the library belong to the object they came from and stay valid
 * until that object is freed, unless the function says otherwise.
 *
 * Handles: a handle is a token, not an address. Handles that were freed, that belong to
 * another kind of object, or that never came from this library are detected and refused
 * with M4CXR_ERR_INVALID_HANDLE (getters return NULL/0). Detection is exact except in
 * one case: a handle slot reused 2^32 times (each reuse bumps a 32-bit generation); slots
 * are reused oldest-freed first, so this needs billions of frees.
 *
 * Threading:
 *  - m4cxr_model: immutable after loading; any number of threads may use one model
 *    (create sessions, create images) at the same time.
 *  - m4cxr_image, m4cxr_result: immutable; may be shared between threads.
 *  - m4cxr_session: used by one thread at a time. A call on a session that is busy in
 *    another thread (or that has an unfinished task) returns M4CXR_ERR_BUSY.
 *  - m4cxr_task: driven by one thread at a time (M4CXR_ERR_BUSY otherwise);
 *    m4cxr_task_cancel() and m4cxr_session_cancel() may be called from any thread.
 *  - Freeing (as sqlite3_close_v2, for garbage-collected callers): any *_free may be
 *    called from any thread at any time, also while another thread is inside a call on
 *    the same object. The handle is invalid at once (new calls are refused), a running
 *    task of a freed session is asked to stop, and the object itself is destroyed when
 *    the last call that uses it returns. Never a crash inside the library. What is NOT
 *    covered: strings and pieces the library returned point into their object, so a
 *    thread must be done reading them before it (or another thread) frees that object.
 *  - Throughput: sessions of one model that decode at the same time, each driven by its
 *    own thread, share the decoder's passes (batched decoding: each pass reads the
 *    weights once for up to 16 sessions' next tokens and for prefills that arrive
 *    meanwhile). Nothing to configure; a session's ids do not depend on the sessions it
 *    shared passes with (fp32: identical; bf16 on the CPU: identical while only decode
 *    steps share a pass, within bf16 rounding when a prefill joins). Several sessions
 *    driven from ONE thread in turn still work but gain nothing, and each of their
 *    steps waits up to a tenth of a pass (1-20 ms) for the others.
 *  - Lifetimes: sessions keep the model's weights alive, and tasks keep their images'
 *    pixels, so a model or an image may be freed while sessions/tasks made from it are
 *    in use. A task needs its session: after m4cxr_session_free its calls return
 *    M4CXR_ERR_INVALID_HANDLE.
 *
 * Conversations (patient safety): a task call that brings its own images (every typed
 * task below, and m4cxr_task_start with a task declared `fresh`) starts a NEW
 * conversation: nothing of earlier tasks on the session (their images, questions or
 * answers) is in its prompt. To ask about the same study again (a follow-up question,
 * phrase grounding after a report) either use m4cxr_chat, which always continues, or
 * set m4cxr_generation_options.continue_conversation on the typed call.
 *
 * The tasks are described once, in src/tasks/task_table.json (built into the library:
 * m4cxr_task_table_json()); docs/tasks.md lists them with their arguments.
 */
#ifndef M4CXR_M4CXR_H
#define M4CXR_M4CXR_H

#include <stddef.h>
#include <stdint.h>

/* Windows: building the DLL defines M4CXR_BUILDING_LIBRARY; users of the static library
 * define M4CXR_STATIC; everyone else imports. */
#if defined(_WIN32)
#if defined(M4CXR_BUILDING_LIBRARY)
#define M4CXR_API __declspec(dllexport)
#elif defined(M4CXR_STATIC)
#define M4CXR_API
#else
#define M4CXR_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define M4CXR_API __attribute__((visibility("default")))
#else
#define M4CXR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define M4CXR_VERSION_MAJOR 0
#define M4CXR_VERSION_MINOR 2
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

/* Message of the last failing call on the calling thread ("" after a call that
 * succeeded). Never NULL; owned by the library, valid until the next m4cxr call on this
 * thread. Any thread. */
M4CXR_API const char* m4cxr_last_error(void);
/* Static English name of a status code ("unknown status" for other values). Never NULL,
 * never freed. Any thread; does not touch m4cxr_last_error. */
M4CXR_API const char* m4cxr_status_string(m4cxr_status status);
/* M4CXR_ABI_VERSION of the loaded library; compare with the header's. Any thread. */
M4CXR_API int m4cxr_abi_version(void);
/* "major.minor.patch" of the loaded library. Static string. Any thread. */
M4CXR_API const char* m4cxr_version_string(void);

/* ---------------------------------------------------------------- logging
 * The library says what it does through one process-wide callback (as llama.cpp's
 * llama_log_set or sqlite3's SQLITE_CONFIG_LOG). Off by default: nothing is printed
 * anywhere unless a callback is set (the bindings set one that forwards to their
 * language's logging: Python `logging`, java.util.logging, .NET TraceSource).
 *
 * What is logged, and at which level:
 *  - ERROR: every failing call, with exactly the text m4cxr_last_error() then returns
 *    (WARN instead for M4CXR_ERR_BUSY and M4CXR_ERR_CANCELLED, which concurrent use and
 *    requests to stop produce in normal operation);
 *  - WARN: inputs the library adjusts instead of refusing (a box partly outside the part
 *    of the image the model sees is clipped to it), checkpoint tensors nothing reads;
 *  - INFO: model loading (folder, dtype, device, threads, LoRA merged, time, size);
 *  - DEBUG: task start and end (task name, turns, token counts, timings), image
 *    embeddings dropped from a session's cache.
 * No prompt text, answer text or pixel data is logged at INFO or above (file and folder
 * names are, as in m4cxr_last_error). Messages are English, UTF-8, one line, no trailing
 * newline; their wording may change between releases. */
typedef enum m4cxr_log_level {
  M4CXR_LOG_DEBUG = 0,
  M4CXR_LOG_INFO = 1,
  M4CXR_LOG_WARN = 2,
  M4CXR_LOG_ERROR = 3
} m4cxr_log_level;

/* Receives one message. `message` is NUL-terminated UTF-8 owned by the library, valid
 * only during the call (copy it to keep it). Called on the thread that is inside the
 * m4cxr call doing the work (the loading thread, the thread driving a task with
 * m4cxr_task_next / m4cxr_task_run, the caller of a failing function): the library
 * starts no threads of its own, so it is always a thread of the application, possibly
 * several at once (one per concurrent call). While it runs, that thread is inside an
 * m4cxr call: the callback must not call m4cxr functions other than
 * m4cxr_status_string, m4cxr_version_string and m4cxr_abi_version (a call on the same
 * session would return M4CXR_ERR_BUSY, and any call would replace the
 * m4cxr_last_error() of the call being logged); messages the library would log from
 * inside the callback are dropped. It should return quickly: the work waits for it. */
typedef void (*m4cxr_log_fn)(void* user_data, m4cxr_log_level level, const char* message);

/* Sets the process-wide log callback: `fn` receives the messages of level >= min_level,
 * with `user_data` as given (not touched by the library). fn NULL turns logging off (the
 * default; min_level and user_data are then ignored). Replaces any earlier callback.
 * Thread-safe with respect to messages logged concurrently: fn and user_data are
 * installed together, every message goes whole to either the old or the new callback,
 * and when this function returns no call of the old callback is running or will start,
 * so its user_data may be freed then. Because it waits for calls of the old callback in
 * progress on other threads, do not call it while holding a lock that callback takes.
 * Errors: INVALID_ARGUMENT (min_level outside M4CXR_LOG_DEBUG..M4CXR_LOG_ERROR; nothing
 * changes), BUSY (called from inside the log callback; nothing changes). Any thread. */
M4CXR_API m4cxr_status m4cxr_set_log_callback(m4cxr_log_fn fn, void* user_data, m4cxr_log_level min_level);

/* ---------------------------------------------------------------- handles */
typedef struct m4cxr_model m4cxr_model;
typedef struct m4cxr_session m4cxr_session;
typedef struct m4cxr_image m4cxr_image;
typedef struct m4cxr_task m4cxr_task;
typedef struct m4cxr_task_args m4cxr_task_args;
typedef struct m4cxr_result m4cxr_result;

/* ---------------------------------------------------------------- model */
/* BFLOAT16: weights and compute in bf16 (upstream's). FLOAT32: fp32. INT8: the decoder's
 * projections and LM head as weight-only int8 (symmetric, one fp32 scale per output
 * channel, quantized at load from the checkpoint), everything else in bf16 — about half
 * the bytes read per generated token. On CPUs with AVX512_VNNI or AMX those projections
 * also round their input to int8 (one scale per 128 values) and multiply in integers
 * (with AMX, prefill too); elsewhere they compute in fp32. INT8 is a CPU path: loading it
 * on a CUDA device is M4CXR_ERR_UNSUPPORTED. */
typedef enum m4cxr_dtype { M4CXR_DTYPE_BFLOAT16 = 0, M4CXR_DTYPE_FLOAT32 = 1, M4CXR_DTYPE_INT8 = 2 } m4cxr_dtype;

/* Load progress in [0,1]; return non-zero to abort the load (M4CXR_ERR_CANCELLED).
 * Called on the loading thread. */
typedef int (*m4cxr_progress_fn)(double fraction, void* user_data);

typedef struct m4cxr_model_options {
  size_t struct_size;         /* set by m4cxr_model_options_default */
  m4cxr_dtype dtype;          /* default bfloat16 */
  const char* device;         /* "cpu" (default), or with a CUDA libtorch "cuda" (= "cuda:0")
                                 or "cuda:N" (N < the number of visible GPUs). Each model
                                 lives on one device; models on different devices may be
                                 loaded and used in one process at the same time */
  int threads;                /* intra-op threads; 0 = all cores (process-wide setting) */
  const char* adapter_dir;    /* PEFT adapter folder or NULL */
  int64_t max_image_pixels;   /* images above are refused; default 16384*16384 */
  m4cxr_progress_fn progress; /* optional */
  void* progress_user_data;
  /* ---- end of the first published layout (ABI 1, version 0.1) ---- */
  int max_cached_images;      /* per session: image embeddings kept between tasks, least
                                 recently used dropped first; default 8; 0 = none */
} m4cxr_model_options;

/* Fills the first `struct_size` bytes of *options with the defaults and sets its
 * struct_size. Pass sizeof(m4cxr_model_options) (m4cxr_model_options_default does).
 * INVALID_ARGUMENT, writing nothing, for NULL or a size outside [first published size,
 * the library's size]. Any thread. */
M4CXR_API m4cxr_status m4cxr_model_options_init(m4cxr_model_options* options, size_t struct_size);
/* Fills *options with the defaults, for the layout the caller was compiled with: a macro,
 * so the library never writes past the caller's struct. (The library also exports a
 * function of this name for programs built against version 0.1; it writes the 0.1
 * layout.) */
#define m4cxr_model_options_default(options) ((void)m4cxr_model_options_init((options), sizeof *(options)))

/* Loads a checkpoint folder (config.json, *.safetensors, tokenizer.model; Hugging Face
 * layout, LoRA merged or with adapter_dir).
 *  model_dir  folder path (UTF-8); must not be NULL or empty.
 *  options    NULL for the defaults; not kept after the call (strings are copied).
 *  out        receives the model, owned by the caller (m4cxr_model_free); set to NULL on
 *             failure.
 * Environment: M4CXR_LARGE_PAGES, read once per process, chooses which weights live on
 * 2 MiB pages (faster decoding on the CPU): "0" none; unset or "1" those the load makes
 * anyway (int8, dtype conversions, merged LoRA), the file's own stay zero-copy views of the
 * mapped file; "all" also copies the file's weights there (not for INT8), trading load time
 * and pages shared through the page cache for decode speed.
 * Errors: INVALID_ARGUMENT (bad option; a device other than "cpu", "cuda", "cuda:N";
 * "cuda:N" past the last visible GPU; M4CXR_LARGE_PAGES set to another value), IO,
 * FORMAT, MODEL (tensor missing or mis-shaped; the message names it), UNSUPPORTED (a
 * CUDA device where this libtorch has no CUDA or no GPU is visible), CANCELLED (progress
 * returned non-zero), OUT_OF_MEMORY.
 * The device is checked before the checkpoint is read. On a CUDA device the load also
 * does CUDA's lazy set-up (context, cuBLAS, kernels: a small forward pass through each
 * network) so that the first task does not pay for it. Any thread. */
M4CXR_API m4cxr_status m4cxr_model_load(const char* model_dir, const m4cxr_model_options* options,
                                        m4cxr_model** out);
/* Releases the model handle. Sessions already created keep the weights until they are
 * freed; images stay usable. Any thread (see "Freeing"). */
M4CXR_API void m4cxr_model_free(m4cxr_model* model);

typedef struct m4cxr_model_info {
  size_t struct_size;         /* set to sizeof(m4cxr_model_info) before the call */
  int visual_tokens_per_image;
  int image_size;             /* encoder input side in pixels (518 for the real model) */
  int vision_layers, vision_hidden;
  int text_layers, text_hidden, vocab_size;
  m4cxr_dtype dtype;
  const char* device;         /* "cpu" or "cuda:N"; owned by the model, valid until m4cxr_model_free */
  uint64_t weight_bytes;
  int lora_pairs_merged;
} m4cxr_model_info;

/* Fills the fields of *info that info->struct_size covers. Errors: INVALID_HANDLE,
 * INVALID_ARGUMENT (info NULL or struct_size out of range). Any thread. */
M4CXR_API m4cxr_status m4cxr_model_get_info(const m4cxr_model* model, m4cxr_model_info* info);

/* ---------------------------------------------------------------- images */
typedef enum m4cxr_pixel_format {
  M4CXR_PIXELS_GRAY8 = 0,
  M4CXR_PIXELS_GRAY16 = 1, /* native-endian uint16; mapped to 8 bits as round(v/257) */
  M4CXR_PIXELS_RGB8 = 2,
  M4CXR_PIXELS_RGB16 = 3
} m4cxr_pixel_format;

/* Decodes PNG (8/16-bit), JPEG or BMP from `path` and preprocesses it for `model`. The
 * image keeps its original size and crop geometry (for boxes) and a content hash.
 * *out receives the image (m4cxr_image_free), NULL on failure. Errors: INVALID_HANDLE,
 * INVALID_ARGUMENT (NULL/empty path), IO, FORMAT (corrupt image), LIMIT (more pixels
 * than max_image_pixels, checked before decoding). Any thread. */
M4CXR_API m4cxr_status m4cxr_image_from_file(const m4cxr_model* model, const char* path, m4cxr_image** out);
/* Same from `size` encoded bytes at `data` (copied; the buffer may be freed after the
 * call). INVALID_ARGUMENT for NULL data or size 0. */
M4CXR_API m4cxr_status m4cxr_image_from_memory(const m4cxr_model* model, const void* data, size_t size,
                                               m4cxr_image** out);
/* Raw pixels: `height` rows `stride_bytes` apart, each `width` pixels of `format`; the
 * buffer holds `data_bytes` bytes (copied). INVALID_ARGUMENT when the buffer is too
 * small for the geometry, the stride shorter than a row, or the format unknown. */
M4CXR_API m4cxr_status m4cxr_image_from_pixels(const m4cxr_model* model, const void* data, size_t data_bytes,
                                               int width, int height, size_t stride_bytes,
                                               m4cxr_pixel_format format, m4cxr_image** out);
/* Releases the image handle; tasks that use it keep its pixels. Any thread. */
M4CXR_API void m4cxr_image_free(m4cxr_image* image);
/* Original width/height in pixels. Errors: INVALID_HANDLE, INVALID_ARGUMENT (NULL
 * pointers). Any thread. */
M4CXR_API m4cxr_status m4cxr_image_get_size(const m4cxr_image* image, int* width, int* height);
/* Hex SHA-256 of the decoded RGB pixels and size, owned by the image. NULL (and
 * m4cxr_last_error set) for an invalid handle. Any thread. */
M4CXR_API const char* m4cxr_image_hash(const m4cxr_image* image);

/* ---------------------------------------------------------------- DICOM input */
/* How stored DICOM pixel values become the model's 8-bit input. Every mode applies the
 * Modality LUT (Rescale Slope/Intercept) first and inverts MONOCHROME1 last. */
typedef enum m4cxr_dicom_conversion {
  /* Default: as MIMIC-CXR-JPG, M4CXR's main training set, was made from its DICOMs
   * (Johnson et al. 2019, arXiv:1901.07042): min-max to 8 bits, MONOCHROME1 inverted,
   * histogram equalisation with OpenCV equalizeHist's exact rule. */
  M4CXR_DICOM_MIMIC_JPG = 0,
  /* As a viewer shows it: the file's VOI LUT Sequence (first LUT), else its first Window
   * Center/Width with its VOI LUT Function (LINEAR, LINEAR_EXACT, SIGMOID), else min-max. */
  M4CXR_DICOM_VOI = 1,
  /* Min-max to 8 bits, MONOCHROME1 inverted, nothing else. */
  M4CXR_DICOM_MIN_MAX = 2
} m4cxr_dicom_conversion;

typedef struct m4cxr_dicom_options {
  size_t struct_size;                /* set by m4cxr_dicom_options_default */
  m4cxr_dicom_conversion conversion; /* default M4CXR_DICOM_MIMIC_JPG */
  int allow_multiframe;              /* 1: use the first frame of a multi-frame object (default 0: refused) */
  int allow_any_modality;            /* 1: accept modalities other than CR, DX, RG, or none (default 0) */
  int allow_color;                   /* 1: accept 8-bit RGB pixel data, used as it is (default 0) */
  /* ---- end of the first published layout ---- */
} m4cxr_dicom_options;

/* Fills the first `struct_size` bytes of *options with the defaults (as
 * m4cxr_model_options_init). INVALID_ARGUMENT for NULL or a size outside [first published
 * size, the library's size]. Any thread. */
M4CXR_API m4cxr_status m4cxr_dicom_options_init(m4cxr_dicom_options* options, size_t struct_size);
#define m4cxr_dicom_options_default(options) ((void)m4cxr_dicom_options_init((options), sizeof *(options)))

/* Reads a DICOM Part-10 file (a chest radiograph: one frame, MONOCHROME1/2, modality CR,
 * DX or RG; SOP class CR, DX or secondary capture) and prepares it for `model` like m4cxr_image_from_file. Transfer syntaxes:
 * implicit and explicit VR little endian, deflated explicit VR little endian, JPEG
 * baseline and extended, JPEG lossless (process 14, also selection value 1), JPEG-LS
 * lossless and near-lossless, JPEG 2000 (lossless only and lossy), RLE; decoded by GDCM.
 * The image keeps its identifiers (m4cxr_image_get_dicom_field), which also appear in
 * the JSON of results that use it (m4cxr_result_json: "dicom", and "replay"."dicom" with
 * the conversion applied).
 *  model    the model the image is prepared for.
 *  path     file path (UTF-8); must not be NULL or empty.
 *  options  NULL for the defaults; read during the call only.
 *  out      receives the image (m4cxr_image_free); set to NULL on failure.
 * Errors: INVALID_HANDLE (model), INVALID_ARGUMENT (NULL/empty path, NULL out, a bad
 * option: unknown conversion, struct_size out of range), IO (missing/unreadable file),
 * FORMAT (not Part-10, truncated or corrupt data, attributes inconsistent with each other
 * or with the pixel data), UNSUPPORTED (another transfer syntax, named in the message;
 * no pixel data; another SOP class; a modality other than CR/DX/RG, colour, several
 * frames, HighBit other than BitsStored-1, BitsAllocated other than 8/16 - the message names the option that
 * overrides where there is one), LIMIT (file over 512 MiB, more than max_image_pixels
 * pixels in all frames; checked before decoding), OUT_OF_MEMORY. Any thread. */
M4CXR_API m4cxr_status m4cxr_image_from_dicom_file(const m4cxr_model* model, const char* path,
                                                   const m4cxr_dicom_options* options, m4cxr_image** out);
/* Same from `size` bytes of a Part-10 file at `data` (read during the call only).
 * INVALID_ARGUMENT for NULL data or size 0. */
M4CXR_API m4cxr_status m4cxr_image_from_dicom_memory(const m4cxr_model* model, const void* data, size_t size,
                                                     const m4cxr_dicom_options* options, m4cxr_image** out);

typedef enum m4cxr_dicom_field {
  M4CXR_DICOM_STUDY_INSTANCE_UID = 0,  /* (0020,000D) */
  M4CXR_DICOM_SERIES_INSTANCE_UID = 1, /* (0020,000E) */
  M4CXR_DICOM_SOP_INSTANCE_UID = 2,    /* (0008,0018) */
  M4CXR_DICOM_PATIENT_ID = 3,          /* (0010,0020) */
  M4CXR_DICOM_VIEW_POSITION = 4,       /* (0018,5101) as in the file */
  M4CXR_DICOM_VIEW = 5,                /* resolved view: "PA", "AP", "LATERAL", "OTHER" or "" (unknown);
                                          from ViewPosition, else the View Code Sequence, else
                                          Series Description / Protocol Name words */
  M4CXR_DICOM_STUDY_DATE = 6,          /* (0008,0020) */
  M4CXR_DICOM_STUDY_TIME = 7,          /* (0008,0030) */
  M4CXR_DICOM_MODALITY = 8,            /* (0008,0060) */
  M4CXR_DICOM_TRANSFER_SYNTAX_UID = 9, /* (0002,0010) */
  M4CXR_DICOM_CONVERSION = 10          /* applied: "mimic_jpg", "voi", "min_max" or "color" */
} m4cxr_dicom_field;

/* 1 when the image was read from DICOM (m4cxr_image_from_dicom_*), else 0; 0 and
 * m4cxr_last_error set for an invalid handle. Never fails otherwise (no error is logged
 * for an image that is not DICOM). Any thread. */
M4CXR_API int m4cxr_image_is_dicom(const m4cxr_image* image);
/* *value receives one identifier of an image read from DICOM: a NUL-terminated string
 * owned by the image (valid until m4cxr_image_free), trimmed of DICOM padding, printable
 * ASCII ('?' for other bytes); "" when the file has no such attribute. *value is set to
 * NULL on failure. Errors: INVALID_HANDLE (image), INVALID_ARGUMENT (NULL value, unknown
 * field, or an image that was not read from DICOM). Any thread. */
M4CXR_API m4cxr_status m4cxr_image_get_dicom_field(const m4cxr_image* image, m4cxr_dicom_field field,
                                                   const char** value);

/* Study handling for images read from DICOM: the instances of one study become the views
 * of one report, frontal before lateral, and an earlier study of the same patient is its
 * prior (for m4cxr_report_followup).
 *  images, n            the current study's images (n >= 1), read from DICOM.
 *  prior, n_prior       a prior study's images, or NULL and 0.
 *  order                receives n indices into `images` in report order: PA, then AP,
 *                       then lateral, then other views, then views that could not be
 *                       resolved (M4CXR_DICOM_VIEW ""); the given order within each.
 *  prior_order          receives n_prior indices into `prior` (NULL when n_prior is 0).
 * Checks that each list is one study (one StudyInstanceUID, present, and one PatientID)
 * and that the prior is another study of the same patient whose StudyDate (and
 * StudyTime) is earlier, when both have one. Nothing is written on failure.
 * Errors: INVALID_HANDLE (an image), INVALID_ARGUMENT (NULL arrays, n 0, an image not read
 * from DICOM, several studies or patients, a prior that is not earlier or not another
 * study of the same patient; the message says which). Any thread. */
M4CXR_API m4cxr_status m4cxr_dicom_order_study(const m4cxr_image* const* images, size_t n,
                                               const m4cxr_image* const* prior, size_t n_prior, size_t* order,
                                               size_t* prior_order);

/* ---------------------------------------------------------------- sessions */
/* A conversation with its KV cache and a bounded cache of image embeddings. Many
 * sessions may share one model and run on different threads. *out receives the
 * session (m4cxr_session_free). Errors: INVALID_HANDLE, OUT_OF_MEMORY. Any thread. */
M4CXR_API m4cxr_status m4cxr_session_create(m4cxr_model* model, m4cxr_session** out);
/* Releases the session: its conversation, KV cache and cached image embeddings are
 * freed. A task of the session still running on another thread is asked to stop and
 * the memory goes when that call returns; the task's later calls return
 * M4CXR_ERR_INVALID_HANDLE (free it with m4cxr_task_free). Any thread. */
M4CXR_API void m4cxr_session_free(m4cxr_session* session);
/* Forgets the conversation and drops the cached image embeddings (nothing of earlier
 * patients stays in the session). Errors: INVALID_HANDLE, BUSY (another thread is inside
 * a call on the session, or the session has an unfinished task that was not cancelled:
 * after m4cxr_session_cancel or m4cxr_task_cancel the reset goes through). */
M4CXR_API m4cxr_status m4cxr_session_reset(m4cxr_session* session);
/* Drops the cached image embeddings only (the conversation, and a task in progress, keep
 * the embeddings of their own images). Errors: INVALID_HANDLE, BUSY (another thread is
 * inside a call on the session). */
M4CXR_API m4cxr_status m4cxr_session_clear_image_cache(m4cxr_session* session);
/* Asks the running task of this session to stop; any thread; returns at once. A
 * cancelled task that nobody drives to its end does not block the session: the next task
 * call settles it (it reads as finished, its result marked cancelled). A cancel issued
 * before a task is created does not carry over to that task. Errors: INVALID_HANDLE. */
M4CXR_API m4cxr_status m4cxr_session_cancel(m4cxr_session* session);
/* Appends a complete earlier turn without running the model: restores a stored
 * conversation, or replays a scripted dialogue with fixed earlier answers (as upstream's
 * multi-turn evaluation). `user_text` is the user message as upstream writes it, without
 * the system message (an empty conversation gets it in front), with one "<image>"
 * marker per entry of `images` (e.g. "radiology image: <image> Which of the following
 * findings are present ..."); `answer` is the assistant's reply. The turn is encoded
 * exactly as upstream encodes a whole conversation (the answer followed by EOS). The
 * next task call continues after it (set continue_conversation on typed calls, or use
 * m4cxr_chat). Errors: INVALID_HANDLE, INVALID_ARGUMENT (NULL/empty user text, NULL
 * answer, "[INST]", "[/INST]", "<s>" or "</s>" in a text, "<image>" in the answer,
 * marker count != n), LIMIT (over the 4096-token prompt limit), BUSY. */
M4CXR_API m4cxr_status m4cxr_session_append_turn(m4cxr_session* session, const char* user_text, const char* answer,
                                                 const m4cxr_image* const* images, size_t n);

/* ---------------------------------------------------------------- per-call options */
typedef struct m4cxr_generation_options {
  size_t struct_size;  /* set by m4cxr_generation_options_default */
  int max_new_tokens;  /* per turn; default 500 (upstream) */
  int do_sample;       /* 0 = greedy (default, as the paper) */
  float temperature;   /* sampling only; default 1 */
  int top_k;           /* sampling only; 0 = off (default 50 when sampling) */
  float top_p;         /* sampling only; 1 = off */
  uint64_t seed;
  /* ---- end of the first published layout (ABI 1, version 0.1) ---- */
  int continue_conversation; /* typed tasks: 0 (default) = start a new conversation;
                                1 = continue the session's conversation */
  /* ---- end of the layout of version 0.2 (its sizeof; the fields below are read only
   *      from a struct of today's size, so an older struct's padding is never read) ---- */
  int logprobs;        /* token probabilities, opt-in: 0 (default) = off; non-zero = the
                          result records, for every generated token, its log-probability
                          and top_logprobs alternatives (m4cxr_result_get_token). Same
                          generated tokens either way; no extra forward pass. */
  int top_logprobs;    /* with logprobs: alternatives recorded per token, the most likely
                          first, 0..100 (INVALID_ARGUMENT outside); default 0 */
  int constrained;           /* 1 = constrained decoding: every turn whose answer has a
                                fixed shape (the findings turn of a report,
                                classification, every grounding and detection
                                answer, naming a finding, organ or region) can only produce
                                text in upstream's format, so it always parses; the logits
                                of tokens that would leave the format are masked before
                                each choice. 0 (default) = unconstrained, bit-identical to
                                earlier versions. A turn cut by max_new_tokens may still
                                end early (incomplete). Free-text turns are unaffected. */
} m4cxr_generation_options;

/* As m4cxr_model_options_init / m4cxr_model_options_default, for generation options. */
M4CXR_API m4cxr_status m4cxr_generation_options_init(m4cxr_generation_options* options, size_t struct_size);
#define m4cxr_generation_options_default(options) \
  ((void)m4cxr_generation_options_init((options), sizeof *(options)))

/* ---------------------------------------------------------------- tasks
 * Each call below checks its arguments, builds the exact upstream prompt of the paper's
 * task and returns a task ready to run; nothing is computed until the task is driven
 * with m4cxr_task_next() (pull streaming) or m4cxr_task_run() (callback). A session has
 * at most one unfinished task. Common parameters:
 *  s        the session; BUSY if it is used by another thread or has an unfinished task.
 *  options  NULL for the defaults; read during the call only.
 *  out      receives the task (m4cxr_task_free), NULL on failure.
 *  images   arrays of `n` image handles, in order (read during the call only).
 * Boxes are given in ORIGINAL image pixels as x1,y1,x2,y2 and converted to the model's
 * 0-100 frame. Errors: INVALID_HANDLE (the session, or an image that was freed or is
 * another kind of handle), INVALID_ARGUMENT (a NULL image, NULL or empty text, text with
 * structural markers, counts out of range, a box outside the image; the message names
 * the argument), LIMIT (prompt over 4096 tokens), BUSY. A refused call leaves the
 * session as it was. Every task except m4cxr_chat starts a new conversation unless
 * options->continue_conversation is set (see "Conversations"). */

/* Chain-of-thought report (R2, R4): turn 0 lists the present CheXbert findings, turn 1
 * writes the report (turns are numbered from 0, as m4cxr_task_next reports them). One image (single-image wording) or up to 5 views of one study.
 * Upstream's plural wording for one image: task "report" with plural_wording. */
M4CXR_API m4cxr_status m4cxr_report(m4cxr_session* s, const m4cxr_image* const* images, size_t n,
                                    const m4cxr_generation_options* options, m4cxr_task** out);
/* Follow-up study (R6): prior images + prior report (cleaned as upstream) + current
 * images; at least one of each, at most 10 images in all. */
M4CXR_API m4cxr_status m4cxr_report_followup(m4cxr_session* s, const m4cxr_image* const* prior, size_t n_prior,
                                             const char* prior_report, const m4cxr_image* const* current,
                                             size_t n_current, const m4cxr_generation_options* options,
                                             m4cxr_task** out);
/* Disease classification (C1) over `labels` (NULL/0 = the 13 CheXbert findings). */
M4CXR_API m4cxr_status m4cxr_classify(m4cxr_session* s, const m4cxr_image* image, const char* const* labels,
                                      size_t n_labels, const m4cxr_generation_options* options, m4cxr_task** out);
/* Boxes of one finding (G1). */
M4CXR_API m4cxr_status m4cxr_ground_finding(m4cxr_session* s, const m4cxr_image* image, const char* finding,
                                            const m4cxr_generation_options* options, m4cxr_task** out);
/* Which of `findings` are present, each with its boxes (G4); n_findings >= 1. */
M4CXR_API m4cxr_status m4cxr_ground_findings(m4cxr_session* s, const m4cxr_image* image, const char* const* findings,
                                             size_t n_findings, const m4cxr_generation_options* options,
                                             m4cxr_task** out);
/* Boxes of abnormal regions (G3). */
M4CXR_API m4cxr_status m4cxr_detect_abnormalities(m4cxr_session* s, const m4cxr_image* image,
                                                  const m4cxr_generation_options* options, m4cxr_task** out);
/* Boxes of an organ (G5); organ NULL means "lung" (the table's default). */
M4CXR_API m4cxr_status m4cxr_ground_organ(m4cxr_session* s, const m4cxr_image* image, const char* organ,
                                          const m4cxr_generation_options* options, m4cxr_task** out);
/* Box of the region a report phrase describes (G8). */
M4CXR_API m4cxr_status m4cxr_ground_phrase(m4cxr_session* s, const m4cxr_image* image, const char* phrase,
                                           const m4cxr_generation_options* options, m4cxr_task** out);
/* Box of an anatomical region (G9). */
M4CXR_API m4cxr_status m4cxr_ground_region(m4cxr_session* s, const m4cxr_image* image, const char* region,
                                           const m4cxr_generation_options* options, m4cxr_task** out);
/* A box in, a name out. `boxes` holds 4*n_boxes doubles (x1,y1,x2,y2 in pixels). */
typedef enum m4cxr_box_question {
  M4CXR_NAME_FINDING = 0, /* grounded finding (G2): one box */
  M4CXR_NAME_ORGAN = 1,   /* grounded organ (G6): one or more boxes */
  M4CXR_NAME_REGION = 2,  /* grounded anatomical region (G10): one box */
  M4CXR_NAME_PHRASE = 3   /* grounded phrase generation (G7): one or more boxes */
} m4cxr_box_question;
M4CXR_API m4cxr_status m4cxr_identify_region(m4cxr_session* s, const m4cxr_image* image, m4cxr_box_question what,
                                             const double* boxes, size_t n_boxes,
                                             const m4cxr_generation_options* options, m4cxr_task** out);
/* Visual question answering (V1). */
M4CXR_API m4cxr_status m4cxr_vqa(m4cxr_session* s, const m4cxr_image* image, const char* question,
                                 const m4cxr_generation_options* options, m4cxr_task** out);
/* Difference VQA (V2): the reference (earlier) image, then the main image. */
M4CXR_API m4cxr_status m4cxr_difference_vqa(m4cxr_session* s, const m4cxr_image* reference,
                                            const m4cxr_image* main_image, const char* question,
                                            const m4cxr_generation_options* options, m4cxr_task** out);
/* A free user turn (V3). ALWAYS continues the session's conversation (its
 * continue_conversation option is ignored). `images` (n may be 0) are shown with this
 * turn: on an empty conversation after the system message ("radiology image: <image>
 * {text}"), later as "radiology image(s): <image> ... {text}". */
M4CXR_API m4cxr_status m4cxr_chat(m4cxr_session* s, const char* text, const m4cxr_image* const* images, size_t n,
                                  const m4cxr_generation_options* options, m4cxr_task** out);

/* ---------------------------------------------------------------- any task by name
 * Every task of the table (src/tasks/task_table.json, docs/tasks.md), including ones
 * added after this header: arguments are collected by name in an m4cxr_task_args and
 * checked against the task's declaration by m4cxr_task_start. This is what the
 * bindings and the CLI use. */

/* JSON text of the task table built into the library (tasks, arguments with types,
 * counts and defaults, output kinds). Static string. Any thread. */
M4CXR_API const char* m4cxr_task_table_json(void);
/* An empty argument list; *out owned by the caller (m4cxr_task_args_free). */
M4CXR_API m4cxr_status m4cxr_task_args_create(m4cxr_task_args** out);
M4CXR_API void m4cxr_task_args_free(m4cxr_task_args* args);
/* Append one value to the argument `name` (UTF-8, copied). Calling an adder again with
 * the same name appends to that list (images, texts, boxes); an argument holds one kind
 * of value. The image's pixels are kept by the list (the handle may be freed after).
 * `box` holds x1,y1,x2,y2 in original pixels. Errors: INVALID_HANDLE (args, or a freed
 * or wrong-kind image), INVALID_ARGUMENT (NULL/empty name, NULL value, another kind
 * already given under that name). An args
 * object is used by one thread at a time. */
M4CXR_API m4cxr_status m4cxr_task_args_add_image(m4cxr_task_args* args, const char* name, const m4cxr_image* image);
M4CXR_API m4cxr_status m4cxr_task_args_add_text(m4cxr_task_args* args, const char* name, const char* text);
M4CXR_API m4cxr_status m4cxr_task_args_add_box(m4cxr_task_args* args, const char* name, const double* box);
M4CXR_API m4cxr_status m4cxr_task_args_set_flag(m4cxr_task_args* args, const char* name, int value);
/* Starts the task `task_name` (e.g. "report") with `args` (NULL = no arguments; read
 * during the call only). Errors as the typed calls, plus INVALID_ARGUMENT for an unknown
 * task, a missing or unknown argument, or a value of the wrong kind or count. */
M4CXR_API m4cxr_status m4cxr_task_start(m4cxr_session* s, const char* task_name, const m4cxr_task_args* args,
                                        const m4cxr_generation_options* options, m4cxr_task** out);

/* ---------------------------------------------------------------- driving a task */
/* Pulls the next piece of text (complete UTF-8). On M4CXR_OK, *piece and *length
 * describe the piece (owned by the task, valid until the next call on this task) and
 * *turn (may be NULL) says which user turn of the task produced it (0-based). Returns
 * M4CXR_DONE when finished (also after a cancel: the result is then marked cancelled),
 * BUSY when another thread drives the task or uses the session, INVALID_HANDLE when the
 * task or its session was freed or the task is no longer its session's current task,
 * another error when generation failed (the task is then finished too). */
M4CXR_API m4cxr_status m4cxr_task_next(m4cxr_task* task, const char** piece, size_t* length, int* turn);

/* Called for each piece (arguments as m4cxr_task_next's); return non-zero to stop (the
 * result keeps what was produced, marked cancelled). Runs on the thread that called
 * m4cxr_task_run. */
typedef int (*m4cxr_piece_fn)(const char* piece, size_t length, int turn, void* user_data);
/* Drives the task to its end, calling on_piece (may be NULL) for each piece. Returns
 * M4CXR_OK when the task finished (where m4cxr_task_next would return M4CXR_DONE, a stop
 * by the callback or a cancel included), otherwise the error m4cxr_task_next returned. */
M4CXR_API m4cxr_status m4cxr_task_run(m4cxr_task* task, m4cxr_piece_fn on_piece, void* user_data);
/* Any thread: stop as soon as possible (within one transformer layer). A stop before
 * the first token still ends with M4CXR_DONE and a result marked cancelled. Errors:
 * INVALID_HANDLE (task or session freed). */
M4CXR_API m4cxr_status m4cxr_task_cancel(m4cxr_task* task);
/* After M4CXR_DONE: *out receives the result, owned by the caller (m4cxr_result_free).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (not finished, NULL out), BUSY. */
M4CXR_API m4cxr_status m4cxr_task_result(m4cxr_task* task, m4cxr_result** out);
/* Releases the task; an unfinished task is cancelled first, leaving its session free for
 * the next task. Any thread (see "Freeing"). */
M4CXR_API void m4cxr_task_free(m4cxr_task* task);

/* ---------------------------------------------------------------- results
 * Getters below never fail loudly: for an invalid handle or an index out of range they
 * return NULL / 0 and set m4cxr_last_error. Returned strings are owned by the result
 * and valid until m4cxr_result_free. Any thread. */
typedef struct m4cxr_box {
  size_t struct_size;    /* set to sizeof(m4cxr_box) before the call */
  const char* label;     /* finding/organ name or "" (owned by the result) */
  int model[4];          /* x1,y1,x2,y2 in the model's 0-100 frame */
  double pixels[4];      /* the same box in original pixels of the task's first image */
  int image_index;       /* always 0: boxes refer to the task's first image */
  /* ---- end of the first published layout (ABI 1, version 0.1) ---- */
  double probability;    /* in [0, 1]: the probability of the tokens that wrote this box's
                            text "[x1,y1,x2,y2]" (see "Confidence" below) */
} m4cxr_box;

typedef struct m4cxr_stats {
  size_t struct_size;        /* set to sizeof(m4cxr_stats) before the call */
  int64_t prompt_tokens;     /* ids of the last turn's prompt */
  int64_t prefilled_tokens;  /* ids actually run over all turns (the rest came from the cache) */
  int64_t generated_tokens;  /* over all turns */
  double image_encode_ms, prefill_ms, decode_ms;
  int stopped_by_eos;        /* last turn ended on EOS */
  int cancelled;
} m4cxr_stats;

/* Final answer: the report for m4cxr_report*, otherwise the (only/last) turn's text. */
M4CXR_API const char* m4cxr_result_text(const m4cxr_result* r);
/* Number of user turns the task ran (0 for an invalid handle). */
M4CXR_API size_t m4cxr_result_turn_count(const m4cxr_result* r);
/* Answer of turn i (NULL past the end). */
M4CXR_API const char* m4cxr_result_turn_text(const m4cxr_result* r, size_t i);
/* Findings (report turn 0, classification, multi-finding grounding): names as listed in
 * the question. */
M4CXR_API size_t m4cxr_result_finding_count(const m4cxr_result* r);
M4CXR_API const char* m4cxr_result_finding(const m4cxr_result* r, size_t i);
/* Confidence: how sure the model was, from the probabilities of the tokens it generated
 * (the model's distribution at each step, as for logprobs below: before temperature,
 * top_k, top_p and the constrained-decoding mask). Always computed (no option; it costs
 * one softmax per generated token of the scored turn). A span of the answer text has the
 * probability of the tokens that wrote it: the product of the probabilities of every
 * generated token whose text overlaps it.
 *   Label scores: every candidate label of the findings turn (report turn 0: the 13
 * CheXbert findings; classification: the labels asked about), in the question's order,
 * each with a score in [0, 1]:
 *   - `written` labels (those m4cxr_result_finding lists, matched as it matches them:
 *     case-insensitive, any order): the probability of the span where the label is first
 *     written;
 *   - other labels: the highest probability, over every point of the answer where a label
 *     could start (its beginning, and wherever the text so far ends with ',' and optional
 *     spaces), that the next token starts this label: the summed probability of the tokens
 *     whose text, without leading spaces and lower-cased, is a prefix of the lower-cased
 *     label or begins with it.
 *   Box probability: m4cxr_box.probability, the probability of the span of the box's text. */
typedef struct m4cxr_label_score {
  size_t struct_size; /* set to sizeof(m4cxr_label_score) before the call */
  const char* label;  /* as listed in the question, owned by the result */
  double score;       /* in [0, 1] */
  int written;        /* 1 when the answer names the label (it is among the findings) */
} m4cxr_label_score;
/* Number of label scores: the candidate count for a report or a classification, 0 for
 * other tasks (and for an invalid handle, with m4cxr_last_error set). */
M4CXR_API size_t m4cxr_result_label_score_count(const m4cxr_result* r);
/* Fills the fields of *score that score->struct_size covers with label score i. Errors:
 * INVALID_HANDLE, INVALID_ARGUMENT (NULL score, struct_size out of range, index out of
 * range). */
M4CXR_API m4cxr_status m4cxr_result_get_label_score(const m4cxr_result* r, size_t i, m4cxr_label_score* score);
M4CXR_API size_t m4cxr_result_box_count(const m4cxr_result* r);
/* Fills the fields of *box that box->struct_size covers. Errors: INVALID_HANDLE,
 * INVALID_ARGUMENT (NULL box, struct_size out of range, index out of range). */
M4CXR_API m4cxr_status m4cxr_result_get_box(const m4cxr_result* r, size_t i, m4cxr_box* box);
/* Fills the fields of *stats that stats->struct_size covers. Errors as m4cxr_result_get_box. */
M4CXR_API m4cxr_status m4cxr_result_get_stats(const m4cxr_result* r, m4cxr_stats* stats);
/* Token probabilities (m4cxr_generation_options.logprobs). A token's log-probability is
 * the natural logarithm of its probability under the model's distribution at that step:
 * log_softmax, in fp32, of the raw logits the decoder produced for that position, BEFORE
 * temperature, top_k and top_p (for greedy decoding, the distribution the token was
 * chosen from; for sampling, the model's, not the sampler's). `text` is the token's
 * SentencePiece piece as in the vocabulary (U+2581 "\xe2\x96\x81" marks a space,
 * byte-fallback tokens read "<0x0A>", EOS "</s>"): defined for every token, also one that
 * ends inside a UTF-8 character; the decoded answer is m4cxr_result_turn_text. */
typedef struct m4cxr_token_info {
  size_t struct_size; /* set to sizeof(m4cxr_token_info) before the call */
  int32_t id;         /* vocabulary id */
  const char* text;   /* the token's piece, owned by the result */
  double logprob;     /* <= 0 */
  size_t top_count;   /* alternatives recorded for this token (top_logprobs; 0 for an
                         alternative itself) */
} m4cxr_token_info;
/* Generated tokens recorded in turn `turn` (one per generated id, EOS included): 0 when
 * logprobs was off, and for an invalid handle or turn (m4cxr_last_error set then). */
M4CXR_API size_t m4cxr_result_token_count(const m4cxr_result* r, size_t turn);
/* Fills the fields of *info that info->struct_size covers with token i of turn `turn`.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (NULL info, struct_size out of range, turn or
 * index out of range). */
M4CXR_API m4cxr_status m4cxr_result_get_token(const m4cxr_result* r, size_t turn, size_t i, m4cxr_token_info* info);
/* Alternative j (0 = the most likely token of that step; logprob descending, j <
 * top_count) of token i of turn `turn`. With greedy decoding alternative 0 has the
 * token's own log-probability. Errors as m4cxr_result_get_token. */
M4CXR_API m4cxr_status m4cxr_result_get_token_alternative(const m4cxr_result* r, size_t turn, size_t i, size_t j,
                                                          m4cxr_token_info* info);
/* Everything above plus a replay record (checkpoint, image hashes, options, per-turn
 * prompt and generated ids) as one JSON document: each box has "probability", and a
 * report or classification has "label_scores": {"label": score, ...} in candidate order
 * and "label_written": {"label": true|false, ...}. With logprobs on, each turn also has
 * "tokens": [{"id", "text", "logprob", "top": [{"id", "text", "logprob"}, ...]}, ...]
 * and the options record "logprobs" and "top_logprobs"; with it off neither appears. */
M4CXR_API const char* m4cxr_result_json(const m4cxr_result* r);
/* Releases the result. Any thread (see "Freeing"). */
M4CXR_API void m4cxr_result_free(m4cxr_result* r);

/* ---------------------------------------------------------------- structured reports
 * A result as a document a hospital system stores: a FHIR R4 Bundle or a DICOM
 * Comprehensive SR. Both are marked as AI-generated and preliminary (FHIR: status
 * "preliminary", security label AIAST of v3-ObservationValue on every resource the model
 * asserted, a Device with the engine and model versions; SR: verification UNVERIFIED, the
 * observer a device). What goes in:
 *  - the text (m4cxr_result_text) as the report's conclusion / a TEXT item;
 *  - one finding per label score (present when written, with the score), per finding not
 *    among them, and per box label not among either (present), with the boxes drawn for
 *    it (in pixels of the task's first image);
 *  - when the task's images were read from DICOM: the study of its last image (a
 *    follow-up lists the prior study first) - its Study Instance UID and PatientID
 *    (FHIR: DiagnosticReport.imagingStudy and subject, by identifier; SR: the same study,
 *    patient module and the images as evidence), and the SOP instance boxes refer to.
 *    Without DICOM images, FHIR has no subject or study, and the SR starts a new study
 *    with an empty patient module and no image regions.
 * README "Structured reports: FHIR and DICOM SR" shows both documents. */
typedef struct m4cxr_report_export_options {
  size_t struct_size; /* set by m4cxr_report_export_options_default */
  const char* issued; /* when the report was issued, "YYYY-MM-DDThh:mm:ssZ" (UTC): FHIR
                         issued/timestamp, SR content date and time. NULL (default): now */
  /* ---- end of the first published layout ---- */
} m4cxr_report_export_options;

/* As m4cxr_model_options_init / m4cxr_model_options_default, for export options. */
M4CXR_API m4cxr_status m4cxr_report_export_options_init(m4cxr_report_export_options* options, size_t struct_size);
#define m4cxr_report_export_options_default(options) \
  ((void)m4cxr_report_export_options_init((options), sizeof *(options)))

/* The result as a FHIR R4 Bundle (type "collection", JSON, UTF-8): a DiagnosticReport
 * (category radiology v2-0074 RAD; code LOINC 36643-5 "XR Chest 2 Views" for two or more
 * views of a DICOM study, else LOINC 18748-4 "Diagnostic imaging study"; the text as
 * conclusion and as a base64 text/plain presentedForm), one Observation per finding
 * (valueCodeableConcept SNOMED CT 52101004 Present / 2667000 Absent; the label score as
 * a component; each box as an extension "urn:m4cxr:fhir:StructureDefinition:image-region"
 * with x1, y1, x2, y2, probability and the SOP instance), and the Device. Valid against
 * the FHIR R4 JSON schema (tested). New UUIDs (fullUrl "urn:uuid:...") on every call.
 *  r        the result.
 *  options  NULL for the defaults; read during the call only.
 *  json     receives a NUL-terminated string allocated by the library, owned by the
 *           caller, released with m4cxr_free; set to NULL on failure.
 * Errors: INVALID_HANDLE (r), INVALID_ARGUMENT (NULL json, struct_size out of range, an
 * `issued` not of the form above), OUT_OF_MEMORY. Any thread. */
M4CXR_API m4cxr_status m4cxr_result_to_fhir(const m4cxr_result* r, const m4cxr_report_export_options* options,
                                            char** json);
/* The result as a DICOM Comprehensive SR Part-10 file (explicit VR little endian,
 * character set ISO_IR 192), ready to store next to the images: same Study Instance UID,
 * patient and study attributes as the source instances, a new series and SOP instance
 * (UIDs under 2.25, new on every call), the source instances in the Current Requested
 * Procedure Evidence Sequence (a prior study's in Pertinent Other Evidence), the text, a
 * CODE item per finding (Present/Absent, the label score as a NUM), and each box as a
 * closed SCOORD POLYLINE selected from an IMAGE item referencing the source instance.
 * Completion flag PARTIAL for a cancelled result, else COMPLETE. Valid by dciodvfy and
 * DCMTK's dsrdump (tested).
 *  data, size  receive the file's bytes (allocated by the library, owned by the caller,
 *              released with m4cxr_free) and their count; NULL and 0 on failure.
 * Errors as m4cxr_result_to_fhir (INVALID_ARGUMENT also for NULL size), and INTERNAL
 * if the file cannot be written. Any thread. */
M4CXR_API m4cxr_status m4cxr_result_to_dicom_sr(const m4cxr_result* r, const m4cxr_report_export_options* options,
                                                uint8_t** data, size_t* size);
/* Releases memory the library allocated for the caller (m4cxr_result_to_fhir,
 * m4cxr_result_to_dicom_sr). NULL is ignored. Any thread. */
M4CXR_API void m4cxr_free(void* p);

/* ---------------------------------------------------------------- geometry helpers */
/* Convert between original pixels and the 0-100 model frame of `image` (upstream
 * normalize_bbox / norm2origin_box). `pixels` and `model` hold 4 values. Errors:
 * INVALID_HANDLE, INVALID_ARGUMENT (NULL arrays). Any thread. */
M4CXR_API m4cxr_status m4cxr_image_pixels_to_model(const m4cxr_image* image, const double* pixels, int* model);
M4CXR_API m4cxr_status m4cxr_image_model_to_pixels(const m4cxr_image* image, const int* model, double* pixels);

/* The parity tracer (m4cxr_trace) is a debugging aid outside this stable API:
 * include/m4cxr/m4cxr_debug.h. */

#ifdef __cplusplus
}
#endif

#endif /* M4CXR_M4CXR_H */
