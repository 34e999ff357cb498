// Dense-target metrics: matched-instance IoU for colour-coded segmentation, tolerance F1 for edges, AbsRel / RMSE /
// delta1 for depth. Hand-checked in tests/eval/test_seg_metrics.cpp; the matching against scipy.
#include "eval/seg_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "core/error.h"
#include "eval/hungarian.h"

namespace sgt::eval {
namespace {

data::Image as_rgb(const data::Image& img, const char* what) {
  SGT_CHECK(!img.empty() && img.width > 0 && img.height > 0, "seg_metrics", "{} image is empty", what);
  return img.channels == 3 ? img : data::convert_channels(img, 3);
}

// The one background rule for predicted pixels (RGB).
bool pred_background(const uint8_t* p, const SegMatchOptions& opt) {
  return std::max({p[0], p[1], p[2]}) <= opt.background_max;
}

uint32_t pack(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }

int64_t l1(uint32_t a, uint32_t b) {
  int64_t d = 0;
  for (int s = 0; s < 24; s += 8) d += std::abs(static_cast<int64_t>((a >> s) & 255) - static_cast<int64_t>((b >> s) & 255));
  return d;
}

// Splits each label into 4-connected components (flood fill); labels stay -1 for background.
int64_t split_components(std::vector<int32_t>& labels, int64_t w, int64_t h) {
  std::vector<int32_t> out(labels.size(), -1);
  std::vector<int64_t> stack;
  int32_t next = 0;
  for (int64_t s = 0; s < static_cast<int64_t>(labels.size()); ++s) {
    if (labels[s] < 0 || out[s] >= 0) continue;
    const int32_t lab = labels[s];
    out[s] = next;
    stack.push_back(s);
    while (!stack.empty()) {
      const int64_t k = stack.back();
      stack.pop_back();
      const int64_t y = k / w, x = k % w;
      const int64_t nb[4] = {x > 0 ? k - 1 : -1, x + 1 < w ? k + 1 : -1, y > 0 ? k - w : -1, y + 1 < h ? k + w : -1};
      for (int64_t n : nb)
        if (n >= 0 && labels[n] == lab && out[n] < 0) {
          out[n] = next;
          stack.push_back(n);
        }
    }
    ++next;
  }
  labels.swap(out);
  return next;
}

}  // namespace

std::vector<int32_t> cluster_regions(const data::Image& pred_in, const SegMatchOptions& opt, int64_t* regions) {
  SGT_CHECK(opt.color_tolerance >= 0 && opt.min_region_pixels >= 0 && opt.background_max >= 0, "seg_metrics",
            "negative option (color_tolerance {}, min_region_pixels {}, background_max {})", opt.color_tolerance,
            opt.min_region_pixels, opt.background_max);
  const data::Image pred = as_rgb(pred_in, "pred");
  const int64_t n = pred.width * pred.height;
  std::unordered_map<uint32_t, int64_t> hist;
  for (int64_t k = 0; k < n; ++k) {
    const uint8_t* p = pred.pixels.data() + k * 3;
    if (pred_background(p, opt)) continue;
    ++hist[pack(p)];
  }
  std::vector<std::pair<uint32_t, int64_t>> colours(hist.begin(), hist.end());
  std::sort(colours.begin(), colours.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;  // frequent first, deterministic ties
  });
  std::vector<uint32_t> seeds;
  std::unordered_map<uint32_t, int32_t> colour_label;
  for (const auto& [c, count] : colours) {
    int64_t best = -1, best_d = opt.color_tolerance + 1;
    for (size_t s = 0; s < seeds.size(); ++s) {
      const int64_t d = l1(seeds[s], c);
      if (d < best_d) best_d = d, best = static_cast<int64_t>(s);
    }
    if (best < 0) {
      best = static_cast<int64_t>(seeds.size());
      seeds.push_back(c);
    }
    colour_label[c] = static_cast<int32_t>(best);
  }
  std::vector<int32_t> labels(n, -1);
  for (int64_t k = 0; k < n; ++k) {
    const uint8_t* p = pred.pixels.data() + k * 3;
    if (pred_background(p, opt)) continue;
    labels[k] = colour_label.at(pack(p));
  }
  int64_t count = static_cast<int64_t>(seeds.size());
  if (opt.split_components) count = split_components(labels, pred.width, pred.height);
  // Drop small regions and renumber the rest 0.. in raster order of first pixel.
  std::vector<int64_t> size(count, 0);
  for (int32_t l : labels)
    if (l >= 0) ++size[l];
  std::vector<int32_t> remap(count, -1);
  int32_t next = 0;
  for (int32_t& l : labels) {
    if (l < 0) continue;
    if (size[l] < opt.min_region_pixels) {
      l = -1;
      continue;
    }
    if (remap[l] < 0) remap[l] = next++;
    l = remap[l];
  }
  if (regions) *regions = next;
  return labels;
}

