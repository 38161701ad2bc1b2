#include "tasks/answer_format.h"

#include <algorithm>

#include "common/error.h"

namespace m4cxr {

namespace {

// Box parts (Thread::offset): 0 before '[', 1..4 inside the four numbers.
constexpr int kBoxMax = 100;
constexpr int kMaxCloseDepth = 64;  // split/jump chains are a few long; guards a bad program

// Thread::node inside a box number: the digits typed so far, as length * 1000 + value.
int digits_length(int node) { return node / 1000; }
int digits_value(int node) { return node % 1000; }

// Some integer in [lo, hi], written without leading zeros, starts with the typed digits.
bool number_viable(int node, int lo, int hi) {
  const int len = digits_length(node), value = digits_value(node);
  if (len == 0) return lo <= hi;
  for (int n = std::max(lo, 0); n <= hi; ++n) {
    const std::string s = std::to_string(n);
    if (static_cast<int>(s.size()) >= len && std::stoi(s.substr(0, static_cast<size_t>(len))) == value) return true;
  }
  return false;
}

// The range of the box's number in `part` (1..4), given those already read: x1 < x2 and
// y1 < y2, so x1 and y1 stop at 99.
void number_range(const AnswerFormat::Thread& t, int* lo, int* hi) {
  switch (t.offset) {
    case 1: case 2: *lo = 0; *hi = kBoxMax - 1; break;
    case 3: *lo = t.values[0] + 1; *hi = kBoxMax; break;
    default: *lo = t.values[1] + 1; *hi = kBoxMax; break;
  }
}

}  // namespace

bool AnswerFormat::Thread::operator==(const Thread& o) const {
  return pc == o.pc && offset == o.offset && node == o.node && values[0] == o.values[0] &&
         values[1] == o.values[1] && values[2] == o.values[2] && last_label == o.last_label;
}

int AnswerFormat::emit(Op op, std::string text, int a, int b) {
  program_.push_back(Instr{op, std::move(text), a, b});
  return static_cast<int>(program_.size()) - 1;
}

void AnswerFormat::set_labels(const std::vector<std::string>& labels) {
  if (labels.empty()) fail(Status::invalid_argument, "answer format: no candidate labels");
  trie_.assign(1, TrieNode{});
  std::fill(std::begin(trie_[0].child), std::end(trie_[0].child), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) fail(Status::invalid_argument, "answer format: an empty candidate label");
    int node = 0;
    trie_[0].max_label = std::max(trie_[0].max_label, static_cast<int>(i));
    for (unsigned char c : labels[i]) {
      if (trie_[static_cast<size_t>(node)].child[c] < 0) {
        trie_.push_back(TrieNode{});
        std::fill(std::begin(trie_.back().child), std::end(trie_.back().child), -1);
        trie_[static_cast<size_t>(node)].child[c] = static_cast<int>(trie_.size()) - 1;
      }
      node = trie_[static_cast<size_t>(node)].child[c];
      trie_[static_cast<size_t>(node)].max_label = std::max(trie_[static_cast<size_t>(node)].max_label, static_cast<int>(i));
    }
    // A label listed twice keeps its first position.
    if (trie_[static_cast<size_t>(node)].label < 0) trie_[static_cast<size_t>(node)].label = static_cast<int>(i);
  }
}

// boxes: BOX (", " BOX)*   one box: BOX
void AnswerFormat::append_boxes(bool one_only) {
  const int box = emit(Op::box);
  if (one_only) return;
  const int split = emit(Op::split);
  const int sep = emit(Op::literal, ", ");
  emit(Op::jump, {}, box);
  program_[static_cast<size_t>(split)].a = sep;
  program_[static_cast<size_t>(split)].b = static_cast<int>(program_.size());
}

