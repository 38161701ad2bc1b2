#include "dicom/dicom_reader.h"

#include <algorithm>
#include <cstring>
#include <istream>
#include <mutex>
#include <new>
#include <streambuf>
#include <vector>

#include <gdcmByteValue.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>

#include "common/error.h"
#include "dicom/codec_headers.h"
#include "dicom/dataset_values.h"
#include "dicom/gray_conversion.h"
#include "dicom/j2k_decoder.h"
#include "dicom/part10_structure.h"
#include "dicom/stored_pixels.h"
#include "dicom/transfer_syntax.h"
#include "dicom/view_class.h"
#include "io/mapped_file.h"

namespace m4cxr {

namespace {

using dicom_detail::first_item_string;
using dicom_detail::get_number;
using dicom_detail::get_string;
using dicom_detail::get_us;

// A read-only, seekable istream over caller memory (GDCM seeks while parsing).
class MemoryBuf : public std::streambuf {
 public:
  MemoryBuf(const uint8_t* data, size_t size) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(data));
    setg(p, p, p + size);
  }

 protected:
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
    if (!(which & std::ios_base::in)) return pos_type(off_type(-1));
    off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback() : egptr() - eback();
    const off_type target = base + off;
    if (target < 0 || target > egptr() - eback()) return pos_type(off_type(-1));
    setg(eback(), eback() + target, egptr());
    return pos_type(target);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
    return seekoff(off_type(pos), std::ios_base::beg, which);
  }
};

void quiet_gdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
  });
}

bool is_radiograph(const std::string& modality) { return modality == "CR" || modality == "DX" || modality == "RG"; }

// SOP classes read (PS3.4 B.5): CR, DX for presentation / processing, and (single-frame)
// secondary capture. Others are refused even with allow_any_modality: for volume and
// multi-frame classes (CT, MR, tomosynthesis, enhanced, multi-frame secondary capture ...)
// GDCM computes a 3-D geometry and asserts (aborts) on malformed position/orientation
// attributes (found by fuzz_dicom).
bool is_accepted_sop_class(const std::string& uid) {
  static const char* const kAccepted[] = {"1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1",
                                          "1.2.840.10008.5.1.4.1.1.1.1.1", "1.2.840.10008.5.1.4.1.1.7"};
  for (const char* a : kAccepted)
    if (uid == a) return true;
  return false;
}

DicomIdentity read_identity(const gdcm::DataSet& ds) {
  DicomIdentity id;
  id.study_instance_uid = get_string(ds, 0x0020, 0x000D);
  id.series_instance_uid = get_string(ds, 0x0020, 0x000E);
  id.sop_instance_uid = get_string(ds, 0x0008, 0x0018);
  id.patient_id = get_string(ds, 0x0010, 0x0020);
  id.study_date = get_string(ds, 0x0008, 0x0020);
  id.study_time = get_string(ds, 0x0008, 0x0030);
  id.modality = get_string(ds, 0x0008, 0x0060);
  id.view_position = get_string(ds, 0x0018, 0x5101);
  id.instance_number = get_string(ds, 0x0020, 0x0013);
  id.patient_name = get_string(ds, 0x0010, 0x0010);
  id.patient_birth_date = get_string(ds, 0x0010, 0x0030);
  id.patient_sex = get_string(ds, 0x0010, 0x0040);
  id.accession_number = get_string(ds, 0x0008, 0x0050);
  id.study_id = get_string(ds, 0x0020, 0x0010);
  id.referring_physician_name = get_string(ds, 0x0008, 0x0090);
  ViewTags t;
  t.view_position = id.view_position;
  t.view_code_meaning = first_item_string(ds, 0x0054, 0x0220, 0x0008, 0x0104);
  t.series_description = get_string(ds, 0x0008, 0x103E);
  t.protocol_name = get_string(ds, 0x0018, 0x1030);
  t.acquisition_description = get_string(ds, 0x0018, 0x1400);
  resolve_view(t, id);
  return id;
}

