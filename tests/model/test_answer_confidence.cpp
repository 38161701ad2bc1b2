// Issue 14: label scores and box probabilities on real tasks of the tiny golden model,
// checked against a brute-force computation of their definition (README "Confidence",
// tasks/answer_confidence.h) from a teacher-forced recomputation: one full forward pass
// over the prompt and the generated ids gives every step's distribution; the text each
// token adds comes from decoding prefixes, and every token of the vocabulary is tried at
// every label start.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <cctype>
#include <cmath>
#include <random>

#include "engine/chat_session.h"
#include "engine/conversation.h"
#include "tasks/output_parsing.h"

using namespace m4cxr;

namespace {

std::shared_ptr<const PreparedImage> noise_image(int w, int h, unsigned seed, const Model& m) {
  std::mt19937 rng(seed);
  RgbImage rgb;
  rgb.width = w;
  rgb.height = h;
  rgb.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (auto& p : rgb.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return prepare_image(rgb, m.preprocess_config());
}

ArgValue image_arg(const PreparedImage& im) {
  ArgValue v;
  v.kind = ArgValue::Kind::images;
  v.images = {ImageArg{0, im.width, im.height}};
  return v;
}

ArgValue texts_arg(std::vector<std::string> t) {
  ArgValue v;
  v.kind = ArgValue::Kind::texts;
  v.texts = std::move(t);
  return v;
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// How many leading bytes two strings share.
size_t common_prefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// The brute-force side: the definition, computed the slow, independent way.
struct Reference {
  std::vector<double> label_scores;
  std::vector<bool> written;
  std::vector<double> box_probabilities;  // of "[...]" spans, for well-formed answers
};

Reference reference(const Model& m, const std::vector<std::shared_ptr<const PreparedImage>>& images,
                    const TurnResult& turn, const std::vector<std::string>& labels) {
  c10::InferenceMode g;
  const Tokenizer& tok = m.tokenizer();
  const auto& ids = turn.ids;
  Reference ref;
  if (ids.empty()) return ref;
  // Every step's distribution, teacher-forced.
  std::vector<at::Tensor> vis;
  for (const auto& im : images) vis.push_back(m.encode_images(Model::pixel_values({im->pixels}))[0]);
  Conversation fresh(std::shared_ptr<const Model>(&m, [](const Model*) {}));
  if (!vis.empty()) fresh.set_images(at::stack(vis));
  std::vector<int32_t> whole = turn.prompt_ids;
  whole.insert(whole.end(), ids.begin(), ids.end() - 1);
  const at::Tensor lp = at::log_softmax(fresh.prefill(whole, nullptr, /*all_logits=*/true).to(at::kFloat), 1).contiguous();
  REQUIRE(lp.size(0) == static_cast<int64_t>(whole.size()));
  auto logprob = [&](size_t step, int32_t id) {
    return lp[static_cast<int64_t>(turn.prompt_ids.size() + step) - 1][id].item<double>();
  };

  // Token spans: what decoding the prefixes adds.
  const std::string text = tok.decode(ids);
  REQUIRE(text == turn.text);
  std::vector<size_t> at(ids.size() + 1);
  for (size_t i = 0; i <= ids.size(); ++i)
    at[i] = i == ids.size() ? text.size()
                            : common_prefix(tok.decode(std::vector<int32_t>(ids.begin(), ids.begin() + i)), text);
  auto span_p = [&](size_t b, size_t e) {
    double s = 0;
    bool any = false;
    for (size_t i = 0; i < ids.size(); ++i)
      if (at[i + 1] > at[i] && at[i + 1] > b && at[i] < e) {
        s += logprob(i, ids[i]);
        any = true;
      }
    return any ? std::exp(s) : 0.0;
  };

  if (!labels.empty()) {
    const std::string low = lower_ascii(text);
    std::vector<double> best(labels.size(), 0.0);
    for (size_t i = 0; i < ids.size(); ++i) {
      std::string before = text.substr(0, at[i]);
      while (!before.empty() && before.back() == ' ') before.pop_back();
      if (!before.empty() && before.back() != ',') continue;  // not a label start
      const std::vector<int32_t> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i));
      const std::string decoded = tok.decode(prefix);
      std::vector<double> sum(labels.size(), 0.0);
      for (int32_t v = 0; v < tok.vocab_size(); ++v) {
        if (tok.is_special(v)) continue;
        std::vector<int32_t> with = prefix;
        with.push_back(v);
        const std::string after = tok.decode(with);
        if (after.compare(0, decoded.size(), decoded) != 0) continue;  // rewrote held bytes: adds no ASCII
        std::string added = after.substr(decoded.size());
        added.erase(0, added.find_first_not_of(' ') == std::string::npos ? added.size() : added.find_first_not_of(' '));
        if (added.empty()) continue;
        added = lower_ascii(added);
        for (size_t l = 0; l < labels.size(); ++l) {
          const std::string label = lower_ascii(labels[l]);
          if (label.rfind(added, 0) == 0 || added.rfind(label, 0) == 0) sum[l] += std::exp(logprob(i, v));
        }
      }
      for (size_t l = 0; l < labels.size(); ++l) best[l] = std::max(best[l], std::min(sum[l], 1.0));
    }
    for (size_t l = 0; l < labels.size(); ++l) {
      const size_t pos = low.find(lower_ascii(labels[l]));
      ref.written.push_back(pos != std::string::npos);
      ref.label_scores.push_back(pos != std::string::npos ? span_p(pos, pos + labels[l].size()) : best[l]);
    }
  }
  // Boxes of a well-formed answer: every "[...]".
  for (size_t b = text.find('['); b != std::string::npos; b = text.find('[', b + 1)) {
    const size_t e = text.find(']', b);
    if (e == std::string::npos) break;
    ref.box_probabilities.push_back(span_p(b, e + 1));
  }
  return ref;
}

TaskOutcome run(ChatSession& chat, TaskSpec spec) {
  chat.begin(std::move(spec), true);
  std::string piece;
  int turn;
  while (chat.next(&piece, &turn)) {
  }
  return chat.outcome();
}

// fp32: the step's logits vs. a full teacher-forced pass differ by about 1e-5 in a
// log-probability, so probabilities (products of many tokens' included, which reach
// 1e-60 on a random model) are compared as logarithms.
double worst_log_gap = 0;  // reported by each test case
bool same_probability(double engine, double brute) {
  if (engine == 0 || brute == 0) return engine == brute;
  const double gap = std::abs(std::log(engine) - std::log(brute));
  worst_log_gap = std::max(worst_log_gap, gap);
  return gap < 1e-3;
}

}  // namespace

