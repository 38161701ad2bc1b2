#include "dicom/j2k_decoder.h"

#include <openjpeg.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {

struct Memory {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
};

OPJ_SIZE_T read_fn(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* m = static_cast<Memory*>(user);
  if (m->pos >= m->size) return static_cast<OPJ_SIZE_T>(-1);
  const size_t k = n < m->size - m->pos ? n : m->size - m->pos;
  std::memcpy(buffer, m->data + m->pos, k);
  m->pos += k;
  return k;
}

OPJ_OFF_T skip_fn(OPJ_OFF_T n, void* user) {
  auto* m = static_cast<Memory*>(user);
  if (n < 0 || static_cast<uint64_t>(n) > m->size - m->pos) {
    m->pos = m->size;
    return -1;
  }
  m->pos += static_cast<size_t>(n);
  return n;
}

OPJ_BOOL seek_fn(OPJ_OFF_T n, void* user) {
  auto* m = static_cast<Memory*>(user);
  if (n < 0 || static_cast<uint64_t>(n) > m->size) return OPJ_FALSE;
  m->pos = static_cast<size_t>(n);
  return OPJ_TRUE;
}

void quiet(const char*, void*) {}

struct Resources {
  opj_stream_t* stream = nullptr;
  opj_codec_t* codec = nullptr;
  opj_image_t* image = nullptr;
  ~Resources() {
    if (image) opj_image_destroy(image);
    if (codec) opj_destroy_codec(codec);
    if (stream) opj_stream_destroy(stream);
  }
};

[[noreturn]] void bad(const std::string& what) { fail(Status::format_error, "DICOM JPEG 2000 frame: " + what); }

}  // namespace

std::vector<int32_t> decode_j2k_frame(const uint8_t* data, size_t size, const PixelLayout& layout) {
  if (data == nullptr || size < 12) bad("too short");
  Memory mem{data, size};
  Resources r;
  const bool jp2 = size >= 12 && std::memcmp(data, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0;
  r.codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
  r.stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  if (r.codec == nullptr || r.stream == nullptr) fail(Status::out_of_memory, "OpenJPEG could not allocate a decoder");
  opj_set_info_handler(r.codec, quiet, nullptr);
  opj_set_warning_handler(r.codec, quiet, nullptr);
  opj_set_error_handler(r.codec, quiet, nullptr);
  opj_stream_set_user_data(r.stream, &mem, nullptr);
  opj_stream_set_user_data_length(r.stream, size);
  opj_stream_set_read_function(r.stream, read_fn);
  opj_stream_set_skip_function(r.stream, skip_fn);
  opj_stream_set_seek_function(r.stream, seek_fn);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(r.codec, &params)) bad("decoder setup failed");
  if (!opj_read_header(r.stream, r.codec, &r.image) || r.image == nullptr) bad("corrupt main header");
  if (r.image->numcomps != 1) bad(std::to_string(r.image->numcomps) + " components (grayscale has 1)");
  if (static_cast<int64_t>(r.image->x1) - r.image->x0 != layout.width ||
      static_cast<int64_t>(r.image->y1) - r.image->y0 != layout.height) {
    bad("image size does not match Rows/Columns");
  }
  if (!opj_decode(r.codec, r.stream, r.image) || !opj_end_decompress(r.codec, r.stream)) bad("corrupt or truncated data");
  const opj_image_comp_t& c = r.image->comps[0];
  if (c.data == nullptr || c.dx != 1 || c.dy != 1 || static_cast<int>(c.w) != layout.width ||
      static_cast<int>(c.h) != layout.height) {
    bad("decoded component does not match Rows/Columns");
  }
  if (c.prec < 1 || static_cast<int>(c.prec) > layout.bits_allocated) {
    bad("precision " + std::to_string(c.prec) + " exceeds BitsAllocated " + std::to_string(layout.bits_allocated));
  }
  // As for uncompressed data (stored_pixels.h): BitsStored bits, sign-extended if signed.
  const size_t n = static_cast<size_t>(layout.width) * static_cast<size_t>(layout.height);
  const uint32_t mask = (1u << layout.bits_stored) - 1u, sign = 1u << (layout.bits_stored - 1);
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t w = static_cast<uint32_t>(c.data[i]) & mask;
    out[i] = (layout.is_signed && (w & sign)) ? static_cast<int32_t>(w) - static_cast<int32_t>(mask) - 1 : static_cast<int32_t>(w);
  }
  return out;
}

}  // namespace m4cxr
