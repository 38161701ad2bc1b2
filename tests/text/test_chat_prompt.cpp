#include <doctest/doctest.h>

#include <functional>
#include <random>

#include "common/error.h"
#include "support/npy_support.h"
#include "text/chat_prompt.h"
#include "text/tokenizer.h"
#include "text_test_util.h"

using m4cxr::ChatMessage;
using m4cxr::EncodedPrompt;
using m4cxr::Error;
using m4cxr::Status;
using m4cxr::Tokenizer;
using namespace m4cxr_test;
using V = std::vector<int32_t>;

namespace {

ChatMessage user(std::string s) { return {ChatMessage::Role::user, std::move(s)}; }
ChatMessage assistant(std::string s) { return {ChatMessage::Role::assistant, std::move(s)}; }

std::vector<ChatMessage> to_messages(const nlohmann::json& turns) {
  std::vector<ChatMessage> out;
  for (const auto& t : turns) {
    const std::string role = t.at("role").get<std::string>();
    REQUIRE((role == "user" || role == "assistant"));
    out.push_back({role == "user" ? ChatMessage::Role::user : ChatMessage::Role::assistant,
                   t.at("content").get<std::string>()});
  }
  return out;
}

V concat(std::initializer_list<V> parts) {
  V out;
  for (const V& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

V npy_ids(const std::string& rel) { return m4cxr::test::npy_ids(m4cxr::read_npy(golden_path(rel))); }

bool has_delimiter(const std::string& s) {
  return s.find("<image>") != std::string::npos || s.find("[INST]") != std::string::npos ||
         s.find("[/INST]") != std::string::npos;
}

Status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.status();
  }
  return Status::ok;
}

// Text between the k-th "[INST] " and the following " [/INST]" (k from 0).
std::string user_content_at(const std::string& text, int k) {
  size_t pos = 0;
  for (int i = 0; i <= k; ++i) {
    pos = text.find("[INST] ", pos);
    REQUIRE(pos != std::string::npos);
    pos += 7;
  }
  const size_t end = text.find(" [/INST]", pos);
  REQUIRE(end != std::string::npos);
  return text.substr(pos, end - pos);
}

}  // namespace

TEST_CASE("render_chat: Mistral template") {
  CHECK(m4cxr::render_chat({user("Hi")}) == "<s>[INST] Hi [/INST]");
  CHECK(m4cxr::render_chat({user("U1"), assistant("A1"), user("U2")}) ==
        "<s>[INST] U1 [/INST]A1</s>[INST] U2 [/INST]");
  CHECK(m4cxr::render_chat({user(""), assistant("")}) == "<s>[INST]  [/INST]</s>");
  CHECK(status_of([] { m4cxr::render_chat({}); }) == Status::invalid_argument);
  CHECK(status_of([] { m4cxr::render_chat({assistant("A")}); }) == Status::invalid_argument);
  CHECK(status_of([] { m4cxr::render_chat({user("a"), user("b")}); }) == Status::invalid_argument);
  CHECK(status_of([] { m4cxr::render_chat({user("a"), assistant("b"), assistant("c")}); }) ==
        Status::invalid_argument);
}

TEST_CASE("first_user_content (docs/upstream-tasks.md §0.2)") {
  const std::string sys = m4cxr::kSystemMessage;
  CHECK(sys ==
        "The following is a conversation between a curious human and an AI medical assistant. The "
        "assistant gives helpful, detailed, and polite answers to the user's questions.");
  CHECK(m4cxr::first_user_content("radiology image: <image>", "Q?") ==
        sys + " radiology image: <image> Q?");
  CHECK(m4cxr::first_user_content("radiology image: <image>", "Q?", false) == "radiology image: <image> Q?");
  CHECK(m4cxr::first_user_content("", "prompt") == sys + " prompt");
}

