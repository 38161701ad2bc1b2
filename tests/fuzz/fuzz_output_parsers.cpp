// Fuzz target: reading structured answers out of generated text, and mapping their boxes
// back to the image. The rest of the input after 8 bytes (image width and height) is
// treated as a model's answer. Invariants: the parsers never throw; every parsed box is a
// valid 0..100 box; mapped back to pixels it lies inside the original image.
#include <cmath>

#include "fuzz_support.h"
#include "image/box_geometry.h"
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
    for (const ModelBox& b : parse_boxes(text)) check_box(b, width, height);
    for (const auto& [name, boxes] : parse_named_boxes(text)) {
      FUZZ_CHECK(!boxes.empty());
      for (const ModelBox& b : boxes) check_box(b, width, height);
    }
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
