#include "engine/chat_session.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "tasks/output_parsing.h"
#include "text/chat_prompt.h"

namespace m4cxr {

namespace {
constexpr size_t kMaxPromptIds = 4096;  // upstream encode_prompt(max_length=4095) + BOS
std::atomic<int> g_layer_delay_ms{0};    // set_debug_layer_delay_ms

int count_markers(const std::string& s) {
  int n = 0;
  for (size_t p = s.find(kImageMarker); p != std::string::npos; p = s.find(kImageMarker, p + 1)) ++n;
  return n;
}
}  // namespace

ChatSession::ChatSession(std::shared_ptr<const Model> model) : model_(std::move(model)), conv_(model_) {}

void ChatSession::new_conversation() {
  conv_.reset();
  ids_.clear();
  images_.clear();
  image_tokens_.clear();
  active_ = turn_open_ = false;
}

void ChatSession::reset() {
  new_conversation();
  clear_image_cache();
}

void ChatSession::clear_image_cache() {
  lru_index_.clear();
  lru_.clear();
}

void ChatSession::set_image_cache_capacity(size_t n) {
  cache_capacity_ = n;
  size_t dropped = 0;
  while (lru_.size() > cache_capacity_) {
    lru_index_.erase(lru_.back().first);
    lru_.pop_back();
    ++dropped;
  }
  if (dropped > 0)
    log(LogLevel::debug, "image cache: dropped ", dropped, " least recently used embedding(s) (keeps ", cache_capacity_,
        ")");
}

void ChatSession::set_debug_layer_delay_ms(int ms) noexcept { g_layer_delay_ms.store(std::max(0, ms)); }

bool ChatSession::stop_requested() const {
  const int delay = g_layer_delay_ms.load(std::memory_order_relaxed);
  if (delay > 0) {  // a simulated slow layer that a cancel cuts short
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
    while (!cancel_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(delay, 5)));
  }
  return cancel_.load();
}

at::Tensor ChatSession::visual_tokens(const PreparedImage& img) {
  auto it = lru_index_.find(img.hash);
  if (it != lru_index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // now the most recent
    return it->second->second;
  }
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor pv = Model::pixel_values({img.pixels});
  at::Tensor v = model_->encode_images(pv, nullptr, [this] { return stop_requested(); })[0];
  outcome_.image_encode_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (cache_capacity_ > 0) {
    lru_.emplace_front(img.hash, v);
    lru_index_[img.hash] = lru_.begin();
    set_image_cache_capacity(cache_capacity_);  // evicts the least recent beyond the bound
  }
  return v;
}

// Encodes `images` (cached by hash) and extends the conversation's image list.
void ChatSession::add_images(const std::vector<std::shared_ptr<const PreparedImage>>& images) {
  if (images.empty()) return;
  std::vector<at::Tensor> tokens = image_tokens_;
  for (const auto& im : images) tokens.push_back(visual_tokens(*im));
  conv_.set_images(at::stack(tokens));
  image_tokens_ = std::move(tokens);
  images_.insert(images_.end(), images.begin(), images.end());
}

TaskSpec make_task_spec(TaskPlan plan, const std::vector<std::shared_ptr<const PreparedImage>>& images,
                        const GenerationOptions& generation) {
  TaskSpec spec;
  spec.name = std::move(plan.task);
  spec.image_prompt = std::move(plan.image_prompt);
  spec.questions = std::move(plan.questions);
  for (const ImageArg& im : plan.images) {
    if (im.index < 0 || static_cast<size_t>(im.index) >= images.size())
      fail(Status::internal, "the task plan refers to image " + std::to_string(im.index) + " of " +
                                 std::to_string(images.size()));
    spec.images.push_back(images[static_cast<size_t>(im.index)]);
  }
  spec.output = plan.output;
  spec.labels = std::move(plan.labels);
  spec.answer_formats = std::move(plan.answer_formats);
  spec.generation = generation;
  return spec;
}

