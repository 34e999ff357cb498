#pragma once
// Quality of generated dense targets (segmentation colour maps, edge maps, depth maps) against ground truth.
// Torch-free. The segmentation metric accepts any colouring: predicted colour regions are matched to ground-truth
// instances by the Hungarian algorithm, so the model need not reproduce the exact palette.
#include <cstdint>
#include <vector>

#include "data/image.h"

namespace sgt::eval {

struct SegMatchOptions {
  int64_t color_tolerance = 40;    // L1 distance in RGB below which pred pixels join a colour cluster
  int64_t min_region_pixels = 16;  // smaller pred regions are dropped (count as background)
  int64_t background_max = 40;     // pred pixels with max channel <= this are background
  bool split_components = false;   // split each colour cluster into 4-connected components
};

struct SegMatchResult {
  double mean_iou = 0;               // mean over GT instances, unmatched count as 0
  double precision = 0, recall = 0;  // at IoU 0.5: matches / pred regions, matches / GT instances
  int64_t gt_instances = 0, pred_regions = 0;
  std::vector<double> per_instance_iou;  // [gt_instances], GT instances in raster order of first pixel
};

// gt: colour-coded instance map (exact colours, black background, as rendered by data::render_instance_map);
// pred: generated RGB image of the same size (noisy colours). Pred regions = colour clusters: the distinct colours
// of non-background pixels, most frequent first, join the nearest cluster whose seed colour is within
// color_tolerance (L1) or seed a new one. Hungarian matching maximises the total IoU. With no GT instances the
// scores are 1 when no region is predicted and 0 otherwise. Throws sgt::Error on size mismatch.
SegMatchResult matched_instance_iou(const data::Image& pred, const data::Image& gt, const SegMatchOptions& opt = {});

// IoU of "some object here": pred pixels that are not background (max channel > background_max) against the GT's
// non-black pixels. Blind to colours, so it measures localisation before the maps' colours are clean; 1 when both
// are empty. Throws sgt::Error on size mismatch.
double foreground_iou(const data::Image& pred, const data::Image& gt, const SegMatchOptions& opt = {});

// Label image of the pred regions ([h, w], -1 = background), exposed for tests and the CLI's debug output.
std::vector<int32_t> cluster_regions(const data::Image& pred, const SegMatchOptions& opt, int64_t* regions);

// ---- edges ----
struct EdgeOptions {
  int64_t threshold = 128;  // pred edge pixel: gray value >= threshold (gt edges: >= 128)
  double tolerance_px = 2;  // a pred edge pixel within this Euclidean distance of a GT edge pixel is correct
};
struct EdgeResult {
  double precision = 0, recall = 0, f1 = 0;
  int64_t pred_edges = 0, gt_edges = 0, matched_pred = 0, matched_gt = 0;  // counts, for dataset-level pooling
};
// Tolerance-based precision/recall (a simplification of the BSDS bipartite correspondence). Empty sets score 1.
EdgeResult edge_f1(const data::Image& pred, const data::Image& gt, const EdgeOptions& opt = {});
// Best F1 over the thresholds (one image's "OIS"); result.pred_edges etc. belong to the best threshold.
EdgeResult edge_best_f1(const data::Image& pred, const data::Image& gt, const std::vector<int64_t>& thresholds,
                        double tolerance_px = 2, int64_t* best_threshold = nullptr);

// ---- depth ----
enum class DepthAlign { kNone, kMedianScale, kLeastSquaresScaleShift };
struct DepthOptions {
  DepthAlign align = DepthAlign::kMedianScale;
  double min_gt = 1e-6;  // pixels with gt <= min_gt are invalid (excluded)
};
struct DepthResult {
  double abs_rel = 0, rmse = 0, delta1 = 0;  // delta1: share of max(p/g, g/p) < 1.25
  double scale = 1, shift = 0;               // applied alignment: p' = scale * p + shift
  int64_t valid = 0;
};
// pred, gt: same length. Pred values <= 0 after alignment are clamped to min_gt for the ratios.
DepthResult depth_metrics(const std::vector<double>& pred, const std::vector<double>& gt, const DepthOptions& opt = {});
// Images: gray (channel 0 of 1-channel, luma of RGB), values 0..255 as depth units.
DepthResult depth_metrics(const data::Image& pred, const data::Image& gt, const DepthOptions& opt = {});

}  // namespace sgt::eval