TEST_CASE("confidence: label scores of classification and of the report's findings turn equal the brute-force definition") {
  auto m = mt::model("models/merged_fp32");
  ChatSession chat(m);
  const std::vector<std::string> asked{"Atelectasis", "cardiomegaly", "pleural effusion", "edema", "Lung Opacity"};
  int written_seen = 0, unwritten_seen = 0, later_starts = 0;
  for (unsigned seed = 1; seed <= 3; ++seed) {
    const auto img = noise_image(300 + 40 * static_cast<int>(seed), 280, seed, *m);
    // Free text, constrained greedy, and constrained sampling (longer lists, with label
    // starts after commas).
    for (int mode = 0; mode < 3; ++mode) {
      CAPTURE(seed);
      CAPTURE(mode);
      GenerationOptions g;
      g.max_new_tokens = 40;
      g.constrained = mode > 0;
      if (mode == 2) {  // hot: a random model's lists get long
        g.sampling.greedy = false;
        g.sampling.temperature = 8.f;
        g.sampling.seed = seed;
      }
      TaskArgs args{{"image", image_arg(*img)}, {"labels", texts_arg(asked)}};
      const TaskPlan plan = plan_task("classify", args, {});
      const std::vector<std::string>& labels = plan.labels;  // as the prompt lists them
      const TaskOutcome o = run(chat, make_task_spec(plan, {img}, g));
      REQUIRE(o.turns.size() == 1);
      CAPTURE(o.turns[0].text);
      REQUIRE(o.label_scores.size() == labels.size());
      const Reference r = reference(*m, {img}, o.turns[0], labels);
      const auto parsed = parse_findings(o.turns[0].text, labels);
      CHECK(o.findings == parsed);
      for (size_t l = 0; l < labels.size(); ++l) {
        CAPTURE(labels[l]);
        CHECK(o.label_scores[l].label == labels[l]);
        CHECK(o.label_scores[l].written == r.written[l]);
        CHECK(o.label_scores[l].written ==
              (std::find(parsed.begin(), parsed.end(), labels[l]) != parsed.end()));  // as the parser reads it
        CAPTURE(o.label_scores[l].score);
        CAPTURE(r.label_scores[l]);
        CHECK(same_probability(o.label_scores[l].score, r.label_scores[l]));
        CHECK(o.label_scores[l].score >= 0);
        CHECK(o.label_scores[l].score <= 1);
        (o.label_scores[l].written ? written_seen : unwritten_seen)++;
      }
      int commas = 0;
      for (char c : o.turns[0].text) commas += c == ',';
      if (mode == 2) later_starts += commas;
    }
  }
  // The report: every CheXbert finding of its findings turn is scored.
  const auto img = noise_image(320, 320, 9, *m);
  GenerationOptions g;
  g.max_new_tokens = 20;
  g.constrained = true;
  TaskArgs args{{"images", image_arg(*img)}};
  const TaskOutcome o = run(chat, make_task_spec(plan_task("report", args, {}), {img}, g));
  REQUIRE(o.turns.size() == 2);
  const TaskPlan plan = plan_task("report", args, {});
  REQUIRE(o.label_scores.size() == plan.labels.size());
  const Reference r = reference(*m, {img}, o.turns[0], plan.labels);
  for (size_t l = 0; l < plan.labels.size(); ++l) {
    CAPTURE(plan.labels[l]);
    CHECK(o.label_scores[l].written == r.written[l]);
    CAPTURE(o.label_scores[l].score);
    CAPTURE(r.label_scores[l]);
    CHECK(same_probability(o.label_scores[l].score, r.label_scores[l]));
    (o.label_scores[l].written ? written_seen : unwritten_seen)++;
  }
  MESSAGE("largest |log(score) - log(brute force)| = " << worst_log_gap);
  // Both branches of the definition were exercised.
  CHECK(written_seen > 0);
  CHECK(unwritten_seen > 0);
  CHECK(later_starts > 0);
}

