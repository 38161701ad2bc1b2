// C ABI: DICOM input (issue 13). m4cxr_image_from_dicom_file/_memory read a Part-10
// object through src/dicom and prepare it as any image; the image keeps the DICOM
// identifiers (m4cxr_image_get_dicom_field) and hands them, with the conversion applied,
// to the results that use it (PreparedImage::source_json -> m4cxr_result_json).
#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "api_internal.h"
#include "dicom/dicom_reader.h"
#include "dicom/study.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

constexpr size_t kDicomOptionsV1Size = sizeof(m4cxr_dicom_options);
constexpr int kDicomFieldCount = M4CXR_DICOM_CONVERSION + 1;

DicomOptions to_options(const m4cxr_dicom_options* in) {
  m4cxr_dicom_options o;
  m4cxr_dicom_options_init(&o, sizeof o);
  if (in != nullptr) read_struct(in, kDicomOptionsV1Size, &o, "m4cxr_dicom_options");
  DicomOptions d;
  switch (enum_value(o.conversion)) {
    case M4CXR_DICOM_MIMIC_JPG: d.conversion = DicomConversion::mimic_jpg; break;
    case M4CXR_DICOM_VOI: d.conversion = DicomConversion::voi; break;
    case M4CXR_DICOM_MIN_MAX: d.conversion = DicomConversion::min_max; break;
    default: fail(Status::invalid_argument, "unknown DICOM conversion " + std::to_string(enum_value(o.conversion)));
  }
  d.allow_multiframe = o.allow_multiframe != 0;
  d.allow_any_modality = o.allow_any_modality != 0;
  d.allow_color = o.allow_color != 0;
  return d;
}

nlohmann::ordered_json identity_json(const DicomIdentity& id) {
  return {{"study_instance_uid", id.study_instance_uid}, {"series_instance_uid", id.series_instance_uid},
          {"sop_instance_uid", id.sop_instance_uid},     {"patient_id", id.patient_id},
          {"study_date", id.study_date},                 {"study_time", id.study_time},
          {"modality", id.modality},                     {"view_position", id.view_position},
          {"view", view_class_name(id.view)},            {"view_source", id.view_source},
          {"sop_class_uid", id.sop_class_uid}};
}

// Patient and study attributes for a DICOM SR of the study (m4cxr_result_to_dicom_sr);
// kept in the image's source record only, never in the result JSON.
nlohmann::ordered_json patient_study_json(const DicomIdentity& id) {
  return {{"patient_name", id.patient_name},         {"patient_birth_date", id.patient_birth_date},
          {"patient_sex", id.patient_sex},           {"accession_number", id.accession_number},
          {"study_id", id.study_id},                 {"referring_physician_name", id.referring_physician_name}};
}

nlohmann::ordered_json record_json(const DicomConversionRecord& r) {
  nlohmann::ordered_json j{{"transfer_syntax_uid", r.transfer_syntax_uid},
                           {"transfer_syntax", r.transfer_syntax_name},
                           {"lossy_compression", r.lossy_compression},
                           {"photometric_interpretation", r.photometric},
                           {"bits_allocated", r.bits_allocated},
                           {"bits_stored", r.bits_stored},
                           {"high_bit", r.high_bit},
                           {"signed", r.signed_pixels},
                           {"frames", r.frames},
                           {"conversion", r.conversion}};
  if (r.conversion != "color") {
    j["rescale_slope"] = r.rescale_slope;
    j["rescale_intercept"] = r.rescale_intercept;
    j["value_min"] = r.value_min;
    j["value_max"] = r.value_max;
    j["inverted"] = r.inverted;
    j["histogram_equalized"] = r.equalized;
  }
  if (r.conversion == "voi") {
    j["window_center"] = r.window_center;
    j["window_width"] = r.window_width;
    j["voi_lut_function"] = r.voi_function;
  }
  return j;
}