void ChatSession::append_turn(const std::string& user_content, const std::string& answer,
                              const std::vector<std::shared_ptr<const PreparedImage>>& images) {
  c10::InferenceMode guard;
  if (active_) fail(Status::busy, "the session runs a task");
  if (user_content.empty()) fail(Status::invalid_argument, "append_turn: the user text is empty");
  for (const char* marker : {"[INST]", "[/INST]", "<s>", "</s>"})
    if (user_content.find(marker) != std::string::npos)
      fail(Status::invalid_argument, std::string("append_turn: the user text may not contain \"") + marker + "\"");
  if (count_markers(user_content) != static_cast<int>(images.size()))
    fail(Status::invalid_argument, "append_turn: the user text has " + std::to_string(count_markers(user_content)) +
                                       " <image> marker(s) but " + std::to_string(images.size()) + " image(s) were given");
  for (const auto& im : images)
    if (!im) fail(Status::invalid_argument, "append_turn: NULL image");
  const bool first = empty();
  EncodedPrompt e = encode_complete_turn(model_->tokenizer(), user_content, answer, first, model_->num_visual_tokens());
  std::vector<int32_t> ids = first ? std::vector<int32_t>{} : ids_;
  ids.insert(ids.end(), e.ids.begin(), e.ids.end());
  if (ids.size() > kMaxPromptIds)
    fail(Status::limit_exceeded, "the conversation would reach " + std::to_string(ids.size()) + " tokens, over the " +
                                     std::to_string(kMaxPromptIds) + "-token prompt limit");
  add_images(images);
  ids_ = std::move(ids);
}

void ChatSession::begin(TaskSpec spec, bool new_conv) {
  if (active_) fail(Status::busy, "the session already runs a task");
  if (spec.questions.empty()) fail(Status::invalid_argument, "a task needs at least one question");
  for (const auto& q : spec.questions)
    if (q.empty()) fail(Status::invalid_argument, "empty prompt");
  if (spec.generation.max_new_tokens < 1) fail(Status::invalid_argument, "max_new_tokens must be at least 1");
  if (spec.generation.logprobs < -1)
    fail(Status::invalid_argument, "logprobs must be -1 (off) or the number of alternatives (>= 0)");
  if (count_markers(spec.image_prompt) != static_cast<int>(spec.images.size()))
    fail(Status::invalid_argument, "the task expects " + std::to_string(count_markers(spec.image_prompt)) +
                                       " image(s) but " + std::to_string(spec.images.size()) + " were given");
  for (const auto& im : spec.images)
    if (!im) fail(Status::invalid_argument, "NULL image");
  // Constrained decoding finishes every formatted answer within max_new_tokens only when
  // the shortest one fits (counted at a token per byte, plus EOS).
  if (spec.generation.constrained)
    for (const auto& f : spec.answer_formats)
      if (f) {
        const int need = f->min_bytes_to_complete(f->start()) + 1;
        if (spec.generation.max_new_tokens < need)
          fail(Status::invalid_argument, "constrained decoding needs max_new_tokens of at least " +
                                             std::to_string(need) + " for this task's answers");
      }
  for (size_t q = 0; q < spec.questions.size(); ++q)
    if (count_markers(spec.questions[q]) != 0) fail(Status::invalid_argument, "questions may not contain <image>");
  if (new_conv) new_conversation();
  // A conversation that already shows these images continues with the bare question
  // (e.g. grounding a sentence of a report); new images come with their image prompt.
  // Boxes refer to the task's (first) image, else to the conversation's latest one.
  box_image_ = !spec.images.empty() ? spec.images.front() : (images_.empty() ? nullptr : images_.back());
  if (!empty() && !spec.images.empty()) {
    bool all_seen = true;
    for (const auto& im : spec.images)
      all_seen = all_seen && std::any_of(images_.begin(), images_.end(),
                                         [&](const auto& c) { return c->hash == im->hash; });
    if (all_seen) {
      spec.image_prompt.clear();
      spec.images.clear();
    }
  }
  spec_ = std::move(spec);
  outcome_ = TaskOutcome{};
  outcome_.task = spec_.name;
  outcome_.logprobs = spec_.generation.logprobs;
  box_probabilities_.clear();
  for (const auto& im : spec_.images) {
    outcome_.image_hashes.push_back(im->hash);
    outcome_.image_sources.push_back(im->source_json);
  }
  cancel_.store(false);
  turn_ = 0;
  turn_open_ = false;
  active_ = true;
  started_ = std::chrono::steady_clock::now();
  log(LogLevel::debug, "task ", spec_.name, " started: ", spec_.images.size(), " new image(s), ", spec_.questions.size(),
      " turn(s), max_new_tokens ", spec_.generation.max_new_tokens, empty() ? ", new conversation" : ", continuing");
}

