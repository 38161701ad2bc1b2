#include "dicom_writer.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageWriter.h>
#include <gdcmItem.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmJPEG2000Codec.h>
#include <gdcmJPEGCodec.h>
#include <gdcmJPEGLSCodec.h>
#include <gdcmTrace.h>
#include <zlib.h>

namespace m4cxr_test {

namespace {

void put(gdcm::DataSet& ds, uint16_t g, uint16_t e, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += (vr == gdcm::VR::UI) ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(vr);
  de.SetByteValue(value.data(), static_cast<uint32_t>(value.size()));
  ds.Replace(de);
}

gdcm::PhotometricInterpretation::PIType pi_type(const std::string& s) {
  if (s == "MONOCHROME1") return gdcm::PhotometricInterpretation::MONOCHROME1;
  if (s == "RGB") return gdcm::PhotometricInterpretation::RGB;
  return gdcm::PhotometricInterpretation::MONOCHROME2;
}

// Explicit VR little endian file -> the deflated syntax (PS3.5 §A.5): the file meta
// group stays as it is except for the transfer syntax UID; the data set after it is
// compressed with raw deflate.
std::vector<uint8_t> deflate_file(const std::vector<uint8_t>& in) {
  // Group 0002 is explicit VR LE; walk its elements after "DICM".
  size_t pos = 132;
  std::vector<uint8_t> meta;
  auto u16 = [&](size_t p) { return static_cast<uint32_t>(in.at(p) | (in.at(p + 1) << 8)); };
  auto u32 = [&](size_t p) { return u16(p) | (u16(p + 2) << 16); };
  while (pos + 8 <= in.size() && u16(pos) == 0x0002) {
    const uint32_t elem = u16(pos + 2);
    const std::string vr(reinterpret_cast<const char*>(&in[pos + 4]), 2);
    const bool long_form = vr == "OB" || vr == "OW" || vr == "UN" || vr == "SQ" || vr == "UT";
    const size_t header = long_form ? 12 : 8;
    const uint32_t len = long_form ? u32(pos + 8) : u16(pos + 6);
    if (elem == 0x0010) {
      std::string uid = ts::deflated;
      if (uid.size() % 2) uid += '\0';
      const uint8_t h[8] = {0x02, 0x00, 0x10, 0x00, 'U', 'I', static_cast<uint8_t>(uid.size()), 0};
      meta.insert(meta.end(), h, h + 8);
      meta.insert(meta.end(), uid.begin(), uid.end());
    } else if (elem != 0x0000) {
      meta.insert(meta.end(), in.begin() + pos, in.begin() + pos + header + len);
    }
    pos += header + len;
  }
  std::vector<uint8_t> out(in.begin(), in.begin() + 132);
  const uint32_t group_len = static_cast<uint32_t>(meta.size());
  const uint8_t gl[12] = {0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0, static_cast<uint8_t>(group_len & 0xff),
                          static_cast<uint8_t>((group_len >> 8) & 0xff), static_cast<uint8_t>((group_len >> 16) & 0xff),
                          static_cast<uint8_t>(group_len >> 24)};
  out.insert(out.end(), gl, gl + 12);
  out.insert(out.end(), meta.begin(), meta.end());
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::vector<uint8_t> body(compressBound(in.size() - pos) + 64);
  z.next_in = const_cast<uint8_t*>(in.data() + pos);
  z.avail_in = static_cast<uInt>(in.size() - pos);
  z.next_out = body.data();
  z.avail_out = static_cast<uInt>(body.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  body.resize(z.total_out);
  if (body.size() % 2) body.push_back(0);  // Part-10 files have even length
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace

SyntheticDicom gray_image(const char* uid, int bits, int width, int height, uint32_t seed) {
  SyntheticDicom s;
  s.width = width;
  s.height = height;
  s.bits_allocated = bits > 8 ? 16 : 8;
  s.bits_stored = bits;
  s.high_bit = bits - 1;
  s.values = synthetic_values(width, height, 0, (1 << bits) - 1, seed);
  s.transfer_syntax = uid;
  return s;
}

std::vector<int32_t> synthetic_values(int width, int height, int32_t lo, int32_t hi, uint32_t seed) {
  std::vector<int32_t> v(static_cast<size_t>(width) * height);
  uint32_t s = seed * 2654435761u + 1;
  const int64_t span = static_cast<int64_t>(hi) - lo;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      s = s * 1664525u + 1013904223u;
      const double g = (x + y) / static_cast<double>(width + height - 2);  // 0 .. 1
      const double noise = ((s >> 8) % 1000) / 1000.0 - 0.5;
      double t = g + 0.15 * noise;
      t = t < 0 ? 0 : (t > 1 ? 1 : t);
      v[static_cast<size_t>(y) * width + x] = static_cast<int32_t>(lo + static_cast<int64_t>(t * span + 0.5));
    }
  }
  v.front() = lo;
  v.back() = hi;
  return v;
}

std::vector<uint8_t> make_dicom(const SyntheticDicom& s) {
  gdcm::Trace::SetWarning(false);
  gdcm::Trace::SetDebug(false);
  const int samples = s.photometric == "RGB" ? 3 : 1;
  const size_t count = static_cast<size_t>(s.width) * s.height * s.frames * samples;
  if (s.values.size() != count) throw std::runtime_error("make_dicom: values has the wrong size");
  gdcm::ImageWriter w;
  gdcm::Image& im = w.GetImage();
  im.SetNumberOfDimensions(s.frames > 1 ? 3 : 2);
  im.SetDimension(0, s.width);
  im.SetDimension(1, s.height);
  if (s.frames > 1) im.SetDimension(2, s.frames);
  // GDCM's PixelFormat asserts HighBit < BitsStored: the file is written with
  // BitsStored - 1 and HighBit patched afterwards (explicit VR little endian only).
  im.SetPixelFormat(gdcm::PixelFormat(samples, s.bits_allocated, s.bits_stored, s.bits_stored - 1, s.is_signed ? 1 : 0));
  im.SetPhotometricInterpretation(pi_type(s.photometric));
  if (samples == 3) im.SetPlanarConfiguration(0);
  im.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  std::vector<char> raw(count * (s.bits_allocated / 8));
  const int shift = s.high_bit + 1 - s.bits_stored;
  const uint32_t mask = s.bits_stored >= 32 ? 0xffffffffu : ((1u << s.bits_stored) - 1u);
  for (size_t i = 0; i < count; ++i) {
    uint32_t w32 = (static_cast<uint32_t>(s.values[i]) & mask) << shift;
    const uint32_t outside = ~(mask << shift) & (s.bits_allocated == 8 ? 0xffu : 0xffffu);
    w32 |= s.garbage_high_bits & outside;
    if (s.bits_allocated == 8) {
      raw[i] = static_cast<char>(w32);
    } else {
      const uint16_t v = static_cast<uint16_t>(w32);
      std::memcpy(&raw[2 * i], &v, 2);
    }
  }
  if (!s.omit_pixel_data) {
    gdcm::DataElement px(gdcm::Tag(0x7fe0, 0x0010));
    px.SetVR(s.bits_allocated == 8 ? gdcm::VR::OB : gdcm::VR::OW);
    px.SetByteValue(raw.data(), static_cast<uint32_t>(raw.size()));
    im.SetDataElement(px);
  }
  gdcm::DataSet& ds = w.GetFile().GetDataSet();
  // multi-frame: written as multi-frame grayscale word secondary capture (GDCM's writer
  // replaces a multi-frame DX class), then patched to DX below (the UIDs have equal length)
  const char* sop_class = s.frames > 1 ? "1.2.840.10008.5.1.4.1.1.7.3"
                          : s.modality == "CR" ? "1.2.840.10008.5.1.4.1.1.1" : "1.2.840.10008.5.1.4.1.1.1.1";
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, s.sop_class.empty() ? sop_class : s.sop_class);
  put(ds, 0x0008, 0x0018, gdcm::VR::UI, s.sop_uid);
  put(ds, 0x0008, 0x0020, gdcm::VR::DA, s.study_date);
  put(ds, 0x0008, 0x0030, gdcm::VR::TM, s.study_time);
  if (!s.modality.empty()) put(ds, 0x0008, 0x0060, gdcm::VR::CS, s.modality);
  if (!s.series_description.empty()) put(ds, 0x0008, 0x103E, gdcm::VR::LO, s.series_description);
  put(ds, 0x0010, 0x0010, gdcm::VR::PN, "SYNTHETIC^IMAGE");
  put(ds, 0x0010, 0x0020, gdcm::VR::LO, s.patient_id);
  if (!s.view_position.empty()) put(ds, 0x0018, 0x5101, gdcm::VR::CS, s.view_position);
  put(ds, 0x0020, 0x000D, gdcm::VR::UI, s.study_uid);
  put(ds, 0x0020, 0x000E, gdcm::VR::UI, s.series_uid);
  put(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
  if (!s.window_center.empty()) put(ds, 0x0028, 0x1050, gdcm::VR::DS, s.window_center);
  if (!s.window_width.empty()) put(ds, 0x0028, 0x1051, gdcm::VR::DS, s.window_width);
  if (!s.voi_function.empty()) put(ds, 0x0028, 0x1056, gdcm::VR::CS, s.voi_function);
  if (!s.voi_lut.empty()) {
    gdcm::DataSet nested;
    gdcm::DataElement desc(gdcm::Tag(0x0028, 0x3002));
    desc.SetVR(gdcm::VR::US);
    const uint16_t d[3] = {static_cast<uint16_t>(s.voi_lut.size() == 65536 ? 0 : s.voi_lut.size()),
                           static_cast<uint16_t>(s.voi_lut_first), static_cast<uint16_t>(s.voi_lut_bits)};
    desc.SetByteValue(reinterpret_cast<const char*>(d), 6);
    nested.Insert(desc);
    gdcm::DataElement data(gdcm::Tag(0x0028, 0x3006));
    data.SetVR(gdcm::VR::OW);
    data.SetByteValue(reinterpret_cast<const char*>(s.voi_lut.data()), static_cast<uint32_t>(2 * s.voi_lut.size()));
    nested.Insert(data);
    gdcm::Item item;
    item.SetNestedDataSet(nested);
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
    sq->AddItem(item);
    gdcm::DataElement seq(gdcm::Tag(0x0028, 0x3010));
    seq.SetVR(gdcm::VR::SQ);
    seq.SetValue(*sq);
    seq.SetVLToUndefined();
    ds.Replace(seq);
  }
  if (!s.intercept.empty()) {
    put(ds, 0x0028, 0x1052, gdcm::VR::DS, s.intercept);
  }
  if (!s.slope.empty()) {
    put(ds, 0x0028, 0x1053, gdcm::VR::DS, s.slope);
  }

  const std::string target = s.transfer_syntax;
  const bool deflate = target == ts::deflated;
  if (target != ts::explicit_le && !deflate && !s.omit_pixel_data) {
    gdcm::ImageChangeTransferSyntax change;
    gdcm::TransferSyntax t = gdcm::TransferSyntax::GetTSType(target.c_str());
    change.SetTransferSyntax(t);
    change.SetInput(im);
    gdcm::JPEGCodec jpeg;
    gdcm::JPEGLSCodec jpegls;
    gdcm::JPEG2000Codec j2k;
    if (target == ts::jpeg_baseline || target == ts::jpeg_extended) {
      jpeg.SetLossless(false);
      jpeg.SetQuality(95);
      change.SetUserCodec(&jpeg);
    } else if (target == ts::jpegls_near) {
      jpegls.SetLossless(false);
      jpegls.SetLossyError(2);
      change.SetUserCodec(&jpegls);
    } else if (target == ts::j2k) {
      j2k.SetRate(0, 3);  // 3:1, lossy
      change.SetUserCodec(&j2k);
    }
    if (!change.Change()) throw std::runtime_error("GDCM cannot encode " + target);
    w.SetImage(change.GetOutput());
  } else if (target != ts::explicit_le && !deflate) {
    w.GetFile().GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::GetTSType(target.c_str()));
    im.SetTransferSyntax(gdcm::TransferSyntax::GetTSType(target.c_str()));
  }
  std::ostringstream os;
  w.SetStream(os);
  if (!w.Write()) throw std::runtime_error("GDCM cannot write the file");
  const std::string str = os.str();
  std::vector<uint8_t> bytes(str.begin(), str.end());
  if (s.frames > 1 && s.sop_class.empty()) {
    const std::string from = "1.2.840.10008.5.1.4.1.1.7.3", to = "1.2.840.10008.5.1.4.1.1.1.1";
    for (size_t i = 0; i + from.size() <= bytes.size(); ++i)
      if (std::memcmp(&bytes[i], from.data(), from.size()) == 0) std::memcpy(&bytes[i], to.data(), to.size());
  }
  if (s.high_bit != s.bits_stored - 1) {
    if (target != ts::explicit_le) throw std::runtime_error("make_dicom: HighBit patch needs explicit VR LE");
    const uint8_t tag[8] = {0x28, 0x00, 0x02, 0x01, 'U', 'S', 2, 0};
    bool patched = false;
    for (size_t i = 132; i + 10 <= bytes.size() && !patched; ++i) {
      if (std::memcmp(&bytes[i], tag, 8) == 0) {
        bytes[i + 8] = static_cast<uint8_t>(s.high_bit);
        bytes[i + 9] = 0;
        patched = true;
      }
    }
    if (!patched) throw std::runtime_error("make_dicom: HighBit not found");
  }
  return deflate ? deflate_file(bytes) : bytes;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace m4cxr_test