m4cxr_status finish_dicom(const ModelObject& model, const DicomImage& d, m4cxr_image** out) {
  auto im = std::make_shared<ImageObject>();
  const nlohmann::ordered_json source{{"identity", identity_json(d.identity)},
                                      {"conversion", record_json(d.record)},
                                      {"patient_study", patient_study_json(d.identity)}};
  im->image = prepare_image(d.rgb, model.model->preprocess_config(), source.dump());
  const DicomIdentity& id = d.identity;
  im->dicom_fields = {id.study_instance_uid, id.series_instance_uid, id.sop_instance_uid, id.patient_id,
                      id.view_position,      view_class_name(id.view), id.study_date,      id.study_time,
                      id.modality,           d.record.transfer_syntax_uid, d.record.conversion};
  im->dicom = std::make_shared<DicomIdentity>(id);
  *out = new_handle<m4cxr_image>(std::move(im));
  return M4CXR_OK;
}

}  // namespace

extern "C" {

m4cxr_status m4cxr_dicom_options_init(m4cxr_dicom_options* o, size_t struct_size) {
  return guarded([&]() -> m4cxr_status {
    m4cxr_dicom_options d;
    std::memset(static_cast<void*>(&d), 0, sizeof d);
    d.conversion = M4CXR_DICOM_MIMIC_JPG;
    return init_struct(o, struct_size, kDicomOptionsV1Size, d);
  });
}

m4cxr_status m4cxr_image_from_dicom_file(const m4cxr_model* model, const char* path, const m4cxr_dicom_options* options,
                                         m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    if (path == nullptr || *path == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "path is empty");
    const DicomOptions o = to_options(options);
    return finish_dicom(*m, read_dicom_file(path, o, m->limits), out);
  });
}

m4cxr_status m4cxr_image_from_dicom_memory(const m4cxr_model* model, const void* data, size_t size,
                                           const m4cxr_dicom_options* options, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    if (data == nullptr || size == 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "DICOM buffer is empty");
    const DicomOptions o = to_options(options);
    return finish_dicom(*m, read_dicom_memory(static_cast<const uint8_t*>(data), size, o, m->limits), out);
  });
}

int m4cxr_image_is_dicom(const m4cxr_image* image) {
  return guarded_value<int>(0, [&] { return require<ImageObject>(image)->dicom ? 1 : 0; });
}

m4cxr_status m4cxr_image_get_dicom_field(const m4cxr_image* image, m4cxr_dicom_field field, const char** value) {
  return guarded([&]() -> m4cxr_status {
    if (value == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "value is NULL");
    *value = nullptr;
    auto im = require<ImageObject>(image);
    const int f = enum_value(field);
    if (f < 0 || f >= kDicomFieldCount) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown DICOM field " + std::to_string(f));
    if (im->dicom_fields.empty()) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "the image was not read from DICOM");
    *value = im->dicom_fields[static_cast<size_t>(f)].c_str();  // the image keeps the object alive
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_dicom_order_study(const m4cxr_image* const* images, size_t n, const m4cxr_image* const* prior,
                                     size_t n_prior, size_t* order, size_t* prior_order) {
  return guarded([&]() -> m4cxr_status {
    if (images == nullptr || n == 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "no images");
    if (order == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "order is NULL");
    if (n_prior > 0 && (prior == nullptr || prior_order == nullptr))
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "prior or prior_order is NULL");
    auto identities = [](const m4cxr_image* const* list, size_t count, const char* what) {
      std::vector<DicomIdentity> ids;
      for (size_t i = 0; i < count; ++i) {
        if (list[i] == nullptr) fail(Status::invalid_argument, std::string(what) + " image " + std::to_string(i) + " is NULL");
        auto im = require<ImageObject>(list[i]);
        if (!im->dicom) fail(Status::invalid_argument, std::string(what) + " image " + std::to_string(i) + " was not read from DICOM");
        ids.push_back(*im->dicom);
      }
      return ids;
    };
    const std::vector<DicomIdentity> current = identities(images, n, "current");
    check_one_study(current, "the current study");
    std::vector<DicomIdentity> before;
    if (n_prior > 0) {
      before = identities(prior, n_prior, "prior");
      check_prior_study(before, current);
    }
    const std::vector<size_t> a = order_views(current);
    const std::vector<size_t> b = order_views(before);
    std::copy(a.begin(), a.end(), order);
    if (n_prior > 0) std::copy(b.begin(), b.end(), prior_order);
    return M4CXR_OK;
  });
}

}  // extern "C"
