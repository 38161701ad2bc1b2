// A dialogue driven by tasks: turns are built from task plans (image prompt + questions,
// src/tasks/task_registry.h), encoded exactly as upstream's evaluation path (first turn
// through the chat template, later turns appended after the generated ids), and the
// model output parsed into findings and boxes (mapped back to original pixels).
// Pull-style: next() yields complete UTF-8 pieces. Visual tokens of recent images are
// kept in a bounded LRU cache (by content hash) so a study asked several questions is
// encoded once; reset() and clear_image_cache() drop it.
// Not thread-safe except cancel(), which any thread may call.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/conversation.h"
#include "engine/prepared_image.h"
#include "image/box_geometry.h"
#include "tasks/answer_confidence.h"
#include "tasks/task_registry.h"
#include "text/incremental_decoder.h"

namespace m4cxr {

struct TaskSpec {
  std::string name;                // "report", "classify", ... (for results / replay)
  std::string image_prompt;        // "radiology image: <image>"; "" when no images are attached
  std::vector<std::string> questions;  // one per user turn
  std::vector<std::shared_ptr<const PreparedImage>> images;  // in <image> order
  OutputKind output = OutputKind::text;
  std::vector<std::string> labels;  // candidate names for findings / the label of boxes
  // One per question (TaskPlan::answer_formats); nullptr or absent: free text.
  std::vector<std::shared_ptr<const AnswerFormat>> answer_formats;
  GenerationOptions generation;
};

// The spec of a planned task: the plan's prompt parts, output kind, labels and answer
// formats, the plan's images picked from `images` (the caller's list, ImageArg::index),
// and the generation options. Throws Error(internal) for an index outside `images`.
TaskSpec make_task_spec(TaskPlan plan, const std::vector<std::shared_ptr<const PreparedImage>>& images,
                        const GenerationOptions& generation);

struct TaskBox {
  std::string label;
  ModelBox model;
  PixelBox pixels;  // in the task's first image (grounding tasks take one image)
  // Probability of the tokens that wrote the box (tasks/answer_confidence.h).
  double probability = 0;
};

// A token with its log-probability (see TokenLogprob for the definition). `piece` is the
// token's SentencePiece vocabulary piece (Tokenizer::id_to_piece: "▁" marks a space,
// byte-fallback tokens read "<0x0A>", EOS "</s>"): well defined for every id, also for
// tokens that end inside a UTF-8 character; the turn's text is the decoded answer.
struct TokenChoice {
  int32_t id = 0;
  std::string piece;
  float logprob = 0;
};

struct GeneratedToken : TokenChoice {
  std::vector<TokenChoice> top;  // the k most likely tokens of that step, logprob descending
};

struct TurnResult {
  std::string user;  // the user message as sent
  std::string text;  // decoded answer
  std::vector<int32_t> prompt_ids;  // the whole prompt of this turn (-1 = image slot)
  std::vector<int32_t> ids;         // generated
  std::vector<GeneratedToken> tokens;  // one per id when logprobs were asked for, else empty
  GenerationStats stats;
};

struct TaskOutcome {
  std::string task;
  std::vector<TurnResult> turns;
  std::string text;  // report / last turn text
  std::vector<std::string> findings;
  std::vector<TaskBox> boxes;
  // Every candidate label of the findings turn (report turn 0, classification), in
  // candidate order, with its score (tasks/answer_confidence.h); empty for other tasks.
  std::vector<LabelScore> label_scores;
  double image_encode_ms = 0;
  int64_t prompt_tokens = 0, prefilled_tokens = 0, generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
  bool stopped_by_eos = false, cancelled = false;
  std::vector<std::string> image_hashes;
  std::vector<std::string> image_sources;  // PreparedImage::source_json of each image
  int logprobs = -1;  // GenerationOptions::logprobs of the task (-1: no tokens recorded)
};

class ChatSession {
 public:
  explicit ChatSession(std::shared_ptr<const Model> model);

