// m4cxr CLI: what the command's source files share (m4cxr_cli.cpp: options, task
// commands from the task table, running one task; batch.cpp: `m4cxr batch`).
#pragma once

#include <m4cxr/m4cxr.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace m4cxr_cli {

enum Exit { kOk = 0, kOther = 1, kUsage = 2, kInput = 3, kModel = 4 };

// A mistake in the command line (exit 2).
struct UsageError {
  std::string message;
};
// Anything else that stops a command, with its exit code.
struct Failure {
  int code;
  std::string message;
};

// The parsed command line (parse()).
struct Options {
  std::string command, model, adapter, dtype = "bf16", device = "cpu", out, prompt, draw;
  std::vector<std::string> images;                          // --image (also a task argument)
  std::vector<std::pair<std::string, std::string>> task;    // task options in order: flag, value
  int threads = 0, max_new_tokens = 500, top_k = 50;
  int logprobs = -1;  // --logprobs K: alternatives per token; -1 = off
  double temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;
  bool sample = false, json = false, json_pretty = false, stream = true, help = false, version = false;
  bool constrained = false;
  std::string manifest;  // batch: --manifest FILE
  int concurrency = 0;   // batch: --concurrency N (0 = from the machine's cores and memory)
  std::vector<std::string> dicom, prior_dicom;  // --dicom / --prior-dicom paths
  std::string dicom_conversion = "mimic_jpg";
  std::vector<std::string> dicom_allow;
  std::string fhir, sr;  // --fhir OUT.json / --sr OUT.dcm: the result as a FHIR bundle / DICOM SR
};

// The C handles of one command (freed in reverse order). A borrowed model
// (owns_model = false) is left to its owner.
struct Handles {
  m4cxr_model* model = nullptr;
  bool owns_model = true;
  m4cxr_session* session = nullptr;
  std::vector<m4cxr_image*> images;
  Handles() = default;
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;
  ~Handles() {
    m4cxr_session_free(session);
    for (auto* im : images) m4cxr_image_free(im);
    if (owns_model) m4cxr_model_free(model);
  }
};

// The library's task table (m4cxr_task_table_json()), parsed once.
const nlohmann::json& task_table();
// The table's tasks run by a CLI command (e.g. "ground": ground_finding, ground_phrase, ...).
std::vector<const nlohmann::json*> tasks_of(const std::string& command);
// Parses a command line (argv[0] is skipped); throws UsageError.
Options parse(int argc, char** argv);
// The task of o.command that the given task options select; throws UsageError.
const nlohmann::json& pick_task(const Options& o);
// Adds o's task options to `args` as the named arguments of `task` (images are read
// through h.model and kept in h); the boxes given are appended to in_boxes.
void fill_args(Handles& h, const Options& o, const nlohmann::json& task, m4cxr_task_args* args,
               std::vector<std::array<double, 4>>* in_boxes);
// Loads o.model with o's dtype, device, threads and adapter; throws Failure / UsageError.
m4cxr_model* load_model(const Options& o);
// The generation options o asks for.
m4cxr_generation_options generation(const Options& o);
// Throws Failure with m4cxr_last_error() when st is not M4CXR_OK (input_side: the call
// read the user's inputs, so a format error is exit 3, not 4).
void check(m4cxr_status st, const std::string& what, bool input_side = false);
// Whether stderr is a terminal.
bool stderr_tty();

// `m4cxr batch --manifest FILE --out FILE`: runs a worklist (batch.cpp).
int run_batch(const Options& o);
// The help text of `m4cxr batch` (batch.cpp).
extern const char* const kBatchHelp;

}  // namespace m4cxr_cli
