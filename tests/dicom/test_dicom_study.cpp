// Study handling: view order (PA, AP, lateral, other, unknown; file order otherwise),
// one study per folder, prior study checks.
#include <doctest/doctest.h>

#include "common/error.h"
#include "dicom/study.h"
#include "dicom/view_class.h"

using namespace m4cxr;

namespace {
DicomIdentity view(ViewClass v, const char* sop, const char* study = "1.2.3", const char* date = "20200102") {
  DicomIdentity d;
  d.view = v;
  d.sop_instance_uid = sop;
  d.study_instance_uid = study;
  d.patient_id = "P";
  d.study_date = date;
  return d;
}
}  // namespace

TEST_CASE("views are ordered frontal (PA, then AP) before lateral, stable otherwise") {
  const std::vector<DicomIdentity> v = {view(ViewClass::unknown, "u"), view(ViewClass::lateral, "l1"),
                                        view(ViewClass::ap, "ap"), view(ViewClass::other, "o"),
                                        view(ViewClass::pa, "pa"), view(ViewClass::lateral, "l2")};
  const auto order = order_views(v);
  std::vector<std::string> got;
  for (size_t i : order) got.push_back(v[i].sop_instance_uid);
  CHECK(got == std::vector<std::string>{"pa", "ap", "l1", "l2", "o", "u"});
}

TEST_CASE("resolve_view: ViewPosition, then the view code, then free text") {
  DicomIdentity id;
  ViewTags t;
  t.view_position = "AP";
  resolve_view(t, id);
  CHECK(id.view == ViewClass::ap);
  t.view_position = "";
  t.view_code_meaning = "postero-anterior";
  resolve_view(t, id);
  CHECK(id.view == ViewClass::pa);
  CHECK(id.view_source == "ViewCodeSequence");
  t.view_code_meaning = "";
  t.protocol_name = "Chest Lat";
  resolve_view(t, id);
  CHECK(id.view == ViewClass::lateral);
  t.protocol_name = "PA and LAT";  // ambiguous
  resolve_view(t, id);
  CHECK(id.view == ViewClass::unknown);
  t.view_position = "LLD";
  resolve_view(t, id);
  CHECK(id.view == ViewClass::other);
}

TEST_CASE("one study per folder; a prior is an earlier study of the same patient") {
  CHECK_NOTHROW(check_one_study({view(ViewClass::pa, "a"), view(ViewClass::lateral, "b")}, "study"));
  CHECK_THROWS_AS(check_one_study({view(ViewClass::pa, "a"), view(ViewClass::pa, "b", "9.9")}, "study"), Error);
  CHECK_THROWS_AS(check_one_study({}, "study"), Error);
  const std::vector<DicomIdentity> cur = {view(ViewClass::pa, "a", "1.2.3", "20200102")};
  CHECK_NOTHROW(check_prior_study({view(ViewClass::pa, "p", "1.2.0", "20190101")}, cur));
  CHECK_THROWS_AS(check_prior_study({view(ViewClass::pa, "p", "1.2.0", "20210101")}, cur), Error);  // later
  CHECK_THROWS_AS(check_prior_study({view(ViewClass::pa, "p", "1.2.3", "20190101")}, cur), Error);  // same study
  auto other = view(ViewClass::pa, "p", "1.2.0", "20190101");
  other.patient_id = "Q";
  CHECK_THROWS_AS(check_prior_study({other}, cur), Error);
}