TEST_CASE("confidence: each box's probability equals the brute-force probability of its tokens") {
  auto m = mt::model("models/merged_fp32");
  ChatSession chat(m);
  int boxes_seen = 0, multi_box_answers = 0;
  for (unsigned seed = 1; seed <= 3; ++seed) {
    const auto img = noise_image(400, 300 + 30 * static_cast<int>(seed), 20 + seed, *m);
    for (const std::string task : {"detect_abnormalities", "ground_finding", "ground_findings"})
    for (bool sample : {false, true}) {
      CAPTURE(seed);
      CAPTURE(task);
      CAPTURE(sample);
      GenerationOptions g;
      g.max_new_tokens = 60;
      g.constrained = true;  // well-formed boxes, whatever the random weights say
      if (sample) {  // hot: more boxes
        g.sampling.greedy = false;
        g.sampling.temperature = 8.f;
        g.sampling.seed = seed;
      }
      TaskArgs args{{"image", image_arg(*img)}};
      if (task == "ground_finding") args["finding"] = texts_arg({"pleural effusion"});
      if (task == "ground_findings") args["findings"] = texts_arg({"pleural effusion", "nodule", "cardiomegaly"});
      const TaskOutcome o = run(chat, make_task_spec(plan_task(task, args, {}), {img}, g));
      CAPTURE(o.text);
      CHECK(o.label_scores.empty());  // not a label list
      const Reference r = reference(*m, {img}, o.turns.back(), {});
      REQUIRE(o.boxes.size() == r.box_probabilities.size());
      for (size_t b = 0; b < o.boxes.size(); ++b) {
        CAPTURE(o.boxes[b].probability);
        CAPTURE(r.box_probabilities[b]);
        CHECK(same_probability(o.boxes[b].probability, r.box_probabilities[b]));
        CHECK(o.boxes[b].probability > 0);
        CHECK(o.boxes[b].probability <= 1);
        ++boxes_seen;
      }
      multi_box_answers += o.boxes.size() > 1;
    }
  }
  MESSAGE("largest |log(box probability) - log(brute force)| so far = " << worst_log_gap << " over " << boxes_seen
                                                                          << " boxes");
  CHECK(boxes_seen > 0);
  CHECK(multi_box_answers > 0);
}