  const Model& model() const noexcept { return *model_; }
  bool empty() const noexcept { return ids_.empty(); }
  // Forgets the conversation (ids, KV cache, its images) but keeps the image cache.
  void new_conversation();
  // new_conversation() and clear_image_cache().
  void reset();
  // Drops every cached image embedding (and the memory that held it).
  void clear_image_cache();
  // At most `n` image embeddings are kept between tasks (least recently used go first);
  // 0 keeps none. Images of the current conversation are held by it regardless.
  void set_image_cache_capacity(size_t n);
  size_t cached_images() const noexcept { return lru_.size(); }

  // Appends a complete earlier turn without running the model: `user_content` as the
  // user wrote it (upstream's user message without the system message, which an empty
  // conversation gets in front), with one "<image>" marker per entry of `images`, and
  // the assistant's `answer`. Encoded as upstream encodes a whole conversation
  // (render_chat + encode_prompt: the answer followed by EOS), so later turns see the
  // ids upstream's multi-turn evaluation feeds. invalid_argument for structural markers
  // in the texts or a marker/image mismatch; limit_exceeded past the prompt limit.
  void append_turn(const std::string& user_content, const std::string& answer,
                   const std::vector<std::shared_ptr<const PreparedImage>>& images);

  // Starts a task, in a new conversation when `new_conversation` (throws Error
  // invalid_argument before any change).
  void begin(TaskSpec spec, bool new_conversation = false);
  bool active() const noexcept { return active_; }
  // Next piece; false when the task is over (then outcome() is complete).
  bool next(std::string* piece, int* turn);
  const TaskOutcome& outcome() const noexcept { return outcome_; }
  // Any thread.
  void cancel() noexcept { cancel_.store(true); }
  bool cancel_requested() const noexcept { return cancel_.load(); }
  // Ids of the whole conversation so far (prompt and generated).
  const std::vector<int32_t>& conversation_ids() const noexcept { return ids_; }

  // Debugging aid for tests (m4cxr_debug_set_layer_delay_ms), process-wide: tasks of every
  // session sleep `ms` before each transformer layer / abstractor block, waking early on
  // cancel, to simulate a slow model. 0 (default) turns it off.
  static void set_debug_layer_delay_ms(int ms) noexcept;

 private:
  void start_turn();
  void finish_turn();
  void finish_task();
  at::Tensor visual_tokens(const PreparedImage& img);
  void add_images(const std::vector<std::shared_ptr<const PreparedImage>>& images);
  // The per-layer cancel check of tasks (with the debug delay, if set).
  bool stop_requested() const;

  std::shared_ptr<const Model> model_;
  Conversation conv_;
  std::vector<int32_t> ids_;
  std::vector<std::shared_ptr<const PreparedImage>> images_;  // in conversation order
  std::vector<at::Tensor> image_tokens_;                      // their visual tokens
  // LRU cache of visual tokens by image hash (front = most recent).
  std::list<std::pair<std::string, at::Tensor>> lru_;
  std::map<std::string, std::list<std::pair<std::string, at::Tensor>>::iterator> lru_index_;
  size_t cache_capacity_ = 8;
  std::atomic<bool> cancel_{false};
  bool active_ = false, turn_open_ = false;
  size_t turn_ = 0;
  TaskSpec spec_;
  TaskOutcome outcome_;
  std::unique_ptr<IncrementalDecoder> decoder_;
  std::vector<int32_t> turn_prompt_;
  std::shared_ptr<const PreparedImage> box_image_;
  // Confidence (issue 14) of the turn being generated, when it is the findings turn or
  // the boxes turn: each token's span of the answer text and log-probability, the text so
  // far, and the label-start observations of a findings turn.
  bool turn_scored_ = false, turn_started_ = false;
  std::unique_ptr<LabelStartScorer> scorer_;
  std::vector<TokenSpan> spans_;
  std::string turn_text_;
  std::vector<double> box_probabilities_;  // of the boxes turn, in parse_boxes order
  std::chrono::steady_clock::time_point started_;  // begin() of the current task, for the log
};

}  // namespace m4cxr