AnswerFormat AnswerFormat::box_answer(BoxAnswer kind) {
  AnswerFormat f;
  switch (kind) {
    case BoxAnswer::yes_boxes_or_not_present: {
      const int split = f.emit(Op::split);
      f.program_[static_cast<size_t>(split)].a = f.emit(Op::literal, "Yes. ");
      f.append_boxes(false);
      f.emit(Op::literal, ".");
      f.emit(Op::match);
      f.program_[static_cast<size_t>(split)].b = f.emit(Op::literal, "Not present.");
      f.emit(Op::match);
      break;
    }
    case BoxAnswer::boxes_period:
      f.append_boxes(false);
      f.emit(Op::literal, ".");
      f.emit(Op::match);
      break;
    case BoxAnswer::boxes:
      f.append_boxes(false);
      f.emit(Op::match);
      break;
    case BoxAnswer::one_box_period:
      f.append_boxes(true);
      f.emit(Op::literal, ".");
      f.emit(Op::match);
      break;
  }
  f.compute_rest();
  return f;
}

// "{label}[ {boxes}], {label}[ {boxes}]." with labels in candidate order, or "Not found."
// (C1 without boxes, G4 with them).
AnswerFormat AnswerFormat::labelled_list(const std::vector<std::string>& labels, bool with_boxes) {
  AnswerFormat f;
  f.set_labels(labels);
  const int split = f.emit(Op::split);
  const int label = f.emit(Op::label, {}, /*ordered=*/1);
  if (with_boxes) {
    f.emit(Op::literal, " ");
    f.append_boxes(false);
  }
  const int more = f.emit(Op::split);
  const int sep = f.emit(Op::literal, ", ");
  f.emit(Op::jump, {}, label);
  const int end = f.emit(Op::literal, ".");
  f.emit(Op::match);
  const int none = f.emit(Op::literal, "Not found.");
  f.emit(Op::match);
  f.program_[static_cast<size_t>(split)].a = label;
  f.program_[static_cast<size_t>(split)].b = none;
  f.program_[static_cast<size_t>(more)].a = sep;
  f.program_[static_cast<size_t>(more)].b = end;
  f.compute_rest();
  return f;
}

AnswerFormat AnswerFormat::label_list(const std::vector<std::string>& labels) { return labelled_list(labels, false); }

AnswerFormat AnswerFormat::named_boxes(const std::vector<std::string>& labels) { return labelled_list(labels, true); }

AnswerFormat AnswerFormat::one_label(const std::vector<std::string>& labels) {
  AnswerFormat f;
  f.set_labels(labels);
  f.emit(Op::label, {}, /*ordered=*/0);
  f.emit(Op::literal, ".");
  f.emit(Op::match);
  f.compute_rest();
  return f;
}

void AnswerFormat::close(const Thread& t, std::vector<Thread>& out, int depth) const {
  if (depth > kMaxCloseDepth) fail(Status::internal, "answer format: a loop without input");
  const Instr& in = program_[static_cast<size_t>(t.pc)];
  Thread next = t;
  switch (in.op) {
    case Op::split:
      next.pc = in.a;
      close(next, out, depth + 1);
      next.pc = in.b;
      close(next, out, depth + 1);
      return;
    case Op::jump:
      next.pc = in.a;
      close(next, out, depth + 1);
      return;
    case Op::literal:
    case Op::box:
    case Op::label:
    case Op::match:
      // Only threads that can still reach `match` count: after the last candidate label,
      // ", " leads nowhere, so "support devices, " must not look viable.
      if (!can_finish(t.pc, t.last_label, 0)) return;
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
      return;
  }
}

bool AnswerFormat::can_finish(int pc, int last_label, int depth) const {
  if (depth > kMaxCloseDepth) return false;
  const Instr& in = program_[static_cast<size_t>(pc)];
  switch (in.op) {
    case Op::match: return true;
    case Op::literal:
    case Op::box: return can_finish(pc + 1, last_label, depth + 1);
    case Op::label:
      // Some label after the last one exists; which one is written decides later steps,
      // and any of them leaves `match` reachable through the paths that need no label.
      return trie_[0].max_label > (in.a != 0 ? last_label : -1) &&
             can_finish(pc + 1, trie_[0].max_label, depth + 1);
    case Op::split: return can_finish(in.a, last_label, depth + 1) || can_finish(in.b, last_label, depth + 1);
    case Op::jump: return can_finish(in.a, last_label, depth + 1);
  }
  return false;
}

