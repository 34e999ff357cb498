// Image codecs: JPEG through the libjpeg API of libjpeg-turbo (the same library and default settings as
// Pillow: ISLOW DCT, fancy upsampling, so full-scale decodes agree bit for bit), PNG through libspng.
#include "data/image.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include <jpeglib.h>
#include <jerror.h>
#include <spng.h>

#include "core/env.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "io/atomic_file.h"

namespace sgt::data {
namespace {

constexpr BadSampleReason kCorrupt = BadSampleReason::kCorruptImage;

// Called on the header's claimed size, before any pixel buffer exists: a 74-byte PNG may claim 65535x65535 RGBA
// (17 GB). Same limit as PIL's decompression-bomb check (Image.MAX_IMAGE_PIXELS), overridable by env knob.
void check_claimed_size(int64_t width, int64_t height, const std::string& name) {
  if (width <= 0 || height <= 0)
    throw BadSampleError(kCorrupt, "image", fmt::format("{}: image header claims an empty size {}x{}", name, width,
                                                        height));
  const int64_t limit = env::max_image_pixels();
  if (limit > 0 && width * height > limit)
    throw BadSampleError(kCorrupt, "image",
                         fmt::format("{}: image header claims {}x{} = {} pixels, above the limit of {} pixels "
                                     "(SGT_MAX_IMAGE_PIXELS; 0 = no limit)",
                                     name, width, height, width * height, limit));
}

// libjpeg reports errors through a callback that must not return: longjmp back to the decode call.
struct JpegErr {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// A premature end of data is a warning in libjpeg (it pads with grey); Pillow raises for it, so do we.
// Other warnings (e.g. extraneous bytes before a marker) are tolerated, as in Pillow.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
}

// Pillow reads every CMYK JPEG with Adobe polarity (JpegImagePlugin.py: rawmode "CMYK;I", ink = 255 - stored)
// and converts to RGB with Convert.c cmyk2rgb: nk = 255 - K, out = nk - MULDIV255(C, nk), MULDIV255(a, b) =
// (t + (t >> 8)) >> 8 with t = a * b + 128. In stored values nk is K itself and C is 255 - stored C.
void cmyk_to_rgb(const uint8_t* in, uint8_t* out, int64_t n) {
  for (int64_t x = 0; x < n; ++x, in += 4, out += 3) {
    const int nk = in[3];
    for (int c = 0; c < 3; ++c) {
      const int t = (255 - in[c]) * nk + 128;
      const int v = nk - (((t >> 8) + t) >> 8);
      out[c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name, int64_t min_side_hint) {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  Image img;
  std::vector<uint8_t> cmyk_row;  // before setjmp: longjmp must not skip a destructor
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw BadSampleError(kCorrupt, "image", fmt::format("{}: corrupt or truncated JPEG ({} bytes): {}", name,
                                                        bytes.size(), err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  try {
    check_claimed_size(cinfo.image_width, cinfo.image_height, name);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  // Four-channel JPEGs: libjpeg turns YCCK into CMYK, as in Pillow's JpegDecode.c; the RGB conversion follows.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  // DCT scaling: the largest 1/d (d = 8, 4, 2) whose shorter side is still >= the hint.
  if (min_side_hint > 0) {
    const int64_t short_side = std::min<int64_t>(cinfo.image_width, cinfo.image_height);
    for (int d : {8, 4, 2}) {
      if ((short_side + d - 1) / d >= min_side_hint) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = static_cast<unsigned>(d);
        break;
      }
    }
  }
  jpeg_start_decompress(&cinfo);
  img = Image(cinfo.output_width, cinfo.output_height, cmyk ? 3 : cinfo.output_components);
  const size_t stride = static_cast<size_t>(img.width * img.channels);
  cmyk_row.resize(cmyk ? static_cast<size_t>(img.width) * 4 : 0);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* dst = img.pixels.data() + cinfo.output_scanline * stride;
    JSAMPROW row = cmyk ? cmyk_row.data() : dst;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) cmyk_to_rgb(cmyk_row.data(), dst, img.width);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return img;
}

struct SpngDeleter {
  void operator()(spng_ctx* c) const { spng_ctx_free(c); }
};
using SpngPtr = std::unique_ptr<spng_ctx, SpngDeleter>;

void check_png(int rc, const char* what, const std::string& name, size_t size) {
  if (rc != 0)
    throw BadSampleError(kCorrupt, "image", fmt::format("{}: corrupt or truncated PNG ({} bytes): {}: {}", name, size,
                                                        what, spng_strerror(rc)));
}

struct OpenPng {
  SpngPtr ctx;
  spng_ihdr ihdr;
};
// A decoder on `bytes` with the size and chunk limits set and the header read and checked (decode_png,
// decode_png_u16).
OpenPng open_png(std::span<const uint8_t> bytes, const std::string& name) {
  OpenPng p{SpngPtr(spng_ctx_new(0)), {}};
  SGT_CHECK(p.ctx, "image", "{}: spng_ctx_new failed", name);
  check_png(spng_set_image_limits(p.ctx.get(), 1u << 16, 1u << 16), "limits", name, bytes.size());
  check_png(spng_set_chunk_limits(p.ctx.get(), 64u << 20, 256u << 20), "limits", name, bytes.size());
  check_png(spng_set_png_buffer(p.ctx.get(), bytes.data(), bytes.size()), "buffer", name, bytes.size());
  check_png(spng_get_ihdr(p.ctx.get(), &p.ihdr), "header", name, bytes.size());
  check_claimed_size(p.ihdr.width, p.ihdr.height, name);
  return p;
}

Image decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  auto check = [&](int rc, const char* what) { check_png(rc, what, name, bytes.size()); };
  auto [ctx, ihdr] = open_png(bytes, name);
  spng_trns trns;
  const bool has_trns = spng_get_trns(ctx.get(), &trns) == 0;
  if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth == 16 && !has_trns) {
    // Pillow opens it as mode I;16 and converts to L or RGB by clipping (Convert.c I16_L / I16_RGB: values above
    // 255 become 255), not by taking the high byte; decode_png_u16 keeps the 16-bit values.
    const Image16 wide = decode_png_u16(bytes, name);
    Image img(wide.width, wide.height, 1);
    for (size_t i = 0; i < img.pixels.size(); ++i)
      img.pixels[i] = static_cast<uint8_t>(std::min<uint16_t>(wide.pixels[i], 255));
    return img;
  }
  // Other 16-bit kinds (RGB, RGBA, gray + alpha) are reduced to their high byte, as Pillow's RGB;16B-style unpackers do.
  int fmt = SPNG_FMT_RGB8, channels = 3, flags = 0;
  if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth <= 8 && !has_trns) {
    fmt = SPNG_FMT_G8;
    channels = 1;
  } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA || ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ||
             has_trns) {
    fmt = SPNG_FMT_RGBA8;
    channels = 4;
    flags = SPNG_DECODE_TRNS;
  }
  size_t size = 0;
  check(spng_decoded_image_size(ctx.get(), fmt, &size), "size");
  Image img(ihdr.width, ihdr.height, channels);
  SGT_CHECK(size == img.pixels.size(), "image", "{}: decoded PNG size {} != {}x{}x{}", name, size, img.width,
            img.height, channels);
  check(spng_decode_image(ctx.get(), img.pixels.data(), size, fmt, flags), "decode");
  return img;
}

// The PNG header facts pil_img2rgb branches on: the colour type and whether a tRNS chunk is present.
struct PngAlphaKind {
  bool composite = false;  // RGBA, or tRNS (PIL: mode "RGBA" or info["transparency"]); LA is not composited
};
PngAlphaKind png_alpha_kind(std::span<const uint8_t> bytes, const std::string& name) {
  SpngPtr ctx(spng_ctx_new(0));
  SGT_CHECK(ctx, "image", "{}: spng_ctx_new failed", name);
  spng_ihdr ihdr;
  int rc = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size());
  if (rc == 0) rc = spng_get_ihdr(ctx.get(), &ihdr);
  if (rc != 0)
    throw BadSampleError(kCorrupt, "image", fmt::format("{}: corrupt PNG header: {}", name, spng_strerror(rc)));
  spng_trns trns;
  const bool has_trns = spng_get_trns(ctx.get(), &trns) == 0;
  PngAlphaKind k;
  // Pillow opens 16-bit gray + alpha as mode RGBA (PngImagePlugin: rawmode LA;16B), so it is composited too.
  k.composite = has_trns || ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ||
                (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA && ihdr.bit_depth == 16);
  return k;
}

}  // namespace

