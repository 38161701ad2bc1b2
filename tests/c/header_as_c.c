/* Compiles m4cxr.h as strict C99 and makes a few calls through it. */
#include <m4cxr/m4cxr.h>
#include <m4cxr/m4cxr_debug.h>
#include <stdio.h>
#include <string.h>

static int info_messages;
static void on_log(void* user_data, m4cxr_log_level level, const char* message) {
  if (user_data == &info_messages && level >= M4CXR_LOG_INFO && message[0] != '\0') ++info_messages;
}

int main(int argc, char** argv) {
  m4cxr_model_options mo;
  m4cxr_model* model = NULL;
  m4cxr_model_info info;
  if (m4cxr_abi_version() != M4CXR_ABI_VERSION) return 1;
  if (strcmp(m4cxr_status_string(M4CXR_ERR_BUSY), "busy") != 0) return 1;
  if (m4cxr_model_load("/definitely/missing", NULL, &model) != M4CXR_ERR_IO || model != NULL) return 1;
  if (argc < 2) return 1;
  m4cxr_model_options_default(&mo);
  mo.dtype = M4CXR_DTYPE_FLOAT32;
  if (m4cxr_set_log_callback(on_log, &info_messages, M4CXR_LOG_INFO) != M4CXR_OK) return 1;
  if (m4cxr_model_load(argv[1], &mo, &model) != M4CXR_OK) {
    fprintf(stderr, "%s\n", m4cxr_last_error());
    return 1;
  }
  if (m4cxr_set_log_callback(NULL, NULL, M4CXR_LOG_DEBUG) != M4CXR_OK || info_messages == 0) return 1;
  info.struct_size = sizeof info;
  if (m4cxr_model_get_info(model, &info) != M4CXR_OK || info.visual_tokens_per_image <= 0) return 1;
  m4cxr_model_free(model);
  printf("1 passed, 0 failed\n");
  return 0;
}