TEST_CASE("docs/upstream-model.md §6.5 reference ids (single-image CoT)") {
  const Tokenizer& t = mistral();
  const std::string q =
      "Which of the following findings are present in the radiology image? Findings: enlarged "
      "cardiomediastinum, cardiomegaly, lung opacity, lung lesion, edema, consolidation, pneumonia, "
      "atelectasis, pneumothorax, pleural effusion, pleural other, fracture, support devices";
  const std::string text =
      m4cxr::render_chat({user(m4cxr::first_user_content("radiology image: <image>", q))});
  const V sys_chunk = {28705, 415,   2296,  349,   264,   7114,  1444,  264,   13903, 2930,
                       304,   396,   16107, 5714,  13892, 28723, 415,   13892, 5212,  10865,
                       28725, 10537, 28725, 304,   27057, 11194, 298,   272,   2188,  28742,
                       28713, 4224,  28723, 16893, 2161,  3469,  28747, 28705};
  const V q_chunk = {28705, 9595,  302,   272,   2296,  18147, 460,   2169,  297,   272,   16893,
                     2161,  3469,  28804, 8769,  742,   28747, 481,   20832, 286,   4148,  19934,
                     14548, 529,   262,   383,   28725, 4148,  28710, 525,   7846,  28724, 28725,
                     14966, 26355, 28725, 14966, 1514,  296,   28725, 1382,  6391,  28725, 22968,
                     352,   28725, 284,   28051, 9578,  28725, 15732, 844,   22315, 28725, 284,
                     28051, 999,   271,   897,   28725, 4031,  1890,  1397,  3623,  28725, 4031,
                     1890,  799,   28725, 24632, 482,   28725, 1760,  8309,  28705};
  CHECK(sys_chunk.size() == 38);
  CHECK(q_chunk.size() == 75);
  const V image(361, -1);
  const V expected =
      concat({{1}, {733, 16289, 28793}, sys_chunk, image, q_chunk, {733, 28748, 16289, 28793}});
  const EncodedPrompt e = m4cxr::encode_prompt(t, text, 361, 4095);
  CHECK(e.ids.size() == 482);
  CHECK(e.ids == expected);
  CHECK(e.n_image_markers == 1);
  CHECK(e.n_image_runs == 1);
  CHECK_FALSE(e.truncated);
  CHECK(e.answer_mask == std::vector<uint8_t>(482, 0));

  const EncodedPrompt u2 = m4cxr::encode_user_turn(
      t, "Based on the previous conversation, provide a description of the findings in the radiology image.");
  CHECK(u2.ids == concat({{733, 16289, 28793},
                          {28705, 17158, 356, 272, 3454, 7114, 28725, 3084, 264, 5436, 302, 272,
                           18147, 297, 272, 16893, 2161, 3469, 28723, 28705},
                          {733, 28748, 16289, 28793}}));
  CHECK(u2.n_image_markers == 0);
  // Tokenising the whole prompt in one call would be wrong (docs/upstream-model.md §6.3).
  CHECK(t.encode_chunk(text) != e.ids);
}

