// Label catalogues of the M4CXR tasks (docs/upstream-tasks.md §1): the CheXbert conditions, the
// lower-case 13-finding CoT candidate list, the per-dataset classification and
// grounding label sets, the organ list and the 29 ImaGenome anatomical regions.
//
// Every name is spelled exactly as upstream writes it into prompts (lower case, dataset
// spellings such as "pleural_thickening", "nodule/mass", "ild", "covid-19").
// All functions return references to immutable process-wide tables: thread-safe, never
// throw; the references stay valid for the life of the program.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace m4cxr {

// CheXbert's 14 CONDITIONS in label order (Title case, as in f1chexbert); the last one
// is "No Finding". docs/upstream-tasks.md §1.1.
inline constexpr std::array<std::string_view, 14> kChexbertConditions = {
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema",  "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
    "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices", "No Finding"};
inline constexpr int kNoFindingIndex = 13;
inline constexpr int kSupportDevicesIndex = 12;

// `{F13}`: the lower-cased CheXbert names without "No Finding", in CONDITIONS order;
// the candidate list of R2/R4/R6 turn 1 and of MIMIC-CXR / CheXpert classification.
const std::vector<std::string>& cot_findings();

// Named label sets (docs/upstream-tasks.md §1.3-§1.6), in prompt order.
enum class LabelSet {
  mimic_cxr,            // {F13}
  chexpert,             // {F13} (CheXpert CSV order = CheXbert order)
  brax,                 // the 13 concepts in BRAX column order (order is a best guess, §1.3)
  vindr_cxr,            // 14 VinDr-CXR findings (classification and grounding)
  nih_chestxray14,      // 14 ChestX-ray14 labels (classification of "No Finding" images)
  nih_boxed,            // 7 ChestX-ray14 findings that have boxes (grounding)
  chestx_det10,         // 10 ChestX-Det10 classes, sorted
  siim,                 // pneumothorax
  rsna,                 // pneumonia (§1.3 caveat: the released data may say "lung opacity")
  covid19_radiography,  // covid-19, lung opacity, viral pneumonia
  jsrt,                 // nodule
  covid_qu_ex,          // covid-19
  qata_cov19,           // covid-19
  organs,               // lung (organ grounding, §1.5)
  imagenome_regions,    // the 29 anatomical regions of §1.6, in index order
};

const std::vector<std::string>& label_set(LabelSet set);

// Stable lower-case identifier of a set ("mimic_cxr", "vindr_cxr", ...: the enumerator
// names) and its inverse (exact match; nullopt for unknown names).
std::string_view label_set_name(LabelSet set);
std::optional<LabelSet> label_set_from_name(std::string_view name);

// Every LabelSet, in declaration order (for listings and tests).
const std::vector<LabelSet>& all_label_sets();

}  // namespace m4cxr
