// Line / bar charts into an RGB image (data/plot.h). Layout: title strip on top, y tick labels on the left,
// x tick labels and the x label below, legend in the top-right corner of the plot area.
#include "data/plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace sgt::data {
namespace {

struct Glyph {
  char c;
  const char* rows;  // 7 rows x 5 columns
};
constexpr Glyph kGlyphs[] = {
#include "data/plot_font.inc"
};

const char* glyph_rows(char c) {
  c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph& g : kGlyphs)
    if (g.c == c) return g.rows;
  return nullptr;
}

using Rgb = std::array<uint8_t, 3>;
constexpr Rgb kBlack{0, 0, 0}, kGrid{225, 225, 225}, kWhite{255, 255, 255};
constexpr int64_t kCharW = 6, kCharH = 8;  // glyph plus one dot of spacing

void put(Image& img, int64_t x, int64_t y, Rgb c) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  uint8_t* p = img.at(y, x);
  p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

void fill_rect(Image& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c) {  // inclusive corners
  for (int64_t y = std::min(y0, y1); y <= std::max(y0, y1); ++y)
    for (int64_t x = std::min(x0, x1); x <= std::max(x0, x1); ++x) put(img, x, y, c);
}

// Thick line from (x0, y0) to (x1, y1): a 2x2 brush stepped along the longer axis.
void line(Image& img, double x0, double y0, double x1, double y1, Rgb c) {
  const double steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1.0});
  for (int64_t i = 0; i <= static_cast<int64_t>(std::ceil(steps)); ++i) {
    const double t = std::min(1.0, i / steps);
    const int64_t x = std::lround(x0 + t * (x1 - x0)), y = std::lround(y0 + t * (y1 - y0));
    fill_rect(img, x, y, x + 1, y + 1, c);
  }
}

// "Nice" tick step (1, 2 or 5 x 10^k) giving about `target` intervals over [lo, hi].
double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;
  return fmt::format("{:.6g}", v);
}

bool usable(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }

void validate(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  SGT_CHECK(!series.empty(), "plot", "no series to plot ('{}')", opt.title);
  SGT_CHECK(opt.width >= 200 && opt.height >= 150 && opt.width <= 10000 && opt.height <= 10000, "plot",
            "plot size {}x{} outside [200..10000]x[150..10000]", opt.width, opt.height);
  for (const PlotSeries& s : series)
    SGT_CHECK(s.x.size() == s.y.size(), "plot", "series '{}' has {} x values but {} y values", s.name, s.x.size(),
              s.y.size());
}

}  // namespace

std::array<uint8_t, 3> plot_color(size_t i) {
  static const Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                 {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kPalette[i % 10];
}

int64_t draw_text(Image& img, int64_t x, int64_t y, const std::string& text, std::array<uint8_t, 3> rgb, int64_t scale) {
  SGT_CHECK(img.channels == 3, "plot", "draw_text needs an RGB image, got {} channels", img.channels);
  for (size_t i = 0; i < text.size(); ++i) {
    const char* rows = glyph_rows(text[i]);
    const int64_t gx = x + static_cast<int64_t>(i) * kCharW * scale;
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t c = 0; c < 5; ++c) {
        // Unknown characters: a hollow box.
        const bool ink = rows ? rows[r * 5 + c] == '#' : (r == 0 || r == 6 || c == 0 || c == 4);
        if (ink) fill_rect(img, gx + c * scale, y + r * scale, gx + c * scale + scale - 1, y + r * scale + scale - 1, rgb);
      }
  }
  return static_cast<int64_t>(text.size()) * kCharW * scale;
}

double PlotFrame::px(double x) const { return left + (x - x0) / (x1 - x0) * static_cast<double>(right - left); }
double PlotFrame::py(double y) const {
  const double v = log_y ? std::log10(y) : y;
  return bottom - (v - y0) / (y1 - y0) * static_cast<double>(bottom - top);
}