Image decode_image_rgb_on_white(std::span<const uint8_t> bytes, const std::string& name) {
  Image img = decode_image(bytes, name);
  if (sniff_image_format(bytes) != ImageFormat::kPng || img.channels != 4) return convert_channels(img, 3);
  const PngAlphaKind k = png_alpha_kind(bytes, name);
  if (!k.composite) return convert_channels(img, 3);  // LA: the gray value, alpha dropped
  Image out(img.width, img.height, 3);
  const int64_t n = img.width * img.height;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = img.pixels[4 * i + 3];
    for (int c = 0; c < 3; ++c) {
      const uint32_t t = img.pixels[4 * i + c] * a + 255u * (255u - a) + 128u;
      out.pixels[3 * i + c] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
    }
  }
  return out;
}

Image16 decode_png_u16(std::span<const uint8_t> bytes, const std::string& name) {
  if (sniff_image_format(bytes) != ImageFormat::kPng)
    throw BadSampleError(kCorrupt, "image", fmt::format("{}: not a PNG ({} bytes); a 16-bit read needs a gray PNG",
                                                        name, bytes.size()));
  auto check = [&](int rc, const char* what) { check_png(rc, what, name, bytes.size()); };
  auto [ctx, ihdr] = open_png(bytes, name);
  if (ihdr.color_type != SPNG_COLOR_TYPE_GRAYSCALE || (ihdr.bit_depth != 8 && ihdr.bit_depth != 16))
    throw BadSampleError(kCorrupt, "image",
                         fmt::format("{}: a 16-bit read needs an 8- or 16-bit gray PNG, this one has colour type {} "
                                     "and {} bits per sample",
                                     name, static_cast<int>(ihdr.color_type), static_cast<int>(ihdr.bit_depth)));
  Image16 img;
  img.width = ihdr.width;
  img.height = ihdr.height;
  img.pixels.resize(static_cast<size_t>(img.width * img.height));
  size_t size = 0;
  if (ihdr.bit_depth == 16) {
    check(spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &size), "size");  // host-endian samples
    SGT_CHECK(size == img.pixels.size() * 2, "image", "{}: decoded PNG size {} != {}x{}x2", name, size, img.width,
              img.height);
    check(spng_decode_image(ctx.get(), img.pixels.data(), size, SPNG_FMT_PNG, 0), "decode");
  } else {
    std::vector<uint8_t> g(img.pixels.size());
    check(spng_decoded_image_size(ctx.get(), SPNG_FMT_G8, &size), "size");
    SGT_CHECK(size == g.size(), "image", "{}: decoded PNG size {} != {}x{}", name, size, img.width, img.height);
    check(spng_decode_image(ctx.get(), g.data(), size, SPNG_FMT_G8, 0), "decode");
    std::copy(g.begin(), g.end(), img.pixels.begin());
  }
  return img;
}