void ChatSession::start_turn() {
  c10::InferenceMode guard;
  const auto& tok = model_->tokenizer();
  const int nvis = model_->num_visual_tokens();
  std::string user = spec_.questions[turn_];
  std::vector<std::shared_ptr<const PreparedImage>> new_images;
  if (turn_ == 0) {
    if (empty())
      user = first_user_content(spec_.image_prompt, user, true);
    else if (!spec_.image_prompt.empty())
      user = spec_.image_prompt + " " + user;
    new_images = spec_.images;
  }
  std::vector<int32_t> ids;
  if (empty()) {
    EncodedPrompt e = encode_prompt(tok, render_chat({{ChatMessage::Role::user, user}}), nvis);
    if (e.truncated)
      fail(Status::limit_exceeded, "the prompt exceeds " + std::to_string(kMaxPromptIds) +
                                       " tokens (upstream would silently drop its end)");
    ids = std::move(e.ids);
  } else {
    EncodedPrompt e = encode_user_turn(tok, user, nvis);
    ids = ids_;
    ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    if (ids.size() > kMaxPromptIds)
      fail(Status::limit_exceeded, "the conversation reached " + std::to_string(ids.size()) + " tokens, over the " +
                                       std::to_string(kMaxPromptIds) + "-token prompt limit; reset the session");
  }
  if (static_cast<int64_t>(ids.size()) + spec_.generation.max_new_tokens > model_->config().text.max_position_embeddings)
    fail(Status::limit_exceeded, "prompt plus max_new_tokens exceeds the model's context");
  add_images(new_images);
  turn_prompt_ = ids;
  TurnResult tr;
  tr.user = user;
  tr.prompt_ids = ids;
  outcome_.turns.push_back(tr);
  decoder_ = std::make_unique<IncrementalDecoder>(tok);
  GenerationOptions generation = spec_.generation;
  if (generation.constrained && turn_ < spec_.answer_formats.size() && spec_.answer_formats[turn_])
    generation.constraint = std::make_shared<TokenConstraint>(model_->token_texts(), spec_.answer_formats[turn_]);
  // The turn whose answer carries the task's findings or boxes is scored.
  const size_t last = spec_.questions.size() - 1;
  const bool label_turn = (spec_.output == OutputKind::report_cot && turn_ == 0) ||
                          (spec_.output == OutputKind::findings && turn_ == last);
  const bool box_turn = (spec_.output == OutputKind::boxes || spec_.output == OutputKind::named_boxes) && turn_ == last;
  turn_scored_ = label_turn || box_turn;
  scorer_ = label_turn ? std::make_unique<LabelStartScorer>(model_->token_texts(), spec_.labels) : nullptr;
  spans_.clear();
  turn_text_.clear();
  turn_started_ = false;
  conv_.start(ids, generation, [this] { return stop_requested(); });
  turn_open_ = true;
}

void ChatSession::finish_turn() {
  TurnResult& tr = outcome_.turns.back();
  tr.stats = conv_.stats();
  tr.text = model_->tokenizer().decode(tr.ids);
  if (turn_scored_) {
    if (turn_text_ != tr.text) {  // the streamed text is decode() by construction
      log(LogLevel::error, "task ", spec_.name, ": the streamed answer differs from the decoded one; no scores");
    } else if (scorer_) {
      outcome_.label_scores = scorer_->scores(tr.text, spans_);
    } else {
      box_probabilities_ = box_probabilities(tr.text, spans_);
    }
  }
  scorer_.reset();
  turn_scored_ = false;
  ids_ = turn_prompt_;
  ids_.insert(ids_.end(), tr.ids.begin(), tr.ids.end());
  outcome_.prompt_tokens = tr.stats.prompt_tokens;
  outcome_.prefilled_tokens += tr.stats.prefilled_tokens;
  outcome_.generated_tokens += tr.stats.generated_tokens;
  outcome_.prefill_ms += tr.stats.prefill_ms;
  outcome_.decode_ms += tr.stats.decode_ms;
  outcome_.stopped_by_eos = tr.stats.stopped_by_eos;
  outcome_.cancelled = outcome_.cancelled || tr.stats.cancelled || cancel_.load();
  turn_open_ = false;
  ++turn_;
}

