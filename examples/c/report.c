/* Streams a chain-of-thought report for one chest X-ray through the m4cxr C API.
 * Usage: m4cxr_report_c MODEL_DIR IMAGE [MAX_NEW_TOKENS] */
#include <m4cxr/m4cxr.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char* what, m4cxr_status st) {
  fprintf(stderr, "%s failed: %s: %s\n", what, m4cxr_status_string(st), m4cxr_last_error());
  return 1;
}

static int print_piece(const char* piece, size_t length, int turn, void* user_data) {
  int* last_turn = (int*)user_data;
  if (turn != *last_turn) {
    printf(turn == 0 ? "Findings: " : "\nReport: ");
    *last_turn = turn;
  }
  fwrite(piece, 1, length, stdout);
  fflush(stdout);
  return 0; /* keep going */
}

int main(int argc, char** argv) {
  m4cxr_model_options mo;
  m4cxr_generation_options go;
  m4cxr_model* model = NULL;
  m4cxr_image* image = NULL;
  m4cxr_session* session = NULL;
  m4cxr_task* task = NULL;
  m4cxr_result* result = NULL;
  m4cxr_stats stats;
  m4cxr_status st;
  size_t i;
  int last_turn = -1;

  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL_DIR IMAGE [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  if (m4cxr_abi_version() != M4CXR_ABI_VERSION) {
    fprintf(stderr, "libm4cxr ABI %d does not match this header's %d\n", m4cxr_abi_version(), M4CXR_ABI_VERSION);
    return 1;
  }
  m4cxr_model_options_default(&mo);
  if ((st = m4cxr_model_load(argv[1], &mo, &model)) != M4CXR_OK) return fail("loading the model", st);
  if ((st = m4cxr_image_from_file(model, argv[2], &image)) != M4CXR_OK) return fail("reading the image", st);
  if ((st = m4cxr_session_create(model, &session)) != M4CXR_OK) return fail("creating a session", st);
  m4cxr_generation_options_default(&go);
  if (argc > 3) {
    char* end = NULL;
    long n = strtol(argv[3], &end, 10);
    if (*argv[3] == '\0' || *end != '\0' || n < 1 || n > 100000) {
      fprintf(stderr, "max_new_tokens must be an integer from 1 to 100000, got '%s'\n", argv[3]);
      return 2;
    }
    go.max_new_tokens = (int)n;
  }

  st = m4cxr_report(session, (const m4cxr_image* const*)&image, 1, &go, &task);
  if (st != M4CXR_OK) return fail("starting the report", st);
  if ((st = m4cxr_task_run(task, print_piece, &last_turn)) != M4CXR_OK) return fail("generating", st);
  if ((st = m4cxr_task_result(task, &result)) != M4CXR_OK) return fail("collecting the result", st);

  printf("\n\n%zu finding(s):", m4cxr_result_finding_count(result));
  for (i = 0; i < m4cxr_result_finding_count(result); ++i) printf(" %s", m4cxr_result_finding(result, i));
  stats.struct_size = sizeof stats;
  m4cxr_result_get_stats(result, &stats);
  fprintf(stderr, "\n%lld generated tokens, image %.0f ms, prefill %.0f ms, decode %.0f ms\n",
          (long long)stats.generated_tokens, stats.image_encode_ms, stats.prefill_ms, stats.decode_ms);

  m4cxr_result_free(result);
  m4cxr_task_free(task);
  m4cxr_session_free(session);
  m4cxr_image_free(image);
  m4cxr_model_free(model);
  return 0;
}