// Moves a thread that finished its instruction on to the next one.
static AnswerFormat::Thread advanced(AnswerFormat::Thread t) {
  ++t.pc;
  t.offset = 0;
  t.node = 0;
  return t;
}

void AnswerFormat::step(const Thread& t, uint8_t c, std::vector<Thread>& out) const {
  const Instr& in = program_[static_cast<size_t>(t.pc)];
  switch (in.op) {
    case Op::literal: {
      if (static_cast<uint8_t>(in.text[static_cast<size_t>(t.offset)]) != c) return;
      Thread n = t;
      ++n.offset;
      if (n.offset == static_cast<int>(in.text.size())) close(advanced(n), out);
      else if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
      return;
    }
    case Op::box: {
      Thread n = t;
      if (t.offset == 0) {  // '['
        if (c != '[') return;
        n.offset = 1;
        n.node = 0;
        out.push_back(n);
        return;
      }
      int lo = 0, hi = 0;
      number_range(t, &lo, &hi);
      if (c >= '0' && c <= '9') {
        const int len = digits_length(t.node), value = digits_value(t.node);
        if (len >= 3 || (len == 1 && value == 0)) return;  // too long, or a leading zero
        n.node = (len + 1) * 1000 + value * 10 + (c - '0');
        if (!number_viable(n.node, lo, hi)) return;
        out.push_back(n);
        return;
      }
      // A separator ends the number: it must be complete and in range.
      const int len = digits_length(t.node), value = digits_value(t.node);
      if (len == 0 || value < lo || value > hi) return;
      if (t.offset < 4) {
        if (c != ',') return;
        n.values[t.offset - 1] = value;
        ++n.offset;
        n.node = 0;
        out.push_back(n);
        return;
      }
      if (c != ']') return;
      close(advanced(n), out);
      return;
    }
    case Op::label: {
      const int child = trie_[static_cast<size_t>(t.node)].child[c];
      if (child < 0) return;
      const TrieNode& node = trie_[static_cast<size_t>(child)];
      const bool ordered = in.a != 0;
      const int floor = ordered ? t.last_label : -1;
      if (node.max_label <= floor) return;  // nothing after the last label starts this way
      Thread n = t;
      n.node = child;
      if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
      if (node.label > floor) {  // a whole label: the answer may go on after it
        Thread done = advanced(n);
        done.last_label = ordered ? node.label : t.last_label;
        close(done, out);
      }
      return;
    }
    case Op::split:
    case Op::jump:
    case Op::match:
      return;  // match consumes nothing; split/jump never wait for input
  }
}

AnswerFormat::State AnswerFormat::start() const {
  State s;
  close(Thread{}, s.threads);
  return s;
}

bool AnswerFormat::feed(State& state, std::string_view bytes) const {
  std::vector<Thread> next;
  for (unsigned char c : bytes) {
    next.clear();
    for (const Thread& t : state.threads) step(t, c, next);
    state.threads.swap(next);
    if (state.threads.empty()) return false;
  }
  return !state.threads.empty();
}

bool AnswerFormat::complete(const State& state) const {
  for (const Thread& t : state.threads)
    if (program_[static_cast<size_t>(t.pc)].op == Op::match) return true;
  return false;
}

namespace {
constexpr int kFar = 1 << 20;
int digits(int n) { return n >= 100 ? 3 : n >= 10 ? 2 : 1; }
}  // namespace

