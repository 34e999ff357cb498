// Plot rendering: pixel checks on known data (axis rows, series colours, legend, text) and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "data/image.h"
#include "data/plot.h"
#include "testing/testing.h"

namespace sgt::data {
namespace {

bool has(const Image& img, int64_t y, int64_t x, std::array<uint8_t, 3> c) {
  const uint8_t* p = img.at(y, x);
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

int64_t count_colour(const Image& img, std::array<uint8_t, 3> c, int64_t x0 = 0, int64_t x1 = -1) {
  if (x1 < 0) x1 = img.width - 1;
  int64_t n = 0;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = x0; x <= x1; ++x) n += has(img, y, x, c);
  return n;
}

TEST(Plot, LinesLandWhereExpected) {
  // A rising series 0..10 fixes the y range to exactly [0, 10] (nice ticks of 2); a flat series at y = 5 must then
  // sit halfway between the frame's top and bottom rows, found from the black frame itself.
  PlotSeries rise{"rise", {0, 1, 2, 3, 4}, {0, 2.5, 5, 7.5, 10}};
  PlotSeries flat{"flat", {0, 1, 2, 3, 4}, {5, 5, NAN, 5, 5}};
  PlotOptions opt;
  opt.title = "Probe accuracy";
  opt.x_label = "layer";
  opt.y_label = "acc";
  const Image img = plot_lines({rise, flat}, opt);
  ASSERT_EQ(img.width, 800);
  ASSERT_EQ(img.height, 500);
  ASSERT_EQ(img.channels, 3);
  // Frame: the left column is the first column that is black over most of the height.
  int64_t left = -1;
  for (int64_t x = 0; x < img.width && left < 0; ++x) {
    int64_t dark = 0;
    for (int64_t y = 0; y < img.height; ++y) dark += has(img, y, x, {0, 0, 0});
    if (dark > img.height / 2) left = x;
  }
  ASSERT_GT(left, 0);
  int64_t top = -1, bottom = -1;
  for (int64_t y = 0; y < img.height; ++y)  // the frame's left edge: the first long run of black in that column
    if (has(img, y, left, {0, 0, 0})) {
      if (top < 0) top = y;
      bottom = y;
    } else if (top >= 0 && bottom - top > 100) {
      break;
    }
  const PlotFrame f = plot_frame({rise, flat}, opt);
  EXPECT_EQ(f.left, left);
  EXPECT_EQ(f.top, top);
  EXPECT_EQ(f.bottom, bottom);
  EXPECT_DOUBLE_EQ(f.y0, 0.0);
  EXPECT_DOUBLE_EQ(f.y1, 10.0);
  // The flat series' colour on the middle row between x = 0.25 and 0.75 (a segment, away from markers).
  const int64_t mid = (top + bottom) / 2;
  const auto c1 = plot_color(1);
  const int64_t xa = std::lround(f.px(0.3)), xb = std::lround(f.px(0.7));
  for (int64_t x = xa; x <= xb; ++x) {
    bool hit = false;
    for (int64_t y = mid - 1; y <= mid + 1; ++y) hit |= has(img, y, x, c1);
    EXPECT_TRUE(hit) << "x " << x;
  }
  // The NaN point breaks the line: no flat-series colour between x = 1.3 and 2.7 near the middle row.
  for (int64_t x = std::lround(f.px(1.3)); x <= std::lround(f.px(2.7)); ++x)
    for (int64_t y = mid - 3; y <= mid + 3; ++y) {
      if (std::abs(x - std::lround(f.px(2.0))) < 6) continue;  // where the rising line crosses
      EXPECT_FALSE(has(img, y, x, c1)) << x << "," << y;
    }
  // The rising series passes through its points: (4, 10) is the top-right corner (the legend moves away).
  EXPECT_TRUE(has(img, std::lround(f.py(10)) + 1, std::lround(f.px(4)) - 1, plot_color(0)));  // inside the frame
  // Text and legend: dark pixels in the title strip above the frame and left of it (tick labels).
  EXPECT_GT(count_colour(Image(img), {0, 0, 0}, 0, left - 2), 50);
  int64_t title_ink = 0;
  for (int64_t y = 0; y < top - 2; ++y)
    for (int64_t x = 0; x < img.width; ++x) title_ink += has(img, y, x, {0, 0, 0});
  EXPECT_GT(title_ink, 100);
  testing::TempDir dir("plot");
  write_plot_png(dir.file("p.png"), {rise, flat}, opt);
  const Image back = read_image(dir.file("p.png"));
  EXPECT_EQ(back.pixels, img.pixels);
}

TEST(Plot, BarsLogAndErrors) {
  PlotOptions opt;
  opt.bars = true;
  const PlotSeries a{"base", {0, 1, 2}, {1, 2, 3}}, b{"sgt", {0, 1, 2}, {2, 2, 4}};
  const Image img = plot_lines({a, b}, opt);
  const PlotFrame f = plot_frame({a, b}, opt);
  // Bars: the first series' bar at x = 0 spans from y = 0 to y = 1 left of x = 0; the second's at x = 2 reaches 4.
  EXPECT_TRUE(has(img, std::lround(f.py(0.5)), std::lround(f.px(-0.2)), plot_color(0)));
  EXPECT_TRUE(has(img, std::lround(f.py(3.5)), std::lround(f.px(2.2)), plot_color(1)));
  EXPECT_FALSE(has(img, std::lround(f.py(3.5)), std::lround(f.px(1.8)), plot_color(0)));
  // log_y: decades map to equal distances; non-positive values are skipped, not an error.
  PlotOptions lg;
  lg.log_y = true;
  const PlotSeries l{"loss", {1, 2, 3, 4}, {1000, 100, 10, -1}};
  const PlotFrame fl = plot_frame({l}, lg);
  EXPECT_NEAR(fl.py(1000) - fl.py(100), fl.py(100) - fl.py(10), 1e-9);
  EXPECT_NO_THROW(plot_lines({l}, lg));
  // Bad input.
  EXPECT_THROW(plot_lines({}, opt), Error);
  EXPECT_THROW(plot_lines({PlotSeries{"x", {1, 2}, {1}}}, opt), Error);
  EXPECT_THROW(plot_lines({PlotSeries{"x", {1, 2}, {NAN, INFINITY}}}, opt), Error);
  PlotOptions tiny;
  tiny.width = 10;
  EXPECT_THROW(plot_lines({a}, tiny), Error);
}

}  // namespace
}  // namespace sgt::data
