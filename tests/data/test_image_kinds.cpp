// Image kinds beyond 8-bit RGB / gray against PIL (tools/data_ref.py decode): CMYK JPEGs (written by PIL, Adobe
// polarity) and YCCK JPEGs (written here with libjpeg, which PIL cannot write) decode to what
// Image.open(f).convert("RGB") gives, at full scale and with 1/2 DCT scaling (draft); 16-bit PNGs (gray, RGB, RGBA,
// gray + alpha) decode to PIL's convert("RGB") / convert("L") and pil_img2rgb's white background, and
// read_png_u16 gives numpy.asarray(Image.open(f)) of mode I;16. All pixel-exact.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include <jpeglib.h>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data_test_util.h"

namespace sgt::data {
namespace {

// A YCCK JPEG of smooth CMYK content through libjpeg's own colour conversion (jpeg_set_colorspace JCS_YCCK).
void write_ycck_jpeg(const std::string& path, int w, int h) {
  std::vector<uint8_t> cmyk(static_cast<size_t>(w * h * 4));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 4; ++c)
        cmyk[(y * w + x) * 4 + c] = static_cast<uint8_t>((x * (3 + c) + y * (7 - c) + 40 * c) % 256);
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&cinfo, &buf, &len);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, 90, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = cmyk.data() + cinfo.next_scanline * w * 4;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  io::AtomicFile f(path);
  f.write(buf, len);
  f.commit();
  std::free(buf);
}

TEST(ImageKinds, FourChannelJpegsAnd16BitPngsDecodeAsPil) {
  testing::TempDir dir("kinds");
  write_ycck_jpeg(dir.file("ycck.jpg"), 45, 33);
  const auto meta = test::run_ref("decode", dir, "decode.json");
  std::set<std::string> modes;
  for (const auto& e : meta) {
    const std::string path = dir.file(e["file"]), mode = e["mode"];
    SCOPED_TRACE(path + " (PIL mode " + mode + ")");
    modes.insert(mode);
    const auto bytes = read_file_bytes(path);
    const Image img = decode_image(bytes, path);
    const Image rgb = test::load_raw(dir, e["rgb"]);
    const Image got = convert_channels(img, 3);
    EXPECT_EQ(test::dims(got), test::dims(rgb));
    EXPECT_EQ(test::max_abs_diff(got, rgb), 0);
    const ImageInfo info = probe_image(bytes, path);
    EXPECT_EQ(info.width, img.width);
    EXPECT_EQ(info.height, img.height);
    EXPECT_EQ(info.channels, img.channels);
    if (e.contains("l")) {  // gray: 1 channel, as PIL's convert("L") (16 bits: clipped at 255, not shifted)
      EXPECT_EQ(img.channels, 1);
      EXPECT_EQ(test::max_abs_diff(img, test::load_raw(dir, e["l"])), 0);
      const Image16 wide = read_png_u16(path);
      ASSERT_EQ(wide.width, e["u16"]["w"].get<int64_t>());
      ASSERT_EQ(wide.height, e["u16"]["h"].get<int64_t>());
      const auto raw = read_file_bytes(dir.file(e["u16"]["file"]));
      ASSERT_EQ(raw.size(), wide.pixels.size() * 2);
      int64_t differ = 0;
      for (size_t i = 0; i < wide.pixels.size(); ++i) differ += wide.pixels[i] != (raw[2 * i] | raw[2 * i + 1] << 8);
      EXPECT_EQ(differ, 0);
    }
    if (e.contains("on_white")) {
      EXPECT_EQ(test::max_abs_diff(decode_image_rgb_on_white(bytes, path), test::load_raw(dir, e["on_white"])), 0);
    }
    if (e.contains("draft2")) {
      const Image d = test::load_raw(dir, e["draft2"]);
      const Image dgot = decode_image(bytes, path, std::min(d.width, d.height));  // the 1/2 scale
      EXPECT_EQ(test::dims(dgot), test::dims(d));
      EXPECT_EQ(test::max_abs_diff(dgot, d), 0);
    }
  }
  // The kinds the reference opened: CMYK for both JPEGs, I;16, L, RGB and RGBA for the PNGs.
  EXPECT_EQ(modes, (std::set<std::string>{"CMYK", "I;16", "L", "RGB", "RGBA"}));
}

TEST(ImageKinds, SixteenBitReadRefusesWhatIsNotGray) {
  testing::TempDir dir("kinds-bad");
  const auto meta = test::run_ref("decode", dir, "decode.json");
  for (const std::string f : {"rgb16.png", "la16.png", "cmyk.jpg"}) {
    try {
      read_png_u16(dir.file(f));
      ADD_FAILURE() << "accepted " << f;
    } catch (const BadSampleError& e) {
      EXPECT_EQ(e.reason(), BadSampleReason::kCorruptImage);
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(f.ends_with(".jpg") ? "not a PNG" : "gray PNG"), std::string::npos)
          << e.what();
    }
  }
  auto wide = read_file_bytes(dir.file("gray16.png"));
  wide.resize(wide.size() - 30);  // truncated IDAT
  EXPECT_THROW(decode_png_u16(wide, "cut.png"), BadSampleError);
  auto cmyk = read_file_bytes(dir.file("cmyk.jpg"));
  cmyk.resize(cmyk.size() / 2);
  EXPECT_THROW(decode_image(cmyk, "cut.jpg"), BadSampleError);
}

}  // namespace
}  // namespace sgt::data
