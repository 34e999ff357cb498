#pragma once
// Proxy-task quality of a model on held-out samples (the `sgt tune` start/end measurement): for each sample the
// model generates the target from (input image, instruction) with infer::proxy_generate, and the result is scored
// against the ground-truth target: matched-instance IoU for segmentation, edge F1 for edges, depth metrics for
// depth. A PNG grid (input | generated | ground truth, one row per sample) shows the outputs.
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "eval/seg_metrics.h"
#include "infer/options.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "text/tokenizer.h"
#include "train/samples.h"

namespace sgt::eval {

struct ProxyEvalResult {
  data::ProxyTaskKind task = data::ProxyTaskKind::kSegment;
  double mean_iou = 0, precision = 0, recall = 0;  // segment: SegMatchResult averaged over samples
  // segment: IoU of "some object here" (pred max channel > background_max) with the GT's non-black pixels, averaged
  // over samples; insensitive to the colours, so it shows localisation before the maps are clean.
  double foreground_iou = 0;
  double score = 0;                                // the task's headline number (IoU / edge F1 / depth delta1)
  // Does the generation read its input at all? Mean |pixel change| / 255 when sample i's input image is replaced by
  // sample i+1's (same instruction, same noise): 0 = the output ignores the input (with >= 2 samples).
  double input_sensitivity = 0;
  std::vector<double> per_sample;
  std::vector<data::Image> generated;
  double seconds = 0;
};

// Reads the first `limit` samples of `source` (a proxy source) from its shards, decoded as in training.
std::vector<train::TrainSample> load_proxy_samples(const train::SourceConfig& source, const train::ImageSizes& sizes,
                                                   std::shared_ptr<const text::Tokenizer> tok, int64_t limit,
                                                   uint64_t seed);

ProxyEvalResult evaluate_proxy(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                               const std::vector<train::TrainSample>& samples, data::ProxyTaskKind task,
                               const infer::ImageGenOptions& opt, const SegMatchOptions& seg = {});

// Rows of (input | generated... | target) cells, each cell `cell` pixels square (bicubic for natural images,
// nearest for maps); `columns` generated images per row (e.g. start and end of a run) with optional header labels.
data::Image proxy_grid(const std::vector<train::TrainSample>& samples,
                       const std::vector<std::vector<data::Image>>& generated_columns,
                       const std::vector<std::string>& labels, int64_t cell = 96);

}  // namespace sgt::eval
