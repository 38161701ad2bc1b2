#include "tasks/label_sets.h"

#include <utility>

namespace m4cxr {

namespace {

using List = std::vector<std::string>;

struct Entry {
  LabelSet set;
  std::string_view name;
  List labels;
};

List f13() {
  return {"enlarged cardiomediastinum", "cardiomegaly", "lung opacity", "lung lesion",
          "edema", "consolidation", "pneumonia", "atelectasis", "pneumothorax",
          "pleural effusion", "pleural other", "fracture", "support devices"};
}

// Built once (C++11 magic static), never modified afterwards.
const std::vector<Entry>& table() {
  static const std::vector<Entry> t = {
      {LabelSet::mimic_cxr, "mimic_cxr", f13()},
      {LabelSet::chexpert, "chexpert", f13()},
      {LabelSet::brax, "brax",
       {"enlarged cardiomediastinum", "cardiomegaly", "lung lesion", "lung opacity", "edema",
        "consolidation", "pneumonia", "atelectasis", "pneumothorax", "pleural effusion",
        "pleural other", "fracture", "support devices"}},
      {LabelSet::vindr_cxr, "vindr_cxr",
       {"aortic enlargement", "atelectasis", "calcification", "cardiomegaly", "consolidation",
        "ild", "infiltration", "lung opacity", "nodule/mass", "other lesion", "pleural effusion",
        "pleural thickening", "pneumothorax", "pulmonary fibrosis"}},
      {LabelSet::nih_chestxray14, "nih_chestxray14",
       {"atelectasis", "cardiomegaly", "consolidation", "edema", "effusion", "emphysema",
        "fibrosis", "hernia", "infiltration", "mass", "nodule", "pleural_thickening",
        "pneumonia", "pneumothorax"}},
      {LabelSet::nih_boxed, "nih_boxed",
       {"atelectasis", "cardiomegaly", "effusion", "mass", "nodule", "pneumonia", "pneumothorax"}},
      {LabelSet::chestx_det10, "chestx_det10",
       {"atelectasis", "calcification", "consolidation", "effusion", "emphysema", "fibrosis",
        "fracture", "mass", "nodule", "pneumothorax"}},
      {LabelSet::siim, "siim", {"pneumothorax"}},
      {LabelSet::rsna, "rsna", {"pneumonia"}},
      {LabelSet::covid19_radiography, "covid19_radiography",
       {"covid-19", "lung opacity", "viral pneumonia"}},
      {LabelSet::jsrt, "jsrt", {"nodule"}},
      {LabelSet::covid_qu_ex, "covid_qu_ex", {"covid-19"}},
      {LabelSet::qata_cov19, "qata_cov19", {"covid-19"}},
      {LabelSet::organs, "organs", {"lung"}},
      {LabelSet::imagenome_regions, "imagenome_regions",
       {"right lung", "right upper lung zone", "right mid lung zone", "right lower lung zone",
        "right hilar structures", "right apical zone", "right costophrenic angle",
        "right hemidiaphragm", "left lung", "left upper lung zone", "left mid lung zone",
        "left lower lung zone", "left hilar structures", "left apical zone",
        "left costophrenic angle", "left hemidiaphragm", "trachea", "spine", "right clavicle",
        "left clavicle", "aortic arch", "mediastinum", "upper mediastinum", "svc",
        "cardiac silhouette", "cavoatrial junction", "right atrium", "carina", "abdomen"}},
  };
  return t;
}

const Entry& entry(LabelSet set) {
  for (const Entry& e : table())
    if (e.set == set) return e;
  return table().front();  // unreachable for valid enumerators
}

}  // namespace

const std::vector<std::string>& cot_findings() { return entry(LabelSet::mimic_cxr).labels; }

const std::vector<std::string>& label_set(LabelSet set) { return entry(set).labels; }

std::string_view label_set_name(LabelSet set) { return entry(set).name; }

std::optional<LabelSet> label_set_from_name(std::string_view name) {
  for (const Entry& e : table())
    if (e.name == name) return e.set;
  return std::nullopt;
}

const std::vector<LabelSet>& all_label_sets() {
  static const std::vector<LabelSet> sets = [] {
    std::vector<LabelSet> v;
    for (const Entry& e : table()) v.push_back(e.set);
    return v;
  }();
  return sets;
}

}  // namespace m4cxr