void ChatSession::finish_task() {
  active_ = false;
  const auto& o = outcome_;
  log(LogLevel::debug, "task ", o.task, o.cancelled ? " cancelled" : " finished", " after ", o.turns.size(), " turn(s) in ",
      std::fixed, std::setprecision(1),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count(), " ms: ",
      o.prefilled_tokens, " token(s) prefilled, ", o.generated_tokens, " generated; image encoding ", o.image_encode_ms,
      " ms, prefill ", o.prefill_ms, " ms, decoding ", o.decode_ms, " ms", o.stopped_by_eos ? ", stopped by EOS" : "");
  const auto& turns = outcome_.turns;
  if (turns.empty()) return;
  outcome_.text = turns.back().text;
  auto map_boxes = [&](const std::vector<ModelBox>& boxes, const std::string& label) {
    const PreparedImage* img = box_image_.get();
    for (const auto& b : boxes) {
      TaskBox tb;
      tb.label = label;
      tb.model = b;
      const size_t k = outcome_.boxes.size();  // boxes come in parse_boxes order
      if (k < box_probabilities_.size()) tb.probability = box_probabilities_[k];
      if (img) tb.pixels = model_box_to_pixels(b, img->width, img->height);
      outcome_.boxes.push_back(tb);
    }
  };
  switch (spec_.output) {
    case OutputKind::report_cot:
      outcome_.findings = parse_findings(turns.front().text, spec_.labels);
      break;
    case OutputKind::findings:
      outcome_.findings = parse_findings(outcome_.text, spec_.labels);
      break;
    case OutputKind::boxes:
      map_boxes(parse_boxes(outcome_.text), spec_.labels.empty() ? "" : spec_.labels.front());
      break;
    case OutputKind::named_boxes:
      for (const auto& nb : parse_named_boxes(outcome_.text)) {
        map_boxes(nb.second, nb.first);
        if (!nb.second.empty()) outcome_.findings.push_back(nb.first);
      }
      break;
    case OutputKind::text:
      break;
  }
}

bool ChatSession::next(std::string* piece, int* turn) {
  if (!active_) return false;
  apply_intra_op_threads();  // this thread may have computed before the latest load
  try {
    while (true) {
      if (!turn_open_) {
        if (cancel_.load()) outcome_.cancelled = true;  // stopped before this turn began
        if (turn_ >= spec_.questions.size() || outcome_.cancelled) {
          finish_task();
          return false;
        }
        start_turn();
      }
      int32_t id;
      TokenLogprob lp;
      const bool want_logprobs = spec_.generation.logprobs >= 0;
      // A findings turn needs the whole distribution where a label could start next.
      at::Tensor distribution;
      const bool want_distribution = scorer_ && LabelStartScorer::is_label_start(turn_text_);
      if (conv_.step(&id, want_logprobs || turn_scored_ ? &lp : nullptr,
                     want_distribution ? &distribution : nullptr)) {
        if (want_distribution)
          scorer_->observe(turn_started_, distribution.data_ptr<float>(), static_cast<size_t>(distribution.numel()));
        TurnResult& tr = outcome_.turns.back();
        tr.ids.push_back(id);
        if (want_logprobs) {
          const Tokenizer& tok = model_->tokenizer();
          GeneratedToken g;
          g.id = id;
          g.piece = tok.id_to_piece(id);
          g.logprob = lp.logprob;
          for (const auto& [alt, alt_lp] : lp.top) g.top.push_back(TokenChoice{alt, tok.id_to_piece(alt), alt_lp});
          tr.tokens.push_back(std::move(g));
        }
        std::string p = decoder_->push(id);
        if (turn_scored_) {
          spans_.push_back({turn_text_.size(), turn_text_.size() + p.size(), lp.logprob});
          turn_text_ += p;
          turn_started_ = turn_started_ || !model_->tokenizer().is_special(id);
        }
        if (!p.empty()) {
          *piece = std::move(p);
          *turn = static_cast<int>(turn_);
          return true;
        }
        continue;
      }
      std::string rest = decoder_->finish();
      if (turn_scored_ && !spans_.empty()) {  // held-back bytes belong to the last token
        spans_.back().end += rest.size();
        turn_text_ += rest;
      }
      const int this_turn = static_cast<int>(turn_);
      finish_turn();
      if (!rest.empty()) {
        *piece = std::move(rest);
        *turn = this_turn;
        return true;
      }
    }
  } catch (const Error& e) {
    // A failed turn ends the task; the conversation keeps what was complete before it.
    if (turn_open_ && !outcome_.turns.empty()) outcome_.turns.pop_back();
    active_ = turn_open_ = false;
    log(LogLevel::debug, "task ", spec_.name, e.status() == Status::cancelled ? " cancelled" : " failed", " in turn ",
        turn_, " after ", std::fixed, std::setprecision(1),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count(), " ms");
    throw;
  } catch (...) {
    if (turn_open_ && !outcome_.turns.empty()) outcome_.turns.pop_back();
    active_ = turn_open_ = false;
    throw;
  }
}

}  // namespace m4cxr