double foreground_iou(const data::Image& pred_in, const data::Image& gt_in, const SegMatchOptions& opt) {
  const data::Image pred = as_rgb(pred_in, "pred"), gt = as_rgb(gt_in, "gt");
  SGT_CHECK(pred.width == gt.width && pred.height == gt.height, "seg_metrics", "pred is {}x{} but gt is {}x{}",
            pred.width, pred.height, gt.width, gt.height);
  int64_t inter = 0, uni = 0;
  for (int64_t k = 0; k < gt.width * gt.height; ++k) {
    const uint8_t* g = gt.pixels.data() + k * 3;
    const bool pf = !pred_background(pred.pixels.data() + k * 3, opt), gf = (g[0] | g[1] | g[2]) != 0;
    inter += pf && gf;
    uni += pf || gf;
  }
  return uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0;
}

SegMatchResult matched_instance_iou(const data::Image& pred_in, const data::Image& gt_in, const SegMatchOptions& opt) {
  const data::Image gt = as_rgb(gt_in, "gt");
  SGT_CHECK(pred_in.width == gt.width && pred_in.height == gt.height, "seg_metrics",
            "pred is {}x{} but gt is {}x{}", pred_in.width, pred_in.height, gt.width, gt.height);
  int64_t num_pred = 0;
  const std::vector<int32_t> pred = cluster_regions(pred_in, opt, &num_pred);
  const int64_t n = gt.width * gt.height;
  // GT instances: exact non-black colours, numbered in raster order of first pixel.
  std::unordered_map<uint32_t, int32_t> gt_id;
  std::vector<int32_t> gt_lab(n, -1);
  for (int64_t k = 0; k < n; ++k) {
    const uint32_t c = pack(gt.pixels.data() + k * 3);
    if (c == 0) continue;
    auto it = gt_id.try_emplace(c, static_cast<int32_t>(gt_id.size())).first;
    gt_lab[k] = it->second;
  }
  const int64_t num_gt = static_cast<int64_t>(gt_id.size());
  SGT_CHECK(num_gt * num_pred <= int64_t{50'000'000}, "seg_metrics",
            "{} GT instances x {} pred regions is too large; raise color_tolerance or min_region_pixels", num_gt,
            num_pred);
  std::vector<int64_t> gt_area(num_gt, 0), pred_area(num_pred, 0), inter(num_gt * num_pred, 0);
  for (int64_t k = 0; k < n; ++k) {
    if (gt_lab[k] >= 0) ++gt_area[gt_lab[k]];
    if (pred[k] >= 0) ++pred_area[pred[k]];
    if (gt_lab[k] >= 0 && pred[k] >= 0) ++inter[gt_lab[k] * num_pred + pred[k]];
  }
  std::vector<double> iou(num_gt * num_pred, 0.0);
  for (int64_t g = 0; g < num_gt; ++g)
    for (int64_t p = 0; p < num_pred; ++p) {
      const int64_t i = inter[g * num_pred + p];
      if (i > 0) iou[g * num_pred + p] = static_cast<double>(i) / static_cast<double>(gt_area[g] + pred_area[p] - i);
    }
  SegMatchResult r;
  r.gt_instances = num_gt;
  r.pred_regions = num_pred;
  if (num_gt == 0) {
    r.mean_iou = r.precision = r.recall = num_pred == 0 ? 1.0 : 0.0;
    r.recall = 1.0;
    return r;
  }
  const std::vector<int64_t> match = linear_sum_assignment(iou, num_gt, num_pred, /*maximize=*/true);
  r.per_instance_iou.assign(num_gt, 0.0);
  int64_t hits = 0;
  for (int64_t g = 0; g < num_gt; ++g) {
    if (match[g] < 0) continue;
    r.per_instance_iou[g] = iou[g * num_pred + match[g]];
    if (r.per_instance_iou[g] >= 0.5) ++hits;
  }
  double sum = 0;
  for (double v : r.per_instance_iou) sum += v;
  r.mean_iou = sum / static_cast<double>(num_gt);
  r.recall = static_cast<double>(hits) / static_cast<double>(num_gt);
  r.precision = num_pred > 0 ? static_cast<double>(hits) / static_cast<double>(num_pred) : 0.0;
  return r;
}