int AnswerFormat::label_min_bytes(int node, int floor) const {
  // Breadth-first over the trie below `node` to the nearest label after `floor`.
  std::vector<std::pair<int, int>> frontier{{node, 0}};
  for (size_t i = 0; i < frontier.size(); ++i) {
    const auto [n, depth] = frontier[i];
    const TrieNode& tn = trie_[static_cast<size_t>(n)];
    if (tn.max_label <= floor) continue;
    if (tn.label > floor && depth > 0) return depth;
    for (int c = 0; c < 256; ++c)
      if (tn.child[c] >= 0) frontier.emplace_back(tn.child[c], depth + 1);
  }
  return kFar;
}

// rest_[pc]: shortest path to `match` with the cheapest possible box and label at each
// step (exact where it matters: at the instruction a thread is in, thread_min_bytes
// uses the thread's own numbers and labels).
void AnswerFormat::compute_rest() {
  int shortest_label = kFar;
  if (!trie_.empty()) shortest_label = label_min_bytes(0, -1);
  rest_.assign(program_.size(), kFar);
  for (size_t round = 0; round <= program_.size(); ++round) {  // Bellman-Ford on a tiny graph
    for (size_t pc = program_.size(); pc-- > 0;) {
      const Instr& in = program_[pc];
      int v = kFar;
      switch (in.op) {
        case Op::match: v = 0; break;
        case Op::literal: v = static_cast<int>(in.text.size()) + rest_[pc + 1]; break;
        case Op::box: v = 9 + rest_[pc + 1]; break;  // "[0,0,1,1]"
        case Op::label: v = shortest_label + rest_[pc + 1]; break;
        case Op::split: v = std::min(rest_[static_cast<size_t>(in.a)], rest_[static_cast<size_t>(in.b)]); break;
        case Op::jump: v = rest_[static_cast<size_t>(in.a)]; break;
      }
      rest_[pc] = std::min(rest_[pc], std::min(v, kFar));
    }
  }
}

int AnswerFormat::thread_min_bytes(const Thread& t) const {
  const Instr& in = program_[static_cast<size_t>(t.pc)];
  const int after = rest_[static_cast<size_t>(t.pc) + (in.op == Op::match ? 0 : 1)];
  switch (in.op) {
    case Op::match: return 0;
    case Op::literal: return static_cast<int>(in.text.size()) - t.offset + after;
    case Op::label: return label_min_bytes(t.node, in.a != 0 ? t.last_label : -1) + after;
    case Op::box: {
      if (t.offset == 0) return 9 + after;
      // The current number: done if what is typed is in range, else the fewest digits
      // that make it so; then the separators and the smallest later numbers.
      int lo = 0, hi = 0;
      number_range(t, &lo, &hi);
      const int len = digits_length(t.node), value = digits_value(t.node);
      int cost = kFar, chosen = -1;
      for (int n = std::max(lo, 0); n <= hi; ++n) {
        const std::string s = std::to_string(n);
        if (static_cast<int>(s.size()) < len || (len > 0 && std::stoi(s.substr(0, static_cast<size_t>(len))) != value))
          continue;
        const int c = static_cast<int>(s.size()) - len;
        if (c < cost) cost = c, chosen = n;
      }
      if (chosen < 0) return kFar;
      int x1 = t.values[0], y1 = t.values[1];
      if (t.offset == 1) x1 = chosen;
      if (t.offset == 2) y1 = chosen;
      int more = 0;  // the later numbers at their smallest, each with the byte before it
      for (int part = t.offset + 1; part <= 4; ++part)
        more += 1 + (part == 2 ? 1 : part == 3 ? digits(x1 + 1) : digits(y1 + 1));
      return cost + more + 1 /* ']' */ + after;
    }
    case Op::split:
    case Op::jump: break;
  }
  return kFar;
}

int AnswerFormat::min_bytes_to_complete(const State& state) const {
  int best = kFar;
  for (const Thread& t : state.threads) best = std::min(best, thread_min_bytes(t));
  return best;
}

bool AnswerFormat::matches(std::string_view text) const {
  State s = start();
  return feed(s, text) && complete(s);
}

bool AnswerFormat::viable_prefix(std::string_view text) const {
  State s = start();
  return feed(s, text);
}

}  // namespace m4cxr