PlotFrame plot_frame(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  validate(series, opt);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const PlotSeries& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i], opt.log_y)) continue;
      const double y = opt.log_y ? std::log10(s.y[i]) : s.y[i];
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  SGT_CHECK(std::isfinite(xmin), "plot", "no finite point to plot in {} series ('{}')", series.size(), opt.title);
  if (opt.bars) {  // bars start at zero and need half a slot on each side
    if (!opt.log_y) ymin = std::min(ymin, 0.0), ymax = std::max(ymax, 0.0);
    xmin -= 0.5, xmax += 0.5;
  }
  if (xmax - xmin < 1e-12) xmin -= 0.5, xmax += 0.5;
  if (ymax - ymin < 1e-12) ymin -= 0.5, ymax += 0.5;
  PlotFrame f;
  f.log_y = opt.log_y;
  // Round the y range outward to whole tick steps so the ticks sit on the frame.
  const double ys = nice_step(ymin, ymax, 6);
  f.y0 = std::floor(ymin / ys + 1e-9) * ys;
  f.y1 = std::ceil(ymax / ys - 1e-9) * ys;
  f.x0 = xmin, f.x1 = xmax;
  f.left = 12 + 10 * kCharW;  // room for the rotated-free y label column and tick labels
  f.right = opt.width - 16;
  f.top = opt.title.empty() ? 12 : 12 + 2 * kCharH + 6;
  f.bottom = opt.height - (opt.x_label.empty() ? 24 : 24 + kCharH + 6);
  return f;
}