int required_us(const gdcm::DataSet& ds, uint16_t g, uint16_t e, const char* name) {
  auto v = get_us(ds, g, e, name);
  if (!v) fail(Status::format_error, std::string("DICOM image has no ") + name + " attribute");
  return *v;
}

// What phase 1 learned from the attributes, for phase 2.
struct Checked {
  DicomImage out;
  PixelLayout layout;
  int samples = 1;
  int64_t frames = 1;
  bool rgb = false;
};

// Phase 1, on a plain parse (gdcm::Reader, which interprets no pixel attributes): every
// attribute the image is built from is validated here, because Debian's GDCM is built
// with assertions that abort the process on some inconsistent values (e.g. HighBit >=
// BitsStored) once gdcm::ImageReader interprets them.
Checked check_attributes(const gdcm::File& file, const DicomOptions& options, const DecodeLimits& limits) {
  const gdcm::DataSet& ds = file.GetDataSet();
  Checked checked;
  DicomImage& out = checked.out;
  DicomConversionRecord& rec = out.record;
  const std::string ts_uid = get_string(file.GetHeader(), 0x0002, 0x0010);
  if (ts_uid.empty()) fail(Status::format_error, "DICOM file meta information has no Transfer Syntax UID (0002,0010)");
  const TransferSyntaxInfo& ts = require_accepted_transfer_syntax(ts_uid);
  rec.transfer_syntax_uid = ts.uid;
  rec.transfer_syntax_name = ts.name;
  rec.lossy_compression = ts.lossy;
  out.identity = read_identity(ds);
  // GDCM asserts (aborting the process) when a data set it reads as an image carries the
  // retired ACR-NEMA Recognition Code (0008,0010) with a value not starting "ACR-NEMA",
  // "ACRNEMA" or "MIPS 2.0" (found by fuzz_dicom).
  const gdcm::Tag recognition_code(0x0008, 0x0010);
  if (ds.FindDataElement(recognition_code)) {
    const gdcm::ByteValue* bv = ds.GetDataElement(recognition_code).GetByteValue();
    const std::string code = bv != nullptr && bv->GetPointer() != nullptr
                                 ? std::string(bv->GetPointer(), std::min<size_t>(bv->GetLength(), 16))
                                 : std::string();
    bool acr_nema = false;
    for (const char* prefix : {"ACR-NEMA", "ACRNEMA", "MIPS 2.0"}) acr_nema = acr_nema || code.rfind(prefix, 0) == 0;
    if (!acr_nema)
      fail(Status::format_error, "DICOM Recognition Code (0008,0010), a retired ACR-NEMA attribute, has a value no reader expects");
  }
  const std::string sop_class = get_string(ds, 0x0008, 0x0016), media_class = get_string(file.GetHeader(), 0x0002, 0x0002);
  if (sop_class.empty() && media_class.empty()) fail(Status::format_error, "DICOM object has no SOP Class UID");
  out.identity.sop_class_uid = sop_class.empty() ? media_class : sop_class;
  for (const std::string* c : {&sop_class, &media_class}) {
    if (!c->empty() && !is_accepted_sop_class(*c)) {
      fail(Status::unsupported, "DICOM SOP Class " + *c +
                                    " is not supported (CR, DX and secondary capture images are read)");
    }
  }

  if (!ds.FindDataElement(gdcm::Tag(0x7FE0, 0x0010)) || ds.GetDataElement(gdcm::Tag(0x7FE0, 0x0010)).IsEmpty()) {
    fail(Status::unsupported, "DICOM object has no pixel data (7FE0,0010): not an image");
  }
  if (!options.allow_any_modality && !is_radiograph(out.identity.modality)) {
    fail(Status::unsupported, "DICOM Modality '" + out.identity.modality +
                                  "' is not a radiograph (CR, DX, RG); allow_any_modality overrides");
  }
  const std::string photometric = get_string(ds, 0x0028, 0x0004);
  const int samples = required_us(ds, 0x0028, 0x0002, "SamplesPerPixel");
  const bool mono = photometric == "MONOCHROME1" || photometric == "MONOCHROME2";
  const bool rgb = photometric == "RGB";
  if (!mono && !(rgb && options.allow_color)) {
    fail(Status::unsupported, "DICOM PhotometricInterpretation '" + photometric +
                                  "' is not supported: grayscale (MONOCHROME1/2) radiographs only" +
                                  (rgb ? "; allow_color accepts 8-bit RGB" : ""));
  }
  if (samples != (mono ? 1 : 3)) {
    fail(Status::format_error, "DICOM SamplesPerPixel " + std::to_string(samples) + " does not match " + photometric);
  }
  rec.photometric = photometric;
  if (auto pc = get_us(ds, 0x0028, 0x0006, "PlanarConfiguration"); pc && *pc != 0 && *pc != 1) {
    fail(Status::format_error, "DICOM PlanarConfiguration is " + std::to_string(*pc) + ", not 0 or 1");  // GDCM asserts on it
  }
  const int rows = required_us(ds, 0x0028, 0x0010, "Rows");
  const int cols = required_us(ds, 0x0028, 0x0011, "Columns");
  check_image_dimensions(cols, rows, limits, "DICOM image", DimensionSource::file_header);
  int64_t frames = 1;
  if (auto nf = get_number(ds, 0x0028, 0x0008, "NumberOfFrames")) {
    if (*nf < 1 || *nf != static_cast<double>(static_cast<int64_t>(*nf)) || *nf > 1e9) {
      fail(Status::format_error, "DICOM NumberOfFrames is not a positive integer");
    }
    frames = static_cast<int64_t>(*nf);
  }
  if (frames > 1 && !options.allow_multiframe) {
    fail(Status::unsupported, "DICOM object has " + std::to_string(frames) +
                                  " frames; radiographs have one (allow_multiframe uses the first)");
  }
  rec.frames = static_cast<int>(frames);
  if (frames * rows * static_cast<int64_t>(cols) > limits.max_pixels) {
    fail(Status::limit_exceeded, "DICOM object has " + std::to_string(frames) + " frames of " + std::to_string(cols) + "x" +
                                     std::to_string(rows) + " pixels, more than the limit of " +
                                     std::to_string(limits.max_pixels) + " pixels in all");
  }
  PixelLayout layout;
  layout.width = cols;
  layout.height = rows;
  layout.bits_allocated = required_us(ds, 0x0028, 0x0100, "BitsAllocated");
  layout.bits_stored = required_us(ds, 0x0028, 0x0101, "BitsStored");
  layout.high_bit = required_us(ds, 0x0028, 0x0102, "HighBit");
  const int representation = required_us(ds, 0x0028, 0x0103, "PixelRepresentation");
  if (representation != 0 && representation != 1) fail(Status::format_error, "DICOM PixelRepresentation is neither 0 nor 1");
  layout.is_signed = representation == 1;
  validate_pixel_layout(layout);
  if (layout.high_bit != layout.bits_stored - 1) {
    fail(Status::unsupported, "DICOM HighBit " + std::to_string(layout.high_bit) + " with BitsStored " +
                                  std::to_string(layout.bits_stored) +
                                  ": only HighBit = BitsStored - 1 is supported (the GDCM decoder's limit)");
  }
  if (rgb && (layout.bits_allocated != 8 || layout.bits_stored != 8)) {
    fail(Status::unsupported, "DICOM RGB pixel data with " + std::to_string(layout.bits_stored) + " bits: only 8-bit RGB is accepted");
  }
  rec.bits_allocated = layout.bits_allocated;
  rec.bits_stored = layout.bits_stored;
  rec.high_bit = layout.high_bit;
  rec.signed_pixels = layout.is_signed;
  checked.layout = layout;
  checked.samples = samples;
  checked.frames = frames;
  checked.rgb = rgb;
  return checked;
}

