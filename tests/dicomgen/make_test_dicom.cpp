// make_test_dicom OUT.dcm [key=value ...]: writes one synthetic DICOM file (see
// dicom_writer.h) for the Python, CLI and fuzz-seed tests. Keys: width height frames
// bits_allocated bits_stored high_bit signed photometric modality view patient study_uid
// series_uid sop_uid study_date ts lo hi seed slope intercept center width
// series_description no_pixels. Exit 1 with a message on error.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "dicom_writer.h"

int main(int argc, char** argv) {
  // An option where the output path goes (--help) is a usage error, not a file name.
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: make_test_dicom OUT.dcm [key=value ...]\n");
    return 2;
  }
  try {
    m4cxr_test::SyntheticDicom s;
    int lo = 0, hi = 4095;
    unsigned seed = 1;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      const size_t eq = a.find('=');
      if (eq == std::string::npos) throw std::runtime_error("expected key=value: " + a);
      const std::string k = a.substr(0, eq), v = a.substr(eq + 1);
      if (k == "width") s.width = std::stoi(v);
      else if (k == "height") s.height = std::stoi(v);
      else if (k == "frames") s.frames = std::stoi(v);
      else if (k == "bits_allocated") s.bits_allocated = std::stoi(v);
      else if (k == "bits_stored") s.bits_stored = std::stoi(v);
      else if (k == "high_bit") s.high_bit = std::stoi(v);
      else if (k == "signed") s.is_signed = v == "1";
      else if (k == "photometric") s.photometric = v;
      else if (k == "modality") s.modality = v;
      else if (k == "view") s.view_position = v;
      else if (k == "patient") s.patient_id = v;
      else if (k == "study_uid") s.study_uid = v;
      else if (k == "series_uid") s.series_uid = v;
      else if (k == "sop_uid") s.sop_uid = v;
      else if (k == "study_date") s.study_date = v;
      else if (k == "ts") s.transfer_syntax = v;
      else if (k == "lo") lo = std::stoi(v);
      else if (k == "hi") hi = std::stoi(v);
      else if (k == "seed") seed = static_cast<unsigned>(std::stoul(v));
      else if (k == "slope") s.slope = v;
      else if (k == "intercept") s.intercept = v;
      else if (k == "center") s.window_center = v;
      else if (k == "width_window") s.window_width = v;
      else if (k == "series_description") s.series_description = v;
      else if (k == "no_pixels") s.omit_pixel_data = v == "1";
      else throw std::runtime_error("unknown key " + k);
    }
    const int samples = s.photometric == "RGB" ? 3 : 1;
    s.values.clear();
    for (int f = 0; f < s.frames * samples; ++f) {
      auto v = m4cxr_test::synthetic_values(s.width, s.height, lo, hi, seed + f);
      s.values.insert(s.values.end(), v.begin(), v.end());
    }
    if (samples == 3) {  // interleave the three planes
      std::vector<int32_t> il(s.values.size());
      const size_t n = static_cast<size_t>(s.width) * s.height;
      for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) il[3 * i + c] = s.values[c * n + i];
      s.values = il;
    }
    m4cxr_test::write_file(argv[1], m4cxr_test::make_dicom(s));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_test_dicom: %s\n", e.what());
    return 1;
  }
}
