// A dialogue driven by tasks: turns are built from task descriptions (image prompt +
// questions), encoded exactly as upstream's evaluation path (first turn through the chat
// template, later turns appended after the generated ids), images encoded once per
// session (cache by content hash), and the model output parsed into findings and boxes
// (mapped back to original pixels). Pull-style: next() yields complete UTF-8 pieces.
// Not thread-safe except cancel(), which any thread may call.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/conversation.h"
#include "engine/prepared_image.h"
#include "image/box_geometry.h"
#include "text/incremental_decoder.h"

namespace m4cxr {

enum class OutputKind {
  text,         // free text (VQA, chat, identify-region)
  report_cot,   // turn 1 findings, turn 2 report
  findings,     // classification
  boxes,        // every [x1,y1,x2,y2] in the answer
  named_boxes,  // "name [..], [..], name2 [..]." (multi-finding grounding)
};

struct TaskSpec {
  std::string name;                // "report", "classify", ... (for results / replay)
  std::string image_prompt;        // "radiology image: <image>"; "" when no images are attached
  std::vector<std::string> questions;  // one per user turn
  bool with_system = true;
  std::vector<std::shared_ptr<const PreparedImage>> images;  // in <image> order
  OutputKind output = OutputKind::text;
  std::vector<std::string> labels;  // candidate names for findings / the label of boxes
  GenerationOptions generation;
};

struct TaskBox {
  std::string label;
  ModelBox model;
  PixelBox pixels;
  int image_index = 0;
};

struct TurnResult {
  std::string user;  // the user message as sent
  std::string text;  // decoded answer
  std::vector<int32_t> prompt_ids;  // the whole prompt of this turn (-1 = image slot)
  std::vector<int32_t> ids;         // generated
  GenerationStats stats;
};

struct TaskOutcome {
  std::string task;
  std::vector<TurnResult> turns;
  std::string text;  // report / last turn text
  std::vector<std::string> findings;
  std::vector<TaskBox> boxes;
  double image_encode_ms = 0;
  int64_t prompt_tokens = 0, prefilled_tokens = 0, generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
  bool stopped_by_eos = false, cancelled = false;
  std::vector<std::string> image_hashes;
};

class ChatSession {
 public:
  explicit ChatSession(std::shared_ptr<const Model> model);

  const Model& model() const noexcept { return *model_; }
  bool empty() const noexcept { return ids_.empty(); }
  void reset();

  // Starts a task (throws Error invalid_argument / limit_exceeded before any change).
  void begin(TaskSpec spec);
  bool active() const noexcept { return active_; }
  // Next piece; false when the task is over (then outcome() is complete).
  bool next(std::string* piece, int* turn);
  const TaskOutcome& outcome() const noexcept { return outcome_; }
  // Any thread.
  void cancel() noexcept { cancel_.store(true); }
  // Ids of the whole conversation so far (prompt and generated).
  const std::vector<int32_t>& conversation_ids() const noexcept { return ids_; }

 private:
  void start_turn();
  void finish_turn();
  void finish_task();
  at::Tensor visual_tokens(const PreparedImage& img);

  std::shared_ptr<const Model> model_;
  Conversation conv_;
  std::vector<int32_t> ids_;
  std::vector<std::shared_ptr<const PreparedImage>> images_;  // in conversation order
  std::map<std::string, at::Tensor> encoded_;                 // by image hash
  std::atomic<bool> cancel_{false};
  bool active_ = false, turn_open_ = false;
  size_t turn_ = 0;
  TaskSpec spec_;
  TaskOutcome outcome_;
  std::unique_ptr<IncrementalDecoder> decoder_;
  std::vector<int32_t> turn_prompt_;
  std::shared_ptr<const PreparedImage> box_image_;
};

}  // namespace m4cxr
