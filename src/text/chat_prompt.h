// Prompt assembly exactly as upstream M4CXR builds model inputs (docs/upstream-model.md §6.2-6.4,
// docs/upstream-tasks.md §0): Mistral chat template -> text, MLLMTokenizerMixin.encode_prompt ->
// ids with image placeholders.
//
// Everything here is a pure function of its arguments; thread-safe as far as the
// Tokenizer is (it is immutable). Errors: Error(invalid_argument) for bad roles or
// sizes; encoding never fails on any string (see Tokenizer).
//
// Note (as upstream): the template does not escape message contents, so "<s>", "</s>",
// "<unk>", "[INST]", "[/INST]" and "<image>" written in a message act as markup.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace m4cxr {

// docs/upstream-tasks.md §0.1 (upstream SYSTEM_MESSAGE); merged into the first user message.
inline constexpr const char* kSystemMessage =
    "The following is a conversation between a curious human and an AI medical assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

// Upstream constants.
inline constexpr const char* kImageMarker = "<image>";
inline constexpr int32_t kImagePlaceholderId = -1;  // media_tokens = {"<image>": -1}
inline constexpr int kDefaultNumVisualTokens = 361;
inline constexpr int kDefaultMaxLength = 4095;      // -> at most 4096 ids including BOS
// Sanity bound on num_visual_tokens (placeholders are materialised as ids).
inline constexpr int kMaxVisualTokens = 1 << 16;

struct ChatMessage {
  enum class Role { user, assistant };
  Role role;
  std::string content;
};

// Mistral-7B-Instruct-v0.2 chat template: "<s>" then "[INST] {user} [/INST]" per user
// message and "{assistant}</s>" per assistant message; no generation prompt. Roles must
// alternate starting with user, otherwise (or when empty) invalid_argument. An
// inference prompt ends with a user message, i.e. with " [/INST]".
std::string render_chat(const std::vector<ChatMessage>& messages);

// First user message of a conversation (BaseDataset.build_text_from_chats): every
// prefix part is followed by one space, then the question:
//   with_system:  SYS + " " + image_prompt + " " + question
//   otherwise:    image_prompt + " " + question
// An empty image_prompt is left out (demo.chat: SYS + " " + prompt). Later user
// messages are the bare question. (Stage-1 report_only is just "<image>".)
std::string first_user_content(std::string_view image_prompt, std::string_view question,
                               bool with_system = true);

struct EncodedPrompt {
  std::vector<int32_t> ids;  // token ids; kImagePlaceholderId (-1) for image slots
  // 1 where upstream's label mask is set: ids of assistant answers (a chunk that directly
  // follows "[/INST]", including its EOS). Same length as ids. Used to split a reference
  // conversation into user segments (CXRLLMTrainer.inference_step).
  std::vector<uint8_t> answer_mask;
  int n_image_markers = 0;  // "<image>" markers in the text (images the caller must pass)
  int n_image_runs = 0;     // image blocks present in ids (< n_image_markers only if truncated)
  bool truncated = false;   // max_length cut something off (prompt no longer ends in [/INST])
};

// MLLMTokenizerMixin.encode_prompt(text, max_length):
//  1. split text on "<image>", "[INST]", "[/INST]" (kept as chunks; empty ones dropped);
//  2. "<image>" -> num_visual_tokens x -1; any other chunk -> tok.encode_chunk(chunk)
//     (own dummy prefix, "<s>"/"</s>" -> 1/2; no BOS added: BOS comes from the "<s>"
//     the template writes); a chunk right after "[/INST]" (an answer) gets EOS appended
//     unless it already ends with EOS;
//  3. truncation with limit = max_length + 1 ids: before each chunk stop once >= limit
//     ids exist; stop before an image that would pass the limit (it and everything after
//     it are dropped); finally cut to limit ids. max_length == 0 means no truncation
//     (upstream None). invalid_argument for num_visual_tokens outside
//     [1, kMaxVisualTokens] or negative max_length.
EncodedPrompt encode_prompt(const Tokenizer& tok, std::string_view text,
                            int num_visual_tokens = kDefaultNumVisualTokens,
                            int max_length = kDefaultMaxLength);

// Ids of one later user turn, "[INST] {user_content} [/INST]", chunked exactly as
// encode_prompt() encodes it inside a longer conversation (the text before "[INST]"
// never influences its chunks). Evaluation path (docs/upstream-model.md §6.6a): prompt ids of turn k =
// ids of turn k-1 + generated ids (incl. EOS if produced) + encode_user_turn(q_k).ids.
// No truncation is applied; n_image_markers tells how many images this turn adds.
EncodedPrompt encode_user_turn(const Tokenizer& tok, std::string_view user_content,
                               int num_visual_tokens = kDefaultNumVisualTokens);

// Ids of one complete earlier turn (user message and the assistant's answer) exactly as
// encode_prompt(render_chat(...)) encodes it inside a whole conversation: the answer is
// its own chunk followed by EOS. `first` turns get BOS and the system message in front
// of `user_content` (upstream's first turns always carry it); later turns neither. No
// truncation. invalid_argument for structural markers in the answer.
EncodedPrompt encode_complete_turn(const Tokenizer& tok, std::string_view user_content, std::string_view answer,
                                   bool first, int num_visual_tokens = kDefaultNumVisualTokens);

}  // namespace m4cxr