Image16 read_png_u16(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return decode_png_u16(bytes, path);
}

Image read_image_rgb_on_white(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return decode_image_rgb_on_white(bytes, path);
}

ImageFormat sniff_image_format(std::span<const uint8_t> b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::kJpeg;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= 8 && std::memcmp(b.data(), kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

Image decode_image(std::span<const uint8_t> bytes, const std::string& name, int64_t min_side_hint) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, name, min_side_hint);
    case ImageFormat::kPng: return decode_png(bytes, name);
    case ImageFormat::kUnknown: break;
  }
  throw BadSampleError(kCorrupt, "image",
                       fmt::format("{}: not a JPEG or PNG ({} bytes, first bytes {:02x})", name, bytes.size(),
                                   fmt::join(bytes.subspan(0, std::min<size_t>(4, bytes.size())), " ")));
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  SGT_CHECK(f, "io", "cannot open {}", path);
  const auto n = static_cast<size_t>(f.tellg());
  std::vector<uint8_t> buf(n);
  f.seekg(0);
  SGT_CHECK(f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n)), "io", "cannot read {}",
            path);
  return buf;
}

Image read_image(const std::string& path, int64_t min_side_hint) {
  const auto bytes = read_file_bytes(path);
  return decode_image(bytes, path, min_side_hint);
}