Image plot_lines(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  const PlotFrame f = plot_frame(series, opt);
  Image img(opt.width, opt.height, 3, 255);
  // Grid and y ticks.
  const double ys = nice_step(f.y0, f.y1, 6);
  for (double v = f.y0; v <= f.y1 + ys * 1e-6; v += ys) {
    const int64_t row = std::lround(f.bottom - (v - f.y0) / (f.y1 - f.y0) * (f.bottom - f.top));
    fill_rect(img, f.left, row, f.right, row, kGrid);
    const std::string lab = opt.log_y ? tick_label(std::pow(10.0, v), std::pow(10.0, v)) : tick_label(v, ys);
    draw_text(img, f.left - 4 - static_cast<int64_t>(lab.size()) * kCharW, row - 3, lab, kBlack);
  }
  const double xs = opt.bars ? std::max(1.0, nice_step(f.x0, f.x1, 8)) : nice_step(f.x0, f.x1, 8);
  for (double v = std::ceil(f.x0 / xs - 1e-9) * xs; v <= f.x1 + xs * 1e-6; v += xs) {
    const int64_t col = std::lround(f.px(v));
    fill_rect(img, col, f.top, col, f.bottom, kGrid);
    const std::string lab = tick_label(v, xs);
    draw_text(img, col - static_cast<int64_t>(lab.size()) * kCharW / 2, f.bottom + 6, lab, kBlack);
  }
  // Data.
  if (opt.bars) {
    double gap = std::numeric_limits<double>::infinity();  // smallest x spacing sets the slot width
    std::vector<double> xs_all;
    for (const PlotSeries& s : series) xs_all.insert(xs_all.end(), s.x.begin(), s.x.end());
    std::sort(xs_all.begin(), xs_all.end());
    for (size_t i = 1; i < xs_all.size(); ++i)
      if (xs_all[i] - xs_all[i - 1] > 1e-12) gap = std::min(gap, xs_all[i] - xs_all[i - 1]);
    if (!std::isfinite(gap)) gap = 1;
    const double slot = 0.8 * gap / static_cast<double>(series.size());
    const double base = f.log_y ? std::pow(10.0, f.y0) : std::clamp(0.0, f.y0, f.y1);
    for (size_t k = 0; k < series.size(); ++k)
      for (size_t i = 0; i < series[k].x.size(); ++i) {
        if (!usable(series[k].x[i], series[k].y[i], opt.log_y)) continue;
        const double xa = series[k].x[i] - 0.4 * gap + k * slot;
        fill_rect(img, std::lround(f.px(xa)), std::lround(f.py(base)), std::lround(f.px(xa + slot)) - 1,
                  std::lround(f.py(series[k].y[i])), plot_color(k));
      }
  } else {
    for (size_t k = 0; k < series.size(); ++k) {
      const PlotSeries& s = series[k];
      bool have_prev = false;
      double px0 = 0, py0 = 0;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i], s.y[i], opt.log_y)) {
          have_prev = false;  // a gap breaks the line
          continue;
        }
        const double px = f.px(s.x[i]), py = f.py(s.y[i]);
        if (have_prev) line(img, px0, py0, px, py, plot_color(k));
        fill_rect(img, std::lround(px) - 2, std::lround(py) - 2, std::lround(px) + 2, std::lround(py) + 2, plot_color(k));
        px0 = px, py0 = py, have_prev = true;
      }
    }
  }
  // Frame, title, labels.
  fill_rect(img, f.left, f.top, f.right, f.top, kBlack);
  fill_rect(img, f.left, f.bottom, f.right, f.bottom, kBlack);
  fill_rect(img, f.left, f.top, f.left, f.bottom, kBlack);
  fill_rect(img, f.right, f.top, f.right, f.bottom, kBlack);
  if (!opt.title.empty())
    draw_text(img, (opt.width - static_cast<int64_t>(opt.title.size()) * kCharW * 2) / 2, 8, opt.title, kBlack, 2);
  if (!opt.x_label.empty())
    draw_text(img, (f.left + f.right - static_cast<int64_t>(opt.x_label.size()) * kCharW) / 2, opt.height - kCharH - 6,
              opt.x_label, kBlack);
  if (!opt.y_label.empty()) draw_text(img, 4, f.top - kCharH - 2 < 0 ? 0 : f.top - kCharH - 2, opt.y_label, kBlack);
  // Legend: a swatch and the name per series, in a white box at the top right.
  size_t longest = 0;
  for (const PlotSeries& s : series) longest = std::max(longest, s.name.size());
  if (longest > 0) {
    const int64_t w = 24 + static_cast<int64_t>(longest) * kCharW, h = static_cast<int64_t>(series.size()) * 12 + 6;
    // The corner of the plot area that covers the fewest non-background pixels (data, grid lines count less).
    const int64_t xs_c[2] = {f.left + 8, f.right - w - 8}, ys_c[2] = {f.top + 8, f.bottom - h - 8};
    int64_t x0 = xs_c[1], y0 = ys_c[0], best = -1;
    for (int64_t cy : {ys_c[0], ys_c[1]})
      for (int64_t cx : {xs_c[1], xs_c[0]}) {
        int64_t ink = 0;
        for (int64_t y = std::max<int64_t>(cy, 0); y <= std::min(cy + h, img.height - 1); ++y)
          for (int64_t x = std::max<int64_t>(cx, 0); x <= std::min(cx + w, img.width - 1); ++x) {
            const uint8_t* p = img.at(y, x);
            ink += (p[0] != p[1] || p[1] != p[2]) ? 4 : (p[0] < 255 ? 1 : 0);
          }
        if (best < 0 || ink < best) best = ink, x0 = cx, y0 = cy;
      }
    fill_rect(img, x0, y0, x0 + w, y0 + h, kWhite);
    for (size_t k = 0; k < series.size(); ++k) {
      const int64_t yy = y0 + 4 + static_cast<int64_t>(k) * 12;
      fill_rect(img, x0 + 4, yy + 1, x0 + 14, yy + 6, plot_color(k));
      draw_text(img, x0 + 18, yy, series[k].name, kBlack);
    }
    fill_rect(img, x0, y0, x0 + w, y0, kBlack);
    fill_rect(img, x0, y0 + h, x0 + w, y0 + h, kBlack);
    fill_rect(img, x0, y0, x0, y0 + h, kBlack);
    fill_rect(img, x0 + w, y0, x0 + w, y0 + h, kBlack);
  }
  return img;
}

void write_plot_png(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  write_png(path, plot_lines(series, opt));
}

}  // namespace sgt::data