TEST_CASE("golden prompts/cases.jsonl: every case") {
  const Tokenizer& t = mistral();
  const auto cases = read_jsonl(golden_path("prompts/cases.jsonl"));
  REQUIRE_FALSE(cases.empty());
  int n = 0, eval_checked = 0, demo_roundtrip = 0, truncated = 0;
  for (const auto& c : cases) {
    const std::string id = c.at("id").get<std::string>();
    INFO("case " << id);
    const std::string text = c.at("text").get<std::string>();
    const V want = to_ids(c.at("input_ids"));
    const auto msgs = to_messages(c.at("turns"));

    CHECK(m4cxr::render_chat(msgs) == text);
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, 361, 4095);
    CHECK(e.ids == want);
    CHECK(static_cast<int>(e.ids.size()) == c.at("n_tokens").get<int>());
    CHECK(e.n_image_markers == c.at("n_images").get<int>());
    CHECK(e.n_image_runs == c.at("n_image_runs").get<int>());
    CHECK(e.truncated == c.at("truncated").get<bool>());
    CHECK(e.answer_mask.size() == e.ids.size());
    truncated += e.truncated ? 1 : 0;

    // Path (b) demo.chat: answers are decoded and re-rendered; decoding the answer ids
    // must give the answer text back for the ids to stay identical.
    for (const ChatMessage& m : msgs)
      if (m.role == ChatMessage::Role::assistant && !has_delimiter(m.content)) {
        CHECK(t.decode(t.encode_chunk(m.content + "</s>")) == m.content);
        ++demo_roundtrip;
      }

    // demo.chat prepends the system message to the first user prompt.
    if (c.contains("inputs") && c.at("inputs").contains("user_prompts"))
      CHECK(msgs[0].content ==
            m4cxr::first_user_content("", c.at("inputs").at("user_prompts").at(0).get<std::string>()));

    // Path (a) inference_step: prompt of turn k = prompt of turn k-1 + answer ids (incl.
    // EOS, standing in for the generated ids) + ids of "[INST] u_k [/INST]".
    if (!e.truncated) {
      bool simple = true;
      for (const ChatMessage& m : msgs)
        if (m.role == ChatMessage::Role::assistant && has_delimiter(m.content)) simple = false;
      if (simple) {
        V ids = m4cxr::encode_prompt(t, m4cxr::render_chat({msgs[0]}), 361, 4095).ids;
        size_t answer_ids = 0;
        for (size_t j = 1; j + 1 < msgs.size(); j += 2) {
          const V a = t.encode_chunk(msgs[j].content + "</s>");
          answer_ids += a.size();
          const V u = m4cxr::encode_user_turn(t, msgs[j + 1].content, 361).ids;
          ids.insert(ids.end(), a.begin(), a.end());
          ids.insert(ids.end(), u.begin(), u.end());
        }
        CHECK(ids == want);
        size_t mask_sum = 0;
        for (uint8_t b : e.answer_mask) mask_sum += b;
        CHECK(mask_sum == answer_ids);
        ++eval_checked;
      }
    }
    ++n;
  }
  MESSAGE("cases.jsonl: " << n << " cases, " << eval_checked << " eval-path rebuilds, "
                          << demo_roundtrip << " answer round trips, " << truncated << " truncated");
}

TEST_CASE("tiny model: single / two_image / text_only prompts") {
  const Tokenizer& t = tiny();
  const auto& m = manifest();
  const int nvis = m.at("dims").at("num_visual_tokens_per_image").get<int>();
  const auto& p = m.at("prompts_merged_fp32");
  for (const char* k : {"single", "two_image", "text_only"}) {
    INFO(k);
    const auto& c = p.at(k);
    const std::string text = c.at("prompt_text").get<std::string>();
    CHECK(m4cxr::render_chat({user(m4cxr::first_user_content("", c.at("user_prompt").get<std::string>()))}) ==
          text);
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, nvis, 4095);
    const V want = npy_ids(c.at("input_ids").get<std::string>());
    CHECK(e.ids == want);
    CHECK(static_cast<int>(e.ids.size()) == c.at("seq_len").get<int>());
    CHECK(e.n_image_markers == static_cast<int>(c.at("images").size()));
    CHECK(e.n_image_runs * nvis == c.at("num_image_tokens").get<int>());
    CHECK(t.decode(to_ids(c.at("generated_ids"))) == c.at("generated_text").get<std::string>());
  }
}

TEST_CASE("tiny model: conversation flow (demo.chat re-renders decoded answers)") {
  const Tokenizer& t = tiny();
  const auto& m = manifest();
  const int nvis = m.at("dims").at("num_visual_tokens_per_image").get<int>();
  const auto& conv = m.at("prompts_merged_fp32").at("conversation");
  const auto prompts = conv.at("user_prompts").get<std::vector<std::string>>();
  const auto& turns = conv.at("turns");
  REQUIRE(turns.size() == prompts.size());
  std::vector<ChatMessage> msgs;
  for (size_t k = 0; k < turns.size(); ++k) {
    INFO("turn " << k + 1);
    msgs.push_back(user(k == 0 ? m4cxr::first_user_content("", prompts[0]) : prompts[k]));
    const std::string text = m4cxr::render_chat(msgs);
    CHECK(text == turns[k].at("prompt_text").get<std::string>());
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, nvis, 4095);
    CHECK(e.ids == npy_ids(turns[k].at("input_ids").get<std::string>()));
    CHECK(e.n_image_runs * nvis == turns[k].at("num_image_tokens").get<int>());
    const std::string answer = t.decode(to_ids(turns[k].at("generated_ids")));
    CHECK(answer == turns[k].at("generated_text").get<std::string>());
    msgs.push_back(assistant(answer));
  }
  // The recorded chat equals ours (answers as decoded text).
  const auto& chats = conv.at("chats");
  REQUIRE(chats.size() == msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) CHECK(chats[i].at("content").get<std::string>() == msgs[i].content);
}

