// DICOM input through the C API (issue 13): every promise of m4cxr_image_from_dicom_*,
// m4cxr_dicom_options_init and m4cxr_image_get_dicom_field in m4cxr.h, and the
// identifiers in the result JSON. Files are synthetic (tests/dicomgen).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "capi_support.h"
#include "dicom/dicom_reference.h"
#include "dicom_writer.h"

using namespace capi_test;
using namespace m4cxr_test;

namespace {

SyntheticDicom synthetic(const char* view = "PA", uint32_t seed = 61) {
  SyntheticDicom s;
  s.width = 40;
  s.height = 36;
  s.view_position = view;
  s.sop_uid = std::string("1.2.826.0.1.3680043.10.1234.9.") + std::to_string(seed);
  s.values = synthetic_values(s.width, s.height, 0, 4095, seed);
  return s;
}

std::string field(const m4cxr_image* im, m4cxr_dicom_field f) {
  const char* v = nullptr;
  REQUIRE_MESSAGE(m4cxr_image_get_dicom_field(im, f, &v) == M4CXR_OK, m4cxr_last_error());
  REQUIRE(v != nullptr);
  return v;
}

m4cxr_status load(const std::vector<uint8_t>& bytes, const m4cxr_dicom_options* o, m4cxr_image** im) {
  return m4cxr_image_from_dicom_memory(model(), bytes.data(), bytes.size(), o, im);
}

}  // namespace

TEST_CASE("capi dicom: memory and file give the same image with its identifiers and view") {
  const SyntheticDicom s = synthetic("LL");
  const auto bytes = make_dicom(s);
  m4cxr_image* a = nullptr;
  REQUIRE_MESSAGE(load(bytes, nullptr, &a) == M4CXR_OK, m4cxr_last_error());
  const std::string path = "/tmp/m4cxr_capi_dicom_" + std::to_string(::getpid()) + ".dcm";
  write_file(path, bytes);
  m4cxr_image* b = nullptr;
  REQUIRE_MESSAGE(m4cxr_image_from_dicom_file(model(), path.c_str(), nullptr, &b) == M4CXR_OK, m4cxr_last_error());
  std::remove(path.c_str());
  CHECK(std::string(m4cxr_image_hash(a)) == m4cxr_image_hash(b));
  int w = 0, h = 0;
  REQUIRE(m4cxr_image_get_size(a, &w, &h) == M4CXR_OK);
  CHECK(w == s.width);
  CHECK(h == s.height);
  CHECK(field(a, M4CXR_DICOM_STUDY_INSTANCE_UID) == s.study_uid);
  CHECK(field(a, M4CXR_DICOM_SERIES_INSTANCE_UID) == s.series_uid);
  CHECK(field(a, M4CXR_DICOM_SOP_INSTANCE_UID) == s.sop_uid);
  CHECK(field(a, M4CXR_DICOM_PATIENT_ID) == s.patient_id);
  CHECK(field(a, M4CXR_DICOM_VIEW_POSITION) == "LL");
  CHECK(field(a, M4CXR_DICOM_VIEW) == "LATERAL");
  CHECK(field(a, M4CXR_DICOM_STUDY_DATE) == s.study_date);
  CHECK(field(a, M4CXR_DICOM_STUDY_TIME) == s.study_time);
  CHECK(field(a, M4CXR_DICOM_MODALITY) == "DX");
  CHECK(field(a, M4CXR_DICOM_TRANSFER_SYNTAX_UID) == ts::explicit_le);
  CHECK(field(a, M4CXR_DICOM_CONVERSION) == "mimic_jpg");
  m4cxr_image_free(a);
  m4cxr_image_free(b);
}

