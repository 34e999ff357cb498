#pragma once
// 8-bit images (HWC, row-major) and their codecs: JPEG through libjpeg-turbo, PNG through libspng.
// Torch-free; the model layer turns an Image into a tensor.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sgt::data {

struct Image {
  int64_t width = 0, height = 0, channels = 0;  // channels: 1 (gray), 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> pixels;                  // [height, width, channels], row-major

  Image() = default;
  Image(int64_t w, int64_t h, int64_t c, uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<size_t>(w * h * c), fill) {}
  bool empty() const { return pixels.empty(); }
  uint8_t* at(int64_t y, int64_t x) { return pixels.data() + (y * width + x) * channels; }
  const uint8_t* at(int64_t y, int64_t x) const { return pixels.data() + (y * width + x) * channels; }
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
};

enum class ImageFormat { kUnknown, kJpeg, kPng };
// Sniffs the magic bytes (FF D8 FF for JPEG, 89 'PNG' for PNG).
ImageFormat sniff_image_format(std::span<const uint8_t> bytes);

// Decodes JPEG (to RGB, or gray for 1-channel files; CMYK and YCCK to RGB as Pillow's convert("RGB") does) or
// PNG (to gray, RGB or RGBA as stored; palette images to RGB(A); 16-bit gray to 8-bit gray clipped at 255 and
// other 16-bit kinds to their high byte, both as Pillow does). With min_side_hint > 0 a JPEG is decoded with DCT scaling
// (1/2, 1/4, 1/8) when the scaled shorter side is still >= min_side_hint (like PIL's Image.draft), which is
// several times faster. `name` is used in error messages. Throws sgt::Error on truncated or corrupt data.
Image decode_image(std::span<const uint8_t> bytes, const std::string& name, int64_t min_side_hint = 0);
Image read_image(const std::string& path, int64_t min_side_hint = 0);

// RGB as BAGEL's pil_img2rgb makes it (data/data_utils.py): an RGBA PNG (16-bit gray + alpha too, which Pillow
// opens as RGBA), or any PNG with a tRNS chunk (palette, gray or RGB transparency), is composited onto white the way PIL's paste with an alpha mask rounds,
// out = DIV255(c * a + 255 * (255 - a)) with DIV255(x) = ((x + 128) >> 8 + x + 128) >> 8; every other image
// (gray, gray + alpha "LA", RGB, JPEG) is converted as PIL's convert("RGB") does, which drops an LA alpha.
Image decode_image_rgb_on_white(std::span<const uint8_t> bytes, const std::string& name);
Image read_image_rgb_on_white(const std::string& path);

// 16-bit gray (PNG), e.g. depth maps: the values Pillow's mode I;16 holds (numpy.asarray(Image.open(path))).
struct Image16 {
  int64_t width = 0, height = 0;
  std::vector<uint16_t> pixels;  // [height, width], row-major
};
// 16-bit gray PNGs as stored, 8-bit gray PNGs widened; any other PNG or a non-PNG throws BadSampleError
// (kCorruptImage) naming `name` and what the file holds.
Image16 decode_png_u16(std::span<const uint8_t> bytes, const std::string& name);
Image16 read_png_u16(const std::string& path);

// Header only: full-size dimensions and decoded channel count, without decoding pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t width = 0, height = 0, channels = 0;
};
ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name);

// Converts to `channels` (1, 3 or 4): gray->RGB repeats, RGBA->RGB drops alpha (as PIL convert("RGB")),
// RGB->gray uses PIL's ITU-R 601-2 luma L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
Image convert_channels(const Image& img, int64_t channels);

std::vector<uint8_t> encode_png(const Image& img);
std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 95);
// Atomic publication via io::AtomicFile.
void write_png(const std::string& path, const Image& img);
void write_jpeg(const std::string& path, const Image& img, int quality = 95);

// Whole file into memory; throws sgt::Error naming the path.
std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace sgt::data
