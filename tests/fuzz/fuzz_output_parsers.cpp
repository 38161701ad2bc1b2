// Fuzz target: reading structured answers out of generated text, and mapping their boxes
// back to the image. The rest of the input after 8 bytes (image width and height) is
// treated as a model's answer. Invariants: the parsers never throw; every parsed box is a
// valid 0..100 box; mapped back to pixels it lies inside the original image; the spans
// the confidence scores read (locate_boxes, locate_finding) agree with the parsers.
#include <algorithm>
#include <cmath>

#include "fuzz_support.h"
#include "image/box_geometry.h"
#include "tasks/answer_format.h"
#include "tasks/label_sets.h"
#include "tasks/output_parsing.h"
#include "tasks/report_cleaning.h"

using namespace m4cxr;

namespace {

void check_box(const ModelBox& b, int width, int height) {
  FUZZ_CHECK(0 <= b.x1 && b.x1 <= b.x2 && b.x2 <= 100);
  FUZZ_CHECK(0 <= b.y1 && b.y1 <= b.y2 && b.y2 <= 100);
  const PixelBox p = model_box_to_pixels(b, width, height);
  FUZZ_CHECK(std::isfinite(p.x1) && std::isfinite(p.y1) && std::isfinite(p.x2) && std::isfinite(p.y2));
  FUZZ_CHECK(0 <= p.x1 && p.x1 <= p.x2 && p.x2 <= width);
  FUZZ_CHECK(0 <= p.y1 && p.y1 <= p.y2 && p.y2 <= height);
  // And back: a pixel box inside the image maps to a valid model box.
  const ModelBox again = normalize_box(p, width, height);
  FUZZ_CHECK(0 <= again.x1 && again.x1 <= again.x2 && again.x2 <= 100);
  FUZZ_CHECK(0 <= again.y1 && again.y1 <= again.y2 && again.y2 <= 100);
}

// What constrained decoding relies on: a text the format accepts is a viable prefix, a
// text with a dead prefix is dead, and an accepted answer always parses (as many boxes as
// it writes, the labels it writes).
void check_formats(std::string_view text) {
  static const AnswerFormat boxes = AnswerFormat::box_answer(AnswerFormat::BoxAnswer::yes_boxes_or_not_present);
  static const AnswerFormat labels = AnswerFormat::label_list(label_set(LabelSet::mimic_cxr));
  for (const AnswerFormat* f : {&boxes, &labels}) {
    AnswerFormat::State s = f->start();
    bool alive = true;
    for (size_t i = 0; i < text.size() && alive; ++i) alive = f->feed(s, text.substr(i, 1));
    FUZZ_CHECK(alive == f->viable_prefix(text));
    FUZZ_CHECK(!f->matches(text) || alive);
    // A live answer can always be finished, a complete one needs nothing more.
    if (alive) FUZZ_CHECK(f->min_bytes_to_complete(s) < 1000);
    if (alive) FUZZ_CHECK((f->min_bytes_to_complete(s) == 0) == f->complete(s));
  }
  if (boxes.matches(text)) {
    const size_t written = static_cast<size_t>(std::count(text.begin(), text.end(), '['));
    FUZZ_CHECK(parse_boxes(text).size() == written);
    FUZZ_CHECK((written == 0) == is_not_present(text));
  }
  if (labels.matches(text) && text != "Not found.") {
    const size_t written = static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1;
    FUZZ_CHECK(parse_findings(text, label_set(LabelSet::mimic_cxr)).size() >= written);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const int width = 1 + static_cast<int>(in.take_u32() % 20000);
  const int height = 1 + static_cast<int>(in.take_u32() % 20000);
  const std::string_view text = in.rest();
  // The parsers promise not to throw on any text: no accepts() around them.
  try {
    (void)strip_special_text(text);
    (void)normalize_vqa_answer(text);
    (void)is_not_present(text);
    (void)clean_report_mimic_cxr(text);
    const auto found = parse_findings(text, label_set(LabelSet::mimic_cxr));
    FUZZ_CHECK(found.size() <= label_set(LabelSet::mimic_cxr).size());
    const ChexbertFindings c = parse_chexbert_findings(text);
    FUZZ_CHECK(c.no_finding == c.labels[13]);
    const auto parsed = parse_boxes(text);
    for (const ModelBox& b : parsed) check_box(b, width, height);
    // Confidence reads each box's span: one per parsed box, inside the text, in order, and
    // the box re-read from its own span is the same box.
    const auto spans = locate_boxes(text);
    FUZZ_CHECK(spans.size() == parsed.size());
    for (size_t i = 0; i < spans.size() && i < parsed.size(); ++i) {
      FUZZ_CHECK(spans[i].begin < spans[i].end && spans[i].end <= text.size());
      if (i > 0) FUZZ_CHECK(spans[i - 1].end <= spans[i].begin);
      const auto again = parse_boxes(text.substr(spans[i].begin, spans[i].end - spans[i].begin));
      FUZZ_CHECK(!again.empty());
      if (!again.empty())
        FUZZ_CHECK(again.front().x1 == parsed[i].x1 && again.front().y1 == parsed[i].y1 &&
                   again.front().x2 == parsed[i].x2 && again.front().y2 == parsed[i].y2);
    }
    for (const std::string& name : label_set(LabelSet::mimic_cxr)) {
      const size_t at = locate_finding(text, name);
      const bool listed = std::find(found.begin(), found.end(), name) != found.end();
      FUZZ_CHECK((at != std::string::npos) == listed);
      if (at != std::string::npos) FUZZ_CHECK(at + name.size() <= text.size());
    }
    check_formats(text);
    for (const auto& [name, boxes] : parse_named_boxes(text)) {
      FUZZ_CHECK(!boxes.empty());
      for (const ModelBox& b : boxes) check_box(b, width, height);
    }
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