TEST_CASE("capi dicom: the conversions give the pixels of an independent computation") {
  const SyntheticDicom s = synthetic("PA", 62);
  const auto bytes = make_dicom(s);
  const auto mm = reference_min_max(reference_modality(s.values, 1, 0), false);
  const struct {
    m4cxr_dicom_conversion c;
    std::vector<uint8_t> expected;
  } cases[] = {{M4CXR_DICOM_MIMIC_JPG, reference_equalize(mm)}, {M4CXR_DICOM_MIN_MAX, mm}, {M4CXR_DICOM_VOI, mm}};
  for (const auto& c : cases) {
    m4cxr_dicom_options o;
    m4cxr_dicom_options_default(&o);
    o.conversion = c.c;
    m4cxr_image* im = nullptr;
    REQUIRE_MESSAGE(load(bytes, &o, &im) == M4CXR_OK, m4cxr_last_error());
    m4cxr_image* ref = nullptr;  // the same gray pixels through m4cxr_image_from_pixels
    REQUIRE(m4cxr_image_from_pixels(model(), c.expected.data(), c.expected.size(), s.width, s.height, s.width,
                                    M4CXR_PIXELS_GRAY8, &ref) == M4CXR_OK);
    CHECK(std::string(m4cxr_image_hash(im)) == m4cxr_image_hash(ref));
    m4cxr_image_free(im);
    m4cxr_image_free(ref);
  }
}