// The compressed frames' headers must agree with the checked attributes (codec_headers.h).
void check_frames(const Part10Summary& structure, const uint8_t* data, const Checked& c) {
  const std::string& uid = c.out.record.transfer_syntax_uid;
  const bool compressed = uid.rfind("1.2.840.10008.1.2.4.", 0) == 0 || uid == "1.2.840.10008.1.2.5";
  if (compressed != structure.encapsulated) {
    fail(Status::format_error, compressed ? "DICOM pixel data of a compressed transfer syntax is not encapsulated"
                                          : "DICOM pixel data is encapsulated in an uncompressed transfer syntax");
  }
  if (!compressed) return;
  FrameExpectation e;
  e.width = c.layout.width;
  e.height = c.layout.height;
  e.samples = c.samples;
  e.bits_allocated = c.layout.bits_allocated;
  e.bits_stored = c.layout.bits_stored;
  const auto& f = structure.fragments;
  if (f.empty()) fail(Status::format_error, "DICOM encapsulated pixel data has no fragment");
  if (c.frames == 1) {
    check_codec_header(uid, data + f[0].first, f[0].second, e);
    return check_codec_end(uid, data + f.back().first, f.back().second);  // one frame, maybe in several fragments
  }
  if (f.size() != static_cast<size_t>(c.frames)) {
    fail(Status::unsupported, "DICOM multi-frame pixel data with " + std::to_string(f.size()) + " fragments for " +
                                  std::to_string(c.frames) + " frames (one fragment per frame is supported)");
  }
  for (const auto& frag : f) {
    check_codec_header(uid, data + frag.first, frag.second, e);
    check_codec_end(uid, data + frag.first, frag.second);
  }
}

