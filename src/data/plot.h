#pragma once
// Minimal torch-free plotting: line or grouped-bar charts rendered into an RGB data::Image (then PNG), with axes,
// numeric tick labels, a title, axis labels and a legend drawn with a built-in 5x7 bitmap font (ASCII; lower case
// letters are drawn as capitals). Used for per-layer probe accuracy, attention shares and training curves.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace sgt::data {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;  // same length; NaN / inf points (and y <= 0 with log_y) are skipped
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int64_t width = 800, height = 500;
  bool log_y = false;
  bool bars = false;  // grouped bars centred on each x instead of lines
};

// The data-to-pixel mapping chosen for a plot (exposed for tests and overlays). The plot area spans columns
// [left, right] and rows [top, bottom]; x0..x1 and y0..y1 are the axis limits (log10 units when log_y).
struct PlotFrame {
  int64_t left = 0, right = 0, top = 0, bottom = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool log_y = false;
  double px(double x) const;  // column of data x (fractional)
  double py(double y) const;  // row of data y (fractional; y in data units, log applied here)
};
PlotFrame plot_frame(const std::vector<PlotSeries>& series, const PlotOptions& opt);

Image plot_lines(const std::vector<PlotSeries>& series, const PlotOptions& opt);
void write_plot_png(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& opt);

// The colour of series i (tab10 palette, cycling).
std::array<uint8_t, 3> plot_color(size_t i);
// Draws text with the 5x7 font at (x, y) = top-left, `scale` pixels per font dot; returns the width drawn.
int64_t draw_text(Image& img, int64_t x, int64_t y, const std::string& text, std::array<uint8_t, 3> rgb, int64_t scale = 1);

}  // namespace sgt::data