TEST_CASE("capi dicom: options defaults and validation") {
  m4cxr_dicom_options o;
  std::memset(&o, 0x5a, sizeof o);
  REQUIRE(m4cxr_dicom_options_init(&o, sizeof o) == M4CXR_OK);
  CHECK(o.struct_size == sizeof o);
  CHECK(o.conversion == M4CXR_DICOM_MIMIC_JPG);
  CHECK(o.allow_multiframe == 0);
  CHECK(o.allow_any_modality == 0);
  CHECK(o.allow_color == 0);
  CHECK(m4cxr_dicom_options_init(nullptr, sizeof o) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_dicom_options_init(&o, sizeof o + 8) == M4CXR_ERR_INVALID_ARGUMENT);
  const auto bytes = make_dicom(synthetic());
  m4cxr_image* im = reinterpret_cast<m4cxr_image*>(1);
  o.struct_size = sizeof o + 8;  // from a newer header
  CHECK(load(bytes, &o, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(im == nullptr);
  m4cxr_dicom_options_default(&o);
  int bad = 7;
  std::memcpy(&o.conversion, &bad, sizeof bad);
  CHECK(load(bytes, &o, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::string(m4cxr_last_error()).find("conversion") != std::string::npos);
}

TEST_CASE("capi dicom: errors map to the documented statuses") {
  m4cxr_image* im = nullptr;
  const auto good = make_dicom(synthetic());
  CHECK(m4cxr_image_from_dicom_memory(model(), nullptr, 10, nullptr, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_image_from_dicom_memory(model(), good.data(), 0, nullptr, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_image_from_dicom_memory(model(), good.data(), good.size(), nullptr, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_image_from_dicom_file(model(), "", nullptr, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_image_from_dicom_file(model(), nullptr, nullptr, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_image_from_dicom_memory(nullptr, good.data(), good.size(), nullptr, &im) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(m4cxr_image_from_dicom_file(model(), "/nonexistent/a.dcm", nullptr, &im) == M4CXR_ERR_IO);
  // truncated and garbage: FORMAT, with a message
  const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
  CHECK(load(cut, nullptr, &im) == M4CXR_ERR_FORMAT);
  CHECK(std::string(m4cxr_last_error()).size() > 10);
  CHECK(load(std::vector<uint8_t>(300, 0x41), nullptr, &im) == M4CXR_ERR_FORMAT);
  CHECK(im == nullptr);
  // refused transfer syntax, named
  SyntheticDicom s = synthetic();
  s.transfer_syntax = ts::big_endian;
  CHECK(load(make_dicom(s), nullptr, &im) == M4CXR_ERR_UNSUPPORTED);
  CHECK(std::string(m4cxr_last_error()).find("1.2.840.10008.1.2.2") != std::string::npos);
  // modality: refused, then overridden
  s = synthetic();
  s.modality = "MR";
  const auto mr = make_dicom(s);
  CHECK(load(mr, nullptr, &im) == M4CXR_ERR_UNSUPPORTED);
  CHECK(std::string(m4cxr_last_error()).find("allow_any_modality") != std::string::npos);
  m4cxr_dicom_options o;
  m4cxr_dicom_options_default(&o);
  o.allow_any_modality = 1;
  REQUIRE(load(mr, &o, &im) == M4CXR_OK);
  m4cxr_image_free(im);
  // no pixel data
  s = synthetic();
  s.omit_pixel_data = true;
  CHECK(load(make_dicom(s), nullptr, &im) == M4CXR_ERR_UNSUPPORTED);
}

TEST_CASE("capi dicom: fields of other images, unknown fields and freed images are refused") {
  m4cxr_image* png = image("gray8_73x101.png");
  CHECK(m4cxr_image_is_dicom(png) == 0);
  const char* v = "x";
  CHECK(m4cxr_image_get_dicom_field(png, M4CXR_DICOM_PATIENT_ID, &v) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(v == nullptr);
  m4cxr_image_free(png);
  m4cxr_image* im = nullptr;
  REQUIRE(load(make_dicom(synthetic()), nullptr, &im) == M4CXR_OK);
  CHECK(m4cxr_image_is_dicom(im) == 1);
  CHECK(m4cxr_image_get_dicom_field(im, M4CXR_DICOM_PATIENT_ID, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  int bad = 99;
  m4cxr_dicom_field f;
  std::memcpy(&f, &bad, sizeof bad);
  CHECK(m4cxr_image_get_dicom_field(im, f, &v) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_image_free(im);
  CHECK(m4cxr_image_get_dicom_field(im, M4CXR_DICOM_PATIENT_ID, &v) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(m4cxr_image_is_dicom(im) == 0);
  CHECK(std::string(m4cxr_last_error()).size() > 0);
}

TEST_CASE("capi dicom: the result JSON and its replay record carry the identifiers") {
  m4cxr_image* im = nullptr;
  const SyntheticDicom s = synthetic("AP", 63);
  REQUIRE(load(make_dicom(s), nullptr, &im) == M4CXR_OK);
  m4cxr_session* session = nullptr;
  REQUIRE(m4cxr_session_create(model(), &session) == M4CXR_OK);
  const m4cxr_generation_options g = greedy(3);
  m4cxr_task* task = nullptr;
  REQUIRE_MESSAGE(m4cxr_vqa(session, im, "Is there a pneumothorax?", &g, &task) == M4CXR_OK, m4cxr_last_error());
  Run run;
  drive(task, run);
  REQUIRE(run.json.contains("dicom"));
  CHECK(run.json["dicom"][0]["sop_instance_uid"] == s.sop_uid);
  CHECK(run.json["dicom"][0]["study_instance_uid"] == s.study_uid);
  CHECK(run.json["dicom"][0]["patient_id"] == s.patient_id);
  CHECK(run.json["dicom"][0]["view"] == "AP");
  const auto& rep = run.json["replay"]["dicom"][0];
  CHECK(rep["identity"]["series_instance_uid"] == s.series_uid);
  CHECK(rep["conversion"]["conversion"] == "mimic_jpg");
  CHECK(rep["conversion"]["histogram_equalized"] == true);
  CHECK(rep["conversion"]["transfer_syntax_uid"] == ts::explicit_le);
  // Other images: no "dicom" key (the JSON is as before)
  m4cxr_image* png = image("gray8_73x101.png");
  REQUIRE(m4cxr_vqa(session, png, "Is there a pneumothorax?", &g, &task) == M4CXR_OK);
  Run other;
  drive(task, other);
  CHECK_FALSE(other.json.contains("dicom"));
  m4cxr_image_free(png);
  m4cxr_image_free(im);
  m4cxr_session_free(session);
}

TEST_CASE("capi dicom: study order is PA, AP, lateral; studies and priors are checked") {
  const char* views[] = {"LL", "AP", "PA", ""};
  std::vector<m4cxr_image*> cur;
  for (int i = 0; i < 4; ++i) {
    SyntheticDicom s = synthetic(views[i], 70 + i);
    m4cxr_image* im = nullptr;
    REQUIRE(load(make_dicom(s), nullptr, &im) == M4CXR_OK);
    cur.push_back(im);
  }
  size_t order[4] = {9, 9, 9, 9};
  REQUIRE_MESSAGE(m4cxr_dicom_order_study(cur.data(), 4, nullptr, 0, order, nullptr) == M4CXR_OK, m4cxr_last_error());
  CHECK(order[0] == 2);  // PA
  CHECK(order[1] == 1);  // AP
  CHECK(order[2] == 0);  // lateral
  CHECK(order[3] == 3);  // unknown
  SyntheticDicom p = synthetic("PA", 80);
  p.study_uid = "1.2.826.0.1.3680043.10.1234.0";
  p.study_date = "20190505";
  m4cxr_image* prior = nullptr;
  REQUIRE(load(make_dicom(p), nullptr, &prior) == M4CXR_OK);
  size_t porder[1] = {9};
  CHECK(m4cxr_dicom_order_study(cur.data(), 4, &prior, 1, order, porder) == M4CXR_OK);
  CHECK(porder[0] == 0);
  // the prior the other way round is not earlier
  CHECK(m4cxr_dicom_order_study(&prior, 1, cur.data(), 4, order, porder) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::string(m4cxr_last_error()).find("not earlier") != std::string::npos);
  // two studies in one list
  std::vector<m4cxr_image*> mixed = {cur[0], prior};
  CHECK(m4cxr_dicom_order_study(mixed.data(), 2, nullptr, 0, order, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::string(m4cxr_last_error()).find("more than one study") != std::string::npos);
  // another patient's prior
  p.patient_id = "SYNTH-0002";
  m4cxr_image* other = nullptr;
  REQUIRE(load(make_dicom(p), nullptr, &other) == M4CXR_OK);
  CHECK(m4cxr_dicom_order_study(cur.data(), 4, &other, 1, order, porder) == M4CXR_ERR_INVALID_ARGUMENT);
  // non-DICOM images, NULLs
  m4cxr_image* png = image("gray8_73x101.png");
  CHECK(m4cxr_dicom_order_study(&png, 1, nullptr, 0, order, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_dicom_order_study(nullptr, 1, nullptr, 0, order, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_dicom_order_study(cur.data(), 4, nullptr, 0, nullptr, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_image_free(png);
  m4cxr_image_free(other);
  m4cxr_image_free(prior);
  for (auto* im : cur) m4cxr_image_free(im);
}

TEST_CASE("capi dicom: any thread - concurrent reads in every codec give the same images") {
  const char* syntaxes[] = {ts::explicit_le, ts::deflated, ts::jpeg_lossless_sv1, ts::jpegls_lossless, ts::j2k_lossless, ts::rle};
  std::vector<std::vector<uint8_t>> files;
  std::vector<std::string> expected;
  for (const char* uid : syntaxes) {
    SyntheticDicom s = synthetic("PA", 90);
    s.transfer_syntax = uid;
    files.push_back(make_dicom(s));
    m4cxr_image* im = nullptr;
    REQUIRE(load(files.back(), nullptr, &im) == M4CXR_OK);
    expected.push_back(m4cxr_image_hash(im));
    m4cxr_image_free(im);
  }
  for (size_t i = 1; i < expected.size(); ++i) CHECK(expected[i] == expected[0]);  // all lossless
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 12; ++k) {
        const size_t i = static_cast<size_t>(t + k) % files.size();
        m4cxr_image* im = nullptr;
        if (load(files[i], nullptr, &im) != M4CXR_OK || expected[i] != m4cxr_image_hash(im)) ++failures;
        m4cxr_image_free(im);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
}
