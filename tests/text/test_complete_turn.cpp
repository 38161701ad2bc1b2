// encode_complete_turn (what m4cxr_session_append_turn stores): restoring every earlier
// turn of an upstream multi-turn prompt, then encoding the last question as a later user
// turn, gives upstream's ids exactly (golden prompts/cases.jsonl, real Mistral tokenizer).
#include <doctest/doctest.h>

#include <algorithm>

#include "common/error.h"
#include "text/chat_prompt.h"
#include "text_test_util.h"

using namespace m4cxr;
using namespace m4cxr_test;

TEST_CASE("encode_complete_turn rebuilds every multi-turn golden prompt") {
  const Tokenizer& t = mistral();
  const std::string sys = std::string(kSystemMessage) + " ";
  int checked = 0;
  for (const auto& c : read_jsonl(golden_path("prompts/cases.jsonl"))) {
    const auto& turns = c.at("turns");
    if (c.at("turn").get<int>() < 2 || c.value("truncated", false)) continue;
    std::string first = turns[0].at("content");
    if (first.rfind(sys, 0) != 0) continue;
    CAPTURE(c.at("id").get<std::string>());
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < turns.size(); i += 2) {
      std::string user = turns[i].at("content");
      if (i == 0) user.erase(0, sys.size());
      const EncodedPrompt e = encode_complete_turn(t, user, turns[i + 1].at("content").get<std::string>(), i == 0, 361);
      REQUIRE(e.ids.back() == 2);  // every restored answer ends with EOS, as upstream renders it
      ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    }
    const auto tail = encode_user_turn(t, turns.back().at("content").get<std::string>(), 361).ids;
    ids.insert(ids.end(), tail.begin(), tail.end());
    CHECK(ids == to_ids(c.at("input_ids")));
    ++checked;
  }
  MESSAGE(checked << " multi-turn cases rebuilt");
  CHECK(checked >= 10);
}

TEST_CASE("encode_complete_turn refuses structure in the answer") {
  const Tokenizer& t = mistral();
  for (const char* bad : {"a <image> b", "a [INST] b", "x [/INST]", "<s>", "done</s>"})
    CHECK_THROWS_AS(encode_complete_turn(t, "What?", bad, false, 361), Error);
  const auto first = encode_complete_turn(t, "radiology image: <image> What?", "Yes.", true, 361);
  CHECK(first.ids.front() == 1);  // BOS only on the first turn
  CHECK(std::count(first.ids.begin(), first.ids.end(), -1) == 361);
  const auto later = encode_complete_turn(t, "What?", "Yes.", false, 361);
  CHECK(later.ids.front() != 1);
}