TEST_CASE("tiny model: eval_cot flow (inference_step appends generated ids)") {
  const Tokenizer& t = tiny();
  const auto& m = manifest();
  const int nvis = m.at("dims").at("num_visual_tokens_per_image").get<int>();
  const auto& ev = m.at("prompts_merged_fp32").at("eval_cot");
  const std::string chat_text = ev.at("chat_text").get<std::string>();
  const EncodedPrompt full = m4cxr::encode_prompt(t, chat_text, nvis, 4095);
  CHECK(full.ids == npy_ids(ev.at("full_input_ids").get<std::string>()));
  const std::vector<int64_t> labels = m4cxr::test::npy_i64(m4cxr::read_npy(golden_path(ev.at("labels").get<std::string>())));
  REQUIRE(labels.size() == full.ids.size());
  for (size_t i = 0; i < labels.size(); ++i) CHECK(labels[i] == (full.answer_mask[i] ? full.ids[i] : -100));

  // User segments = maximal runs outside the answer mask.
  std::vector<V> segments;
  for (size_t i = 0; i < full.ids.size(); ++i) {
    if (full.answer_mask[i]) continue;
    if (i == 0 || full.answer_mask[i - 1]) segments.emplace_back();
    segments.back().push_back(full.ids[i]);
  }
  const auto& turns = ev.at("turns");
  REQUIRE(segments.size() == turns.size());
  V prompt, outputs_with_splitter;
  for (size_t k = 0; k < turns.size(); ++k) {
    INFO("turn " << k + 1);
    if (k > 0) {
      // Later segments are exactly "[INST] q_k [/INST]" encoded on their own.
      CHECK(segments[k] == m4cxr::encode_user_turn(t, user_content_at(chat_text, static_cast<int>(k)), nvis).ids);
      outputs_with_splitter.push_back(-100);
    }
    prompt.insert(prompt.end(), segments[k].begin(), segments[k].end());
    CHECK(prompt == npy_ids(turns[k].at("input_ids").get<std::string>()));
    const V gen = to_ids(turns[k].at("generated_ids"));
    CHECK(t.decode(gen) == turns[k].at("generated_text").get<std::string>());
    prompt.insert(prompt.end(), gen.begin(), gen.end());
    outputs_with_splitter.insert(outputs_with_splitter.end(), gen.begin(), gen.end());
  }
  CHECK(outputs_with_splitter == to_ids(ev.at("outputs_with_splitter")));
}