// The stored values of a grayscale frame -> out.rgb, with the conversion `options` asks for
// and the rescale / VOI attributes of `ds`.
void to_gray(DicomImage& out, const gdcm::DataSet& ds, const PixelLayout& layout, const std::vector<int32_t>& stored,
             const DicomOptions& options) {
  GrayConversionInput in;
  in.rescale_slope = get_number(ds, 0x0028, 0x1053, "RescaleSlope").value_or(1.0);
  in.rescale_intercept = get_number(ds, 0x0028, 0x1052, "RescaleIntercept").value_or(0.0);
  in.monochrome1 = out.record.photometric == "MONOCHROME1";
  if (options.conversion == DicomConversion::voi) {
    const auto descriptor = dicom_detail::first_item_bytes(ds, 0x0028, 0x3010, 0x0028, 0x3002);
    const auto lut_data = dicom_detail::first_item_bytes(ds, 0x0028, 0x3010, 0x0028, 0x3006);
    if (descriptor && lut_data) {
      in.has_lut = true;
      // The first mapped value is read as signed when the LUT's input (the modality values)
      // can be negative: signed pixels, or a rescale that makes negatives.
      const bool signed_input = layout.is_signed || in.rescale_intercept < 0 || in.rescale_slope < 0;
      in.lut = parse_voi_lut(*descriptor, *lut_data, signed_input);
    }
    auto c = get_number(ds, 0x0028, 0x1050, "WindowCenter");
    auto w = get_number(ds, 0x0028, 0x1051, "WindowWidth");
    if (c && w) {
      in.has_window = true;
      in.window_center = *c;
      in.window_width = *w;
      in.voi_function = get_string(ds, 0x0028, 0x1056);
    }
  }
  const std::vector<uint8_t> gray = convert_to_gray8(stored, in, options.conversion, out.record);
  out.rgb.width = layout.width;
  out.rgb.height = layout.height;
  out.rgb.source_depth = layout.bits_stored > 8 ? SourceDepth::bits16 : SourceDepth::bits8;
  out.rgb.pixels.resize(gray.size() * 3);
  for (size_t i = 0; i < gray.size(); ++i) out.rgb.pixels[3 * i] = out.rgb.pixels[3 * i + 1] = out.rgb.pixels[3 * i + 2] = gray[i];
}

