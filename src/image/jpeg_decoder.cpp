// JPEG back end: libjpeg-turbo through the TurboJPEG API, which is what Pillow's
// JPEG plugin runs (ISLOW IDCT, fancy upsampling), so pixels match Pillow exactly.
#include <turbojpeg.h>

#include <memory>
#include <string>

#include "common/error.h"
#include "image/codec_backends.h"

namespace m4cxr::detail {

namespace {

struct TjDestroy {
  void operator()(void* h) const { tjDestroy(h); }
};

std::string tj_message(tjhandle h) {
  const char* m = tjGetErrorStr2(h);
  return m != nullptr ? m : "unknown error";
}

}  // namespace

RgbImage decode_jpeg_turbo(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  std::unique_ptr<void, TjDestroy> handle(tjInitDecompress());
  if (!handle) fail(Status::internal, "cannot create a JPEG decoder: " + tj_message(nullptr));
  tjhandle h = handle.get();

  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &w, &hgt, &subsamp,
                          &colorspace) != 0) {
    fail(Status::format_error, "cannot read JPEG header: " + tj_message(h));
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    fail(Status::unsupported, "CMYK/YCCK JPEG images are not supported");
  }
  if (w <= 0 || hgt <= 0) fail(Status::format_error, "JPEG header has no image size (truncated header?)");
  check_image_dimensions(w, hgt, limits, "JPEG", DimensionSource::file_header);

  RgbImage out;
  out.width = w;
  out.height = hgt;
  out.pixels.resize(size_t(w) * size_t(hgt) * 3);
  // Gray JPEGs are expanded by libjpeg itself (R=G=B), like Pillow's convert("RGB").
  // LIMITSCANS bounds the work a hostile progressive file can cause.
  const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
  if (tjDecompress2(h, data, static_cast<unsigned long>(size), out.pixels.data(), w, 0, hgt,
                    TJPF_RGB, flags) != 0) {
    const std::string msg = tj_message(h);
    // Warnings leave a complete image; Pillow ignores them. Running out of data is the
    // exception: libjpeg pads with gray where Pillow reports a truncated file.
    const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
    if (!warning || msg.find("Premature end") != std::string::npos) {
      fail(Status::format_error, "cannot decode JPEG: " + msg + " (corrupt or truncated file?)");
    }
  }
  return out;
}

}  // namespace m4cxr::detail