TEST_CASE("encode_prompt: chunking, answers and truncation rules") {
  const Tokenizer& t = mistral();
  const V inst = {733, 16289, 28793}, end_inst = {733, 28748, 16289, 28793};
  // R0: report_only, " " chunks are [259].
  const EncodedPrompt r0 = m4cxr::encode_prompt(t, "<s>[INST] <image> [/INST]", 4);
  CHECK(r0.ids == concat({{1}, inst, {259}, V(4, -1), {259}, end_inst}));
  // Two images separated by one space.
  const EncodedPrompt two = m4cxr::encode_prompt(t, "<image> <image>", 3);
  CHECK(two.ids == concat({V(3, -1), {259}, V(3, -1)}));
  CHECK(two.n_image_runs == 2);
  // Adjacent markers still give one block per image.
  const EncodedPrompt adj = m4cxr::encode_prompt(t, "<image><image>", 3);
  CHECK(adj.ids == V(6, -1));
  CHECK(adj.n_image_runs == 2);
  // Answer chunks: EOS appended when missing, not doubled when present; masked.
  const EncodedPrompt ans = m4cxr::encode_prompt(t, "[/INST]Yes.");
  CHECK(ans.ids == concat({end_inst, {5592, 28723, 2}}));
  CHECK(ans.answer_mask == std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1});
  CHECK(m4cxr::encode_prompt(t, "[/INST]Yes.</s>").ids == concat({end_inst, {5592, 28723, 2}}));
  CHECK(m4cxr::encode_prompt(t, "[/INST]</s>").ids == concat({end_inst, {2}}));
  // No BOS is invented: it only comes from "<s>" in the text.
  CHECK(m4cxr::encode_prompt(t, "[INST] Hi [/INST]").ids.front() == 733);
  CHECK(m4cxr::encode_prompt(t, "").ids.empty());

  const std::string text = "<s>[INST] hello <image> world [/INST]";
  const V full = m4cxr::encode_prompt(t, text, 5, 0).ids;
  const size_t before_image = 1 + 3 + t.encode_chunk(" hello ").size();
  CHECK(full.size() == before_image + 5 + t.encode_chunk(" world ").size() + 4);
  // Image does not fit: it and everything after it are dropped (ids end below the limit).
  {
    const int max_length = static_cast<int>(before_image + 5) - 2;
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, 5, max_length);
    CHECK(e.ids == V(full.begin(), full.begin() + static_cast<long>(before_image)));
    CHECK(e.truncated);
    CHECK(e.n_image_markers == 1);
    CHECK(e.n_image_runs == 0);
  }
  // Limit falls inside text: cut to exactly max_length + 1 ids.
  {
    const int max_length = static_cast<int>(before_image + 5 + 1);
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, 5, max_length);
    CHECK(e.ids.size() == static_cast<size_t>(max_length) + 1);
    CHECK(e.ids == V(full.begin(), full.begin() + max_length + 1));
    CHECK(e.truncated);
    CHECK(e.n_image_runs == 1);
  }
  // Exactly at the limit: nothing lost.
  {
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, 5, static_cast<int>(full.size()) - 1);
    CHECK(e.ids == full);
    CHECK_FALSE(e.truncated);
  }
  // Limit reached before the last chunk: stops there.
  {
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, 5, static_cast<int>(full.size()) - 5);
    CHECK(e.ids.size() == full.size() - 4);
    CHECK(e.truncated);
  }
  CHECK(status_of([&] { m4cxr::encode_prompt(t, text, 0); }) == Status::invalid_argument);
  CHECK(status_of([&] { m4cxr::encode_prompt(t, text, -3); }) == Status::invalid_argument);
  CHECK(status_of([&] { m4cxr::encode_prompt(t, text, m4cxr::kMaxVisualTokens + 1); }) ==
        Status::invalid_argument);
  CHECK(status_of([&] { m4cxr::encode_prompt(t, text, 361, -1); }) == Status::invalid_argument);
  // Arbitrary bytes never crash.
  const EncodedPrompt junk =
      m4cxr::encode_prompt(t, std::string("<s>[INST] \xFF\xFE<image\x80[/INST]", 26), 361);
  CHECK_FALSE(junk.ids.empty());
}

TEST_CASE("encode_user_turn equals the tail of encode_prompt for a later turn") {
  const Tokenizer& t = mistral();
  const std::vector<ChatMessage> first = {user(m4cxr::first_user_content("radiology image: <image>", "Q1?"))};
  const std::vector<ChatMessage> conv = {first[0], assistant("A1."), user("follow-up image: <image> Q2?")};
  const EncodedPrompt p1 = m4cxr::encode_prompt(t, m4cxr::render_chat(first));
  const EncodedPrompt p2 = m4cxr::encode_prompt(t, m4cxr::render_chat(conv));
  const EncodedPrompt u2 = m4cxr::encode_user_turn(t, "follow-up image: <image> Q2?");
  CHECK(u2.n_image_markers == 1);
  CHECK(u2.n_image_runs == 1);
  CHECK(p2.ids == concat({p1.ids, t.encode_chunk("A1.</s>"), u2.ids}));
  CHECK(p2.n_image_markers == p1.n_image_markers + u2.n_image_markers);
}

