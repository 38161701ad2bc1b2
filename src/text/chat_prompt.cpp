#include "text/chat_prompt.h"

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/error.h"

namespace m4cxr {

namespace {

constexpr std::string_view kInst = "[INST]";
constexpr std::string_view kEndInst = "[/INST]";
constexpr std::array<std::string_view, 3> kDelimiters = {kImageMarker, kInst, kEndInst};

// re.split(r"(<image>|\[INST\]|\[/INST\])", text) without the empty strings.
// No delimiter is a prefix of another, so at most one matches at any position.
std::vector<std::string_view> split_chunks(std::string_view text) {
  std::vector<std::string_view> chunks;
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    std::string_view hit;
    for (std::string_view d : kDelimiters)
      if (text.compare(pos, d.size(), d) == 0) hit = d;
    if (hit.empty()) {
      ++pos;
      continue;
    }
    if (pos > start) chunks.push_back(text.substr(start, pos - start));
    chunks.push_back(text.substr(pos, hit.size()));
    pos += hit.size();
    start = pos;
  }
  if (start < text.size()) chunks.push_back(text.substr(start));
  return chunks;
}

}  // namespace

std::string render_chat(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) fail(Status::invalid_argument, "render_chat: no messages");
  std::string out = "<s>";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool want_user = i % 2 == 0;
    if ((m.role == ChatMessage::Role::user) != want_user)
      fail(Status::invalid_argument,
           "render_chat: conversation roles must alternate user/assistant/user/... (message " +
               std::to_string(i) + " should be " + (want_user ? "user" : "assistant") + ")");
    if (m.role == ChatMessage::Role::user)
      out.append("[INST] ").append(m.content).append(" [/INST]");
    else if (m.role == ChatMessage::Role::assistant)
      out.append(m.content).append("</s>");
    else
      fail(Status::invalid_argument, "render_chat: unknown role in message " + std::to_string(i));
  }
  return out;
}

std::string first_user_content(std::string_view image_prompt, std::string_view question,
                               bool with_system) {
  std::string out;
  if (with_system) out.append(kSystemMessage).append(" ");
  if (!image_prompt.empty()) out.append(image_prompt).append(" ");
  out.append(question);
  return out;
}

EncodedPrompt encode_prompt(const Tokenizer& tok, std::string_view text, int num_visual_tokens,
                            int max_length) {
  if (num_visual_tokens < 1 || num_visual_tokens > kMaxVisualTokens)
    fail(Status::invalid_argument, "encode_prompt: num_visual_tokens " +
                                       std::to_string(num_visual_tokens) + " is outside [1, " +
                                       std::to_string(kMaxVisualTokens) + "]");
  if (max_length < 0)
    fail(Status::invalid_argument,
         "encode_prompt: max_length " + std::to_string(max_length) + " is negative");
  const size_t limit = max_length == 0 ? SIZE_MAX : static_cast<size_t>(max_length) + 1;
  const size_t nvis = static_cast<size_t>(num_visual_tokens);
  const int32_t eos = tok.eos_id();

  EncodedPrompt r;
  const std::vector<std::string_view> chunks = split_chunks(text);
  for (std::string_view c : chunks)
    if (c == kImageMarker) ++r.n_image_markers;

  for (size_t i = 0; i < chunks.size(); ++i) {
    if (r.ids.size() >= limit) {
      r.truncated = true;
      break;
    }
    const std::string_view chunk = chunks[i];
    if (chunk == kImageMarker) {
      if (r.ids.size() + nvis > limit) {  // the whole image or nothing
        r.truncated = true;
        break;
      }
      r.ids.insert(r.ids.end(), nvis, kImagePlaceholderId);
      r.answer_mask.insert(r.answer_mask.end(), nvis, 0);
      ++r.n_image_runs;
      continue;
    }
    std::vector<int32_t> cur = tok.encode_chunk(chunk);
    const bool answer = i > 0 && chunks[i - 1] == kEndInst;
    // Upstream indexes curr_chunk[-1]; a non-empty chunk always yields >= 1 id (dummy prefix).
    if (answer && (cur.empty() || cur.back() != eos)) cur.push_back(eos);
    r.ids.insert(r.ids.end(), cur.begin(), cur.end());
    r.answer_mask.insert(r.answer_mask.end(), cur.size(), answer ? 1 : 0);
  }
  if (r.ids.size() > limit) {
    // A cut inside text never removes placeholders: images are only added whole and
    // encoding stops as soon as the limit is reached.
    r.ids.resize(limit);
    r.answer_mask.resize(limit);
    r.truncated = true;
  }
  return r;
}

EncodedPrompt encode_user_turn(const Tokenizer& tok, std::string_view user_content,
                               int num_visual_tokens) {
  std::string text;
  text.reserve(user_content.size() + 16);
  text.append("[INST] ").append(user_content).append(" [/INST]");
  return encode_prompt(tok, text, num_visual_tokens, /*max_length=*/0);
}

EncodedPrompt encode_complete_turn(const Tokenizer& tok, std::string_view user_content, std::string_view answer,
                                   bool first, int num_visual_tokens) {
  for (std::string_view marker : {"<image>", "[INST]", "[/INST]", "<s>", "</s>"})
    if (answer.find(marker) != std::string_view::npos)
      fail(Status::invalid_argument, "encode_complete_turn: the answer contains \"" + std::string(marker) + "\"");
  const std::string user = first ? first_user_content("", user_content, true) : std::string(user_content);
  // Chunks split at [INST], [/INST] and <image>: the pair encodes alone as it does inside
  // the whole conversation, except for the template's leading "<s>" (BOS).
  EncodedPrompt e = encode_prompt(
      tok, render_chat({{ChatMessage::Role::user, user}, {ChatMessage::Role::assistant, std::string(answer)}}),
      num_visual_tokens, 0);
  if (!first && !e.ids.empty()) {
    e.ids.erase(e.ids.begin());
    e.answer_mask.erase(e.answer_mask.begin());
  }
  return e;
}

}  // namespace m4cxr