// ---- edges ----
namespace {

std::vector<uint8_t> gray_of(const data::Image& img, const char* what) {
  SGT_CHECK(!img.empty() && img.width > 0 && img.height > 0, "seg_metrics", "{} image is empty", what);
  const data::Image g = img.channels == 1 ? img : data::convert_channels(img, 1);
  return g.pixels;
}

// mask dilated by a disk of radius r (Euclidean).
std::vector<uint8_t> dilate(const std::vector<uint8_t>& m, int64_t w, int64_t h, double r) {
  const int64_t ri = static_cast<int64_t>(std::floor(r));
  std::vector<std::pair<int64_t, int64_t>> offs;
  for (int64_t dy = -ri; dy <= ri; ++dy)
    for (int64_t dx = -ri; dx <= ri; ++dx)
      if (static_cast<double>(dx * dx + dy * dy) <= r * r + 1e-9) offs.emplace_back(dx, dy);
  std::vector<uint8_t> out(m.size(), 0);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      if (!m[y * w + x]) continue;
      for (const auto& [dx, dy] : offs) {
        const int64_t xx = x + dx, yy = y + dy;
        if (xx >= 0 && xx < w && yy >= 0 && yy < h) out[yy * w + xx] = 1;
      }
    }
  return out;
}

EdgeResult edge_counts(const std::vector<uint8_t>& pg, const std::vector<uint8_t>& gg, int64_t w, int64_t h,
                       int64_t threshold, double tol) {
  std::vector<uint8_t> pm(pg.size()), gm(gg.size());
  for (size_t k = 0; k < pg.size(); ++k) {
    pm[k] = pg[k] >= threshold;
    gm[k] = gg[k] >= 128;
  }
  const std::vector<uint8_t> gd = dilate(gm, w, h, tol), pd = dilate(pm, w, h, tol);
  EdgeResult r;
  for (size_t k = 0; k < pm.size(); ++k) {
    r.pred_edges += pm[k];
    r.gt_edges += gm[k];
    r.matched_pred += pm[k] && gd[k];
    r.matched_gt += gm[k] && pd[k];
  }
  r.precision = r.pred_edges > 0 ? static_cast<double>(r.matched_pred) / r.pred_edges : (r.gt_edges == 0 ? 1.0 : 0.0);
  r.recall = r.gt_edges > 0 ? static_cast<double>(r.matched_gt) / r.gt_edges : 1.0;
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
  return r;
}

}  // namespace

EdgeResult edge_f1(const data::Image& pred, const data::Image& gt, const EdgeOptions& opt) {
  SGT_CHECK(pred.width == gt.width && pred.height == gt.height, "seg_metrics", "edge maps differ in size: {}x{} vs {}x{}",
            pred.width, pred.height, gt.width, gt.height);
  SGT_CHECK(opt.tolerance_px >= 0 && opt.threshold >= 0 && opt.threshold <= 256, "seg_metrics",
            "bad edge options (threshold {}, tolerance {})", opt.threshold, opt.tolerance_px);
  return edge_counts(gray_of(pred, "pred"), gray_of(gt, "gt"), gt.width, gt.height, opt.threshold, opt.tolerance_px);
}