namespace {

// Literal transcription of MLLMTokenizerMixin.encode_prompt + the slow tokenizer's
// special-token split (as tools/check_prompts.py does, plus the answer-EOS rule), built
// only from Tokenizer::encode (plain SentencePiece). Slow but obviously faithful.
V reference_encode_prompt(const Tokenizer& t, const std::string& text, size_t nvis, size_t max_length) {
  auto re_split = [](const std::string& s, const std::vector<std::string>& delims) {
    std::vector<std::string> out;
    std::string cur;
    for (size_t i = 0; i < s.size();) {
      const std::string* hit = nullptr;
      for (const std::string& d : delims)
        if (s.compare(i, d.size(), d) == 0) { hit = &d; break; }
      if (hit == nullptr) { cur += s[i++]; continue; }
      out.push_back(cur);
      out.push_back(*hit);
      cur.clear();
      i += hit->size();
    }
    out.push_back(cur);
    std::vector<std::string> nonempty;
    for (auto& x : out) if (!x.empty()) nonempty.push_back(x);
    return nonempty;
  };
  const auto chunks = re_split(text, {"<image>", "[INST]", "[/INST]"});
  V ids;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (ids.size() >= max_length + 1) break;
    if (chunks[i] == "<image>") {
      if (ids.size() + nvis > max_length + 1) break;
      ids.insert(ids.end(), nvis, -1);
      continue;
    }
    V cur;
    for (const std::string& piece : re_split(chunks[i], {"<s>", "</s>", "<unk>"})) {
      if (piece == "<s>") cur.push_back(1);
      else if (piece == "</s>") cur.push_back(2);
      else if (piece == "<unk>") cur.push_back(0);
      else { const V e = t.encode(piece); cur.insert(cur.end(), e.begin(), e.end()); }
    }
    if (i > 0 && chunks[i - 1] == "[/INST]" && cur.back() != 2) cur.push_back(2);
    ids.insert(ids.end(), cur.begin(), cur.end());
  }
  if (ids.size() > max_length + 1) ids.resize(max_length + 1);
  return ids;
}

}  // namespace

TEST_CASE("encode_prompt == literal reference on random markup (fuzz, with truncation)") {
  const Tokenizer& t = mistral();
  const std::vector<std::string> atoms = {"<image>", "[INST]", "[/INST]", "<s>", "</s>", "<unk>", " ",
                                          "  ", "<", "s", ">", "/", "[", "]", "INST", "image", "Yes.",
                                          " the heart", "\n", "\xE2\x96\x81", "\xFF", "\xC3\xA9", "12"};
  std::mt19937 rng(7);
  int truncated = 0;
  for (int it = 0; it < 2000; ++it) {
    std::string text;
    const int n = static_cast<int>(rng() % 16);
    for (int i = 0; i < n; ++i) text += atoms[rng() % atoms.size()];
    const int nvis = 1 + static_cast<int>(rng() % 4);
    const int max_length = 1 + static_cast<int>(rng() % 30);
    INFO("text=" << text << " nvis=" << nvis << " max_length=" << max_length);
    const EncodedPrompt e = m4cxr::encode_prompt(t, text, nvis, max_length);
    REQUIRE(e.ids == reference_encode_prompt(t, text, nvis, max_length));
    const V untruncated = reference_encode_prompt(t, text, nvis, 1u << 20);
    CHECK(e.truncated == (untruncated != e.ids));
    CHECK(m4cxr::encode_prompt(t, text, nvis, 0).ids == untruncated);
    int runs = 0;
    for (int32_t x : e.ids) runs += x == -1 ? 1 : 0;
    CHECK(e.n_image_runs * nvis == runs);
    truncated += e.truncated ? 1 : 0;
  }
  CHECK(truncated > 100);
}