Image convert_channels(const Image& img, int64_t channels) {
  SGT_CHECK(channels == 1 || channels == 3 || channels == 4, "image", "cannot convert to {} channels", channels);
  SGT_CHECK(img.channels >= 1 && img.channels <= 4 && img.channels != 2, "image", "unsupported channel count {}",
            img.channels);
  if (img.channels == channels) return img;
  Image out(img.width, img.height, channels);
  const int64_t n = img.width * img.height;
  const uint8_t* s = img.pixels.data();
  uint8_t* d = out.pixels.data();
  for (int64_t i = 0; i < n; ++i, s += img.channels, d += channels) {
    if (img.channels == 1) {
      d[0] = s[0];
      if (channels >= 3) d[1] = d[2] = s[0];
    } else if (channels == 1) {
      d[0] = static_cast<uint8_t>((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16);
    } else {
      d[0] = s[0], d[1] = s[1], d[2] = s[2];
    }
    if (channels == 4) d[3] = img.channels == 4 ? s[3] : 255;
  }
  return out;
}

std::vector<uint8_t> encode_png(const Image& img) {
  SGT_CHECK(img.channels == 1 || img.channels == 3 || img.channels == 4, "image", "PNG: unsupported channels {}",
            img.channels);
  SGT_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width * img.height * img.channels),
            "image", "PNG: bad image {}x{}x{} with {} bytes", img.width, img.height, img.channels, img.pixels.size());
  SpngPtr ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  SGT_CHECK(ctx, "image", "spng_ctx_new failed");
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(img.width);
  ihdr.height = static_cast<uint32_t>(img.height);
  ihdr.bit_depth = 8;
  ihdr.color_type = img.channels == 1   ? SPNG_COLOR_TYPE_GRAYSCALE
                    : img.channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR
                                        : SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  int rc = spng_set_ihdr(ctx.get(), &ihdr);
  if (rc == 0)
    rc = spng_encode_image(ctx.get(), img.pixels.data(), img.pixels.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  SGT_CHECK(rc == 0, "image", "PNG encode failed: {}", spng_strerror(rc));
  size_t len = 0;
  void* buf = spng_get_png_buffer(ctx.get(), &len, &rc);
  SGT_CHECK(buf && rc == 0, "image", "PNG encode failed: {}", spng_strerror(rc));
  std::vector<uint8_t> out(static_cast<uint8_t*>(buf), static_cast<uint8_t*>(buf) + len);
  std::free(buf);
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  SGT_CHECK(img.channels == 1 || img.channels == 3, "image", "JPEG: unsupported channels {}", img.channels);
  SGT_CHECK(img.width > 0 && img.height > 0, "image", "JPEG: empty image");
  jpeg_compress_struct cinfo;
  JpegErr err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    SGT_FAIL("image", "JPEG encode failed: {}", err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buf, &len);
  cinfo.image_width = static_cast<JDIMENSION>(img.width);
  cinfo.image_height = static_cast<JDIMENSION>(img.height);
  cinfo.input_components = static_cast<int>(img.channels);
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(img.width * img.channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(img.pixels.data()) + cinfo.next_scanline * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buf, buf + len);
  std::free(buf);
  return out;
}

namespace {
void write_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  io::AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}
}  // namespace

void write_png(const std::string& path, const Image& img) { write_atomic(path, encode_png(img)); }
void write_jpeg(const std::string& path, const Image& img, int quality) {
  write_atomic(path, encode_jpeg(img, quality));
}

}  // namespace sgt::data

namespace sgt::data {

ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name) {
  ImageInfo info;
  info.format = sniff_image_format(bytes);
  if (info.format == ImageFormat::kJpeg) {
    jpeg_decompress_struct cinfo;
    JpegErr err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.emit_message = jpeg_emit_message;
    if (setjmp(err.jump)) {
      jpeg_destroy_decompress(&cinfo);
      throw BadSampleError(kCorrupt, "image", fmt::format("{}: corrupt JPEG header: {}", name, err.message));
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&cinfo, TRUE);
    info.width = cinfo.image_width;
    info.height = cinfo.image_height;
    info.channels = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    jpeg_destroy_decompress(&cinfo);
    // Refused here too: callers size buffers or resize plans from the probe before decoding.
    check_claimed_size(info.width, info.height, name);
    return info;
  }
  if (info.format == ImageFormat::kPng) {
    SpngPtr ctx(spng_ctx_new(0));
    spng_ihdr ihdr;
    int rc = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size());
    if (rc == 0) rc = spng_get_ihdr(ctx.get(), &ihdr);
    if (rc != 0)
      throw BadSampleError(kCorrupt, "image", fmt::format("{}: corrupt PNG header: {}", name, spng_strerror(rc)));
    check_claimed_size(ihdr.width, ihdr.height, name);
    spng_trns trns;
    const bool has_trns = spng_get_trns(ctx.get(), &trns) == 0;
    info.width = ihdr.width;
    info.height = ihdr.height;
    info.channels = (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && !has_trns) ? 1
                    : (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
                       ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA || has_trns)
                        ? 4
                        : 3;
    return info;
  }
  throw BadSampleError(kCorrupt, "image", fmt::format("{}: not a JPEG or PNG ({} bytes)", name, bytes.size()));
}

}  // namespace sgt::data