// JPEG 2000 frames go to OpenJPEG directly (j2k_decoder.h), never through gdcm::ImageReader.
DicomImage decode_j2k(const gdcm::DataSet& ds, const Part10Summary& structure, const uint8_t* data, Checked checked,
                      const DicomOptions& options) {
  DicomImage out = std::move(checked.out);
  if (checked.rgb) fail(Status::unsupported, "DICOM RGB pixel data in JPEG 2000 is not supported");
  std::vector<uint8_t> codestream;
  const auto& f = structure.fragments;
  if (checked.frames == 1) {
    for (const auto& frag : f) codestream.insert(codestream.end(), data + frag.first, data + frag.first + frag.second);
  } else {
    codestream.assign(data + f[0].first, data + f[0].first + f[0].second);  // one fragment per frame (checked)
  }
  const std::vector<int32_t> stored = decode_j2k_frame(codestream.data(), codestream.size(), checked.layout);
  to_gray(out, ds, checked.layout, stored, options);
  return out;
}

// Phase 2: GDCM decodes the pixel data of the checked object.
DicomImage decode(gdcm::ImageReader& reader, Checked checked, const DicomOptions& options) {
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  DicomImage out = std::move(checked.out);
  DicomConversionRecord& rec = out.record;
  const PixelLayout& layout = checked.layout;
  const int samples = checked.samples, rows = layout.height, cols = layout.width;
  const int64_t frames = checked.frames;
  const bool rgb = checked.rgb;
  const std::string photometric = rec.photometric;
  const TransferSyntaxInfo& ts = *find_accepted_transfer_syntax(rec.transfer_syntax_uid);

  // GDCM's view of the same image must agree with the attributes checked above before
  // its buffer is sized from it.
  const gdcm::Image& image = reader.GetImage();
  const gdcm::PixelFormat& pf = image.GetPixelFormat();
  if (image.GetColumns() != static_cast<unsigned>(cols) || image.GetRows() != static_cast<unsigned>(rows) ||
      pf.GetBitsAllocated() != layout.bits_allocated || pf.GetSamplesPerPixel() != samples) {
    fail(Status::format_error, "DICOM pixel description is inconsistent (Rows/Columns/BitsAllocated/SamplesPerPixel)");
  }
  const uint64_t frame_bytes = static_cast<uint64_t>(rows) * cols * samples * (layout.bits_allocated / 8);
  const unsigned long length = image.GetBufferLength();
  if (length < frame_bytes || length / frame_bytes < static_cast<uint64_t>(frames) ||
      length > frame_bytes * static_cast<uint64_t>(frames) + 64) {
    fail(Status::format_error, "DICOM pixel buffer size does not match the image attributes");
  }
  // Uncompressed: GDCM copies the whole buffer from the Pixel Data value, which must be
  // long enough for every frame (a short one made it read past the value; fuzz_dicom).
  const bool encapsulated = rec.transfer_syntax_uid.rfind("1.2.840.10008.1.2.4.", 0) == 0 ||
                            rec.transfer_syntax_uid == "1.2.840.10008.1.2.5";
  if (!encapsulated) {
    const gdcm::ByteValue* bv = ds.GetDataElement(gdcm::Tag(0x7FE0, 0x0010)).GetByteValue();
    const uint64_t needed = frame_bytes * static_cast<uint64_t>(frames);
    if (bv == nullptr || bv->GetLength() < needed || bv->GetLength() < length) {
      fail(Status::format_error, "DICOM pixel data holds " + std::to_string(bv ? static_cast<uint64_t>(bv->GetLength()) : uint64_t{0}) +
                                     " bytes, fewer than the " + std::to_string(needed) + " its attributes describe");
    }
  }
  std::vector<char> buffer(length);
  if (!image.GetBuffer(buffer.data())) {
    fail(Status::format_error, std::string("DICOM pixel data could not be decoded (") + ts.name + "): corrupt or truncated");
  }
  const auto* px = reinterpret_cast<const uint8_t*>(buffer.data());

  if (rgb) {
    const unsigned planar = image.GetPlanarConfiguration();
    RgbImage& o = out.rgb;
    o.width = cols;
    o.height = rows;
    o.pixels.resize(static_cast<size_t>(frame_bytes));
    const size_t n = static_cast<size_t>(rows) * cols;
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) o.pixels[3 * i + c] = planar ? px[c * n + i] : px[3 * i + c];
    rec.conversion = "color";
    return out;
  }
  const std::vector<int32_t> stored = extract_stored_values(px, buffer.size(), layout);
  buffer = std::vector<char>();
  to_gray(out, ds, layout, stored, options);
  return out;
}

}  // namespace

