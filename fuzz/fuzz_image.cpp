// libFuzzer target for the image codecs (data/image.h): probe_image and decode_image of any byte string, JPEG
// (libjpeg-turbo) or PNG (libspng). Each must return or raise BadSampleError (reason kCorruptImage). A decoded
// image must have the probed format's size and channels (full-scale decode; a DCT-scaled JPEG is no larger), a
// pixel buffer of exactly width*height*channels bytes, survive convert_channels, and small ones must round-trip
// through encode_png. SGT_MAX_IMAGE_PIXELS is set to 4,000,000 before the first decode (unless already set), so
// a tiny file claiming a huge size is refused instead of allocating gigabytes legitimately. The input's size picks
// the DCT-scaling hint (0, 8 or 64). Crashes, sanitizer reports, other exception types and broken invariants
// (__builtin_trap) are findings.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/env.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SGT_MAX_IMAGE_PIXELS", "4000000", /*overwrite=*/0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sgt::data;
  const std::span<const uint8_t> bytes(data, size);
  const ImageFormat format = sniff_image_format(bytes);
  bool probed = false;
  ImageInfo info;
  try {
    info = probe_image(bytes, "fuzz");
    probed = true;
    check(info.format == format && format != ImageFormat::kUnknown);
    check(info.width > 0 && info.height > 0 && info.width * info.height <= sgt::env::max_image_pixels());
    check(info.channels == 1 || info.channels == 3 || info.channels == 4);
  } catch (const BadSampleError& e) {
    check(e.reason() == BadSampleReason::kCorruptImage);
  }
  const int64_t hint = size % 3 == 0 ? 0 : size % 3 == 1 ? 8 : 64;
  Image img;
  try {
    img = decode_image(bytes, "fuzz", hint);
  } catch (const BadSampleError& e) {
    check(e.reason() == BadSampleReason::kCorruptImage);
    return 0;
  }
  check(probed);  // whatever decodes has a readable header
  check(img.width > 0 && img.height > 0 && img.channels == info.channels);
  check(img.pixels.size() == static_cast<size_t>(img.width * img.height * img.channels));
  if (hint == 0 || format == ImageFormat::kPng) {
    check(img.width == info.width && img.height == info.height);
  } else {
    check(img.width <= info.width && img.height <= info.height);
  }
  const Image rgb = convert_channels(img, 3);
  check(rgb.pixels.size() == static_cast<size_t>(img.width * img.height * 3));
  if (img.width * img.height <= 4096) {
    const Image back = decode_image(encode_png(img), "fuzz round trip");
    check(back.width == img.width && back.height == img.height && back.channels == img.channels &&
          back.pixels == img.pixels);
  }
  return 0;
}
