#include "dicom/study.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {

int rank(ViewClass v) {
  switch (v) {
    case ViewClass::pa: return 0;
    case ViewClass::ap: return 1;
    case ViewClass::lateral: return 2;
    case ViewClass::other: return 3;
    case ViewClass::unknown: return 4;
  }
  return 4;
}

}  // namespace

std::vector<size_t> order_views(const std::vector<DicomIdentity>& views) {
  std::vector<size_t> idx(views.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return rank(views[a].view) < rank(views[b].view); });
  return idx;
}

void check_one_study(const std::vector<DicomIdentity>& views, const char* what) {
  if (views.empty()) fail(Status::invalid_argument, std::string(what) + ": no DICOM instances");
  for (const auto& v : views) {
    if (v.study_instance_uid.empty()) {
      fail(Status::invalid_argument, std::string(what) + ": instance " + v.sop_instance_uid +
                                         " has no StudyInstanceUID, so it cannot be grouped into a study");
    }
    if (v.study_instance_uid != views.front().study_instance_uid) {
      fail(Status::invalid_argument, std::string(what) + " holds more than one study (StudyInstanceUID " +
                                         views.front().study_instance_uid + " and " + v.study_instance_uid + ")");
    }
    if (v.patient_id != views.front().patient_id) {
      fail(Status::invalid_argument, std::string(what) + " holds more than one PatientID");
    }
  }
}

void check_prior_study(const std::vector<DicomIdentity>& prior, const std::vector<DicomIdentity>& current) {
  check_one_study(prior, "the prior study");
  check_one_study(current, "the current study");
  const auto& p = prior.front();
  const auto& c = current.front();
  if (p.patient_id != c.patient_id) {
    fail(Status::invalid_argument, "the prior study's PatientID differs from the current study's");
  }
  if (p.study_instance_uid == c.study_instance_uid) {
    fail(Status::invalid_argument, "the prior study is the current study (same StudyInstanceUID)");
  }
  if (!p.study_date.empty() && !c.study_date.empty() && p.study_date + p.study_time >= c.study_date + c.study_time) {
    fail(Status::invalid_argument, "the prior study (StudyDate " + p.study_date + ") is not earlier than the current study (" +
                                       c.study_date + ")");
  }
}

}  // namespace m4cxr