bool looks_like_dicom(const uint8_t* data, size_t size) noexcept {
  return data != nullptr && size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0;
}

DicomImage read_dicom_memory(const uint8_t* data, size_t size, const DicomOptions& options, const DecodeLimits& limits) {
  if (size == 0) fail(Status::format_error, "DICOM data is empty");
  if (data == nullptr) fail(Status::invalid_argument, "DICOM data pointer is null");
  if (size > limits.max_file_bytes) {
    fail(Status::limit_exceeded, "DICOM data is " + std::to_string(size) + " bytes, more than the limit of " +
                                     std::to_string(limits.max_file_bytes));
  }
  if (!looks_like_dicom(data, size)) {
    fail(Status::format_error, "not a DICOM Part-10 file (no \"DICM\" after the 128-byte preamble)");
  }
  const Part10Summary structure = check_part10_structure(data, size, limits.max_file_bytes);
  if (structure.transfer_syntax_uid.empty()) {
    fail(Status::format_error, "DICOM file meta information has no Transfer Syntax UID (0002,0010)");
  }
  require_accepted_transfer_syntax(structure.transfer_syntax_uid);
  quiet_gdcm();
  try {
    Checked checked;
    MemoryBuf plain_buf(data, size);
    std::istream plain_stream(&plain_buf);
    gdcm::Reader plain;
    plain.SetStream(plain_stream);
    if (!plain.Read()) {
      const std::string ts_uid = get_string(plain.GetFile().GetHeader(), 0x0002, 0x0010);
      if (!ts_uid.empty()) require_accepted_transfer_syntax(ts_uid);
      fail(Status::format_error, "DICOM data could not be parsed (truncated or corrupt)");
    }
    checked = check_attributes(plain.GetFile(), options, limits);
    check_frames(structure, data, checked);
    const std::string& uid = checked.out.record.transfer_syntax_uid;
    if (uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91") {
      return decode_j2k(plain.GetFile().GetDataSet(), structure, data, std::move(checked), options);
    }
    MemoryBuf buf(data, size);
    std::istream stream(&buf);
    gdcm::ImageReader reader;
    reader.SetStream(stream);
    if (!reader.Read()) fail(Status::format_error, "DICOM image could not be parsed (truncated or corrupt)");
    return decode(reader, std::move(checked), options);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    fail(Status::out_of_memory, "out of memory while reading a DICOM image");
  } catch (const std::exception& e) {
    fail(Status::format_error, std::string("DICOM data could not be parsed: ") + e.what());
  }
}

DicomImage read_dicom_file(const std::string& path, const DicomOptions& options, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, limits.max_file_bytes);
  try {
    return read_dicom_memory(bytes.data(), bytes.size(), options, limits);
  } catch (const Error& e) {
    throw Error(e.status(), "'" + path + "': " + e.what());
  }
}

}  // namespace m4cxr
