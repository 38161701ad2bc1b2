// The shape of a task's answer as a prefix automaton over its text, for constrained
// decoding (issue 14): at each step the decoder may only emit tokens after which the
// answer is still a prefix of some well-formed answer, and may end only on a complete one.
//
// The formats are upstream's training targets (docs/upstream-tasks.md §4-§7):
//   boxes           "[x1,y1,x2,y2]": integers 0..100 without leading zeros, x1 < x2,
//                   y1 < y2, no spaces inside; several joined by ", ".
//   G1  ground_finding        "Yes. {boxes}." or "Not present."
//   G3  detect_abnormalities  "{boxes}."      G8 ground_phrase "{boxes}."
//   G5  ground_organ          "{boxes}" (no period)
//   G9  ground_region         "{box}."
//   C1  classify, R2 findings "{labels}." (a subset of the candidates in their order,
//                             ", "-joined) or "Not found."
//   G2/G6/G10 identify        "{label}." (one of the candidates)
//   G4  ground_findings       "{label} {boxes}, {label} {boxes}." (labels in candidate
//                             order) or "Not found."
//
// How: a small Pike-style machine. A program is a list of instructions (literal text, a
// box, a label from a trie, split, jump, match); the state is the set of live threads.
// Feeding a byte advances every thread; the text is a viable prefix while a thread lives
// and complete when one reaches `match`. States are plain values: copy one to try a
// token's bytes without losing the current state.
//
// Thread-safety: an AnswerFormat is immutable after construction and may be shared;
// States are per caller.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace m4cxr {

class AnswerFormat {
 public:
  // One live path through the program.
  struct Thread {
    int pc = 0;
    int offset = 0;     // literal: bytes matched; box: part (see answer_format.cpp)
    int node = 0;       // label: trie node; box: digits typed so far, as a prefix id
    int values[3] = {0, 0, 0};  // box: x1, y1, x2 once read
    int last_label = -1;        // index of the last label written (candidate order)
    bool operator==(const Thread& o) const;
  };
  struct State {
    std::vector<Thread> threads;
  };

  enum class BoxAnswer {
    yes_boxes_or_not_present,  // G1
    boxes_period,              // G3, G8
    boxes,                     // G5
    one_box_period,            // G9
  };
  static AnswerFormat box_answer(BoxAnswer kind);
  // C1 / the findings turn of a report; `labels` in the order the prompt lists them.
  static AnswerFormat label_list(const std::vector<std::string>& labels);
  // G2 / G6 / G10.
  static AnswerFormat one_label(const std::vector<std::string>& labels);
  // G4.
  static AnswerFormat named_boxes(const std::vector<std::string>& labels);

  State start() const;
  // Advances `state` over `bytes`; false (state then empty) when the text leaves the format.
  bool feed(State& state, std::string_view bytes) const;
  // The text fed so far is a complete answer.
  bool complete(const State& state) const;
  // The fewest bytes that complete the answer from `state` (0 when complete; a large
  // number when the state is dead). Constrained decoding uses it to finish in time: a
  // token is only taken when the answer can still be completed within the tokens left.
  int min_bytes_to_complete(const State& state) const;
  // Convenience: the whole text is a complete answer / a prefix of one.
  bool matches(std::string_view text) const;
  bool viable_prefix(std::string_view text) const;

 private:
  enum class Op : uint8_t { literal, box, label, split, jump, match };
  struct Instr {
    Op op;
    std::string text;  // literal
    int a = 0, b = 0;  // split targets / jump target
  };
  struct TrieNode {
    int child[256];
    int label = -1;      // index of the label ending here
    int max_label = -1;  // largest label index in this subtree
  };
  AnswerFormat() = default;
  static AnswerFormat labelled_list(const std::vector<std::string>& labels, bool with_boxes);
  int emit(Op op, std::string text = {}, int a = 0, int b = 0);
  void set_labels(const std::vector<std::string>& labels);
  // Follows split/jump/match and instructions that complete without input, adding the
  // threads reached from `t` to `out` (deduplicated).
  void close(const Thread& t, std::vector<Thread>& out, int depth = 0) const;
  // `match` is reachable from `pc` with labels after `last_label` still to come.
  bool can_finish(int pc, int last_label, int depth) const;
  // One byte for one thread: appends its successors to `out`.
  void step(const Thread& t, uint8_t c, std::vector<Thread>& out) const;
  void append_boxes(bool one_only);
  void compute_rest();
  int thread_min_bytes(const Thread& t) const;
  // Fewest bytes from the trie node to the end of a label after `floor`.
  int label_min_bytes(int node, int floor) const;

  std::vector<Instr> program_;
  std::vector<TrieNode> trie_;
  std::vector<int> rest_;  // fewest bytes from each instruction to `match`
};

}  // namespace m4cxr