EdgeResult edge_best_f1(const data::Image& pred, const data::Image& gt, const std::vector<int64_t>& thresholds,
                        double tolerance_px, int64_t* best_threshold) {
  SGT_CHECK(!thresholds.empty(), "seg_metrics", "edge_best_f1 needs at least one threshold");
  EdgeResult best;
  bool first = true;
  for (int64_t t : thresholds) {
    const EdgeResult r = edge_f1(pred, gt, EdgeOptions{t, tolerance_px});
    if (first || r.f1 > best.f1) {
      best = r;
      first = false;
      if (best_threshold) *best_threshold = t;
    }
  }
  return best;
}

// ---- depth ----
namespace {

double median(std::vector<double> v) {
  SGT_ASSERT(!v.empty());
  const size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  if (v.size() % 2) return v[m];
  const double hi = v[m];
  return 0.5 * (hi + *std::max_element(v.begin(), v.begin() + m));
}

}  // namespace

DepthResult depth_metrics(const std::vector<double>& pred, const std::vector<double>& gt, const DepthOptions& opt) {
  SGT_CHECK(pred.size() == gt.size(), "seg_metrics", "depth pred has {} values but gt has {}", pred.size(), gt.size());
  std::vector<double> p, g;
  for (size_t k = 0; k < gt.size(); ++k) {
    SGT_CHECK(std::isfinite(pred[k]) && std::isfinite(gt[k]), "seg_metrics", "non-finite depth at index {}", k);
    if (gt[k] > opt.min_gt) {
      p.push_back(pred[k]);
      g.push_back(gt[k]);
    }
  }
  SGT_CHECK(!g.empty(), "seg_metrics", "depth gt has no valid pixel (all <= {})", opt.min_gt);
  DepthResult r;
  r.valid = static_cast<int64_t>(g.size());
  if (opt.align == DepthAlign::kMedianScale) {
    const double mp = median(p);
    SGT_CHECK(mp > 0, "seg_metrics", "median scale alignment needs a positive pred median (got {})", mp);
    r.scale = median(g) / mp;
  } else if (opt.align == DepthAlign::kLeastSquaresScaleShift) {
    // min_{s,t} sum (s p + t - g)^2: the 2x2 normal equations.
    double sp = 0, spp = 0, sg = 0, spg = 0;
    const double n = static_cast<double>(g.size());
    for (size_t k = 0; k < g.size(); ++k) sp += p[k], spp += p[k] * p[k], sg += g[k], spg += p[k] * g[k];
    const double det = n * spp - sp * sp;
    if (std::abs(det) > 1e-12 * std::max(1.0, n * spp)) {
      r.scale = (n * spg - sp * sg) / det;
      r.shift = (sg - r.scale * sp) / n;
    } else {  // constant prediction: only a shift is identifiable
      r.scale = 0;
      r.shift = sg / n;
    }
  }
  double abs_rel = 0, sq = 0;
  int64_t good = 0;
  for (size_t k = 0; k < g.size(); ++k) {
    const double q = std::max(r.scale * p[k] + r.shift, opt.min_gt);
    abs_rel += std::abs(q - g[k]) / g[k];
    sq += (q - g[k]) * (q - g[k]);
    good += std::max(q / g[k], g[k] / q) < 1.25;
  }
  const double n = static_cast<double>(g.size());
  r.abs_rel = abs_rel / n;
  r.rmse = std::sqrt(sq / n);
  r.delta1 = static_cast<double>(good) / n;
  return r;
}

DepthResult depth_metrics(const data::Image& pred, const data::Image& gt, const DepthOptions& opt) {
  SGT_CHECK(pred.width == gt.width && pred.height == gt.height, "seg_metrics", "depth maps differ in size: {}x{} vs {}x{}",
            pred.width, pred.height, gt.width, gt.height);
  const std::vector<uint8_t> pg = gray_of(pred, "pred"), gg = gray_of(gt, "gt");
  return depth_metrics(std::vector<double>(pg.begin(), pg.end()), std::vector<double>(gg.begin(), gg.end()), opt);
}

}  // namespace sgt::eval
