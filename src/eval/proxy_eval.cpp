#include "eval/proxy_eval.h"

#include <chrono>

#include "core/error.h"
#include "data/plot.h"
#include "data/resize.h"
#include "data/webdataset.h"
#include "infer/generate.h"

namespace sgt::eval {

std::vector<train::TrainSample> load_proxy_samples(const train::SourceConfig& source, const train::ImageSizes& sizes,
                                                   std::shared_ptr<const text::Tokenizer> tok, int64_t limit,
                                                   uint64_t seed) {
  SGT_CHECK(source.kind == train::SourceKind::kProxy, "eval.proxy", "source '{}' is {}, not a proxy task", source.name,
            name_of(source.kind));
  train::SampleDecoder dec(source, 0, sizes, std::move(tok));
  data::WdsReader reader(data::expand_shard_list(source.shards));
  std::vector<train::TrainSample> out;
  data::WdsSample raw;
  while (static_cast<int64_t>(out.size()) < limit && reader.next(raw)) {
    Rng rng = Rng::derive(seed, hash64(raw.key));  // as the loader: fixed per (seed, key)
    out.push_back(dec.decode(raw, rng));
  }
  SGT_CHECK(!out.empty(), "eval.proxy", "no samples in {}", fmt::join(source.shards, ", "));
  return out;
}

ProxyEvalResult evaluate_proxy(model::Bagel& m, model::AutoEncoder& ae, const text::Tokenizer& tok,
                               const std::vector<train::TrainSample>& samples, data::ProxyTaskKind task,
                               const infer::ImageGenOptions& opt, const SegMatchOptions& seg) {
  const auto t0 = std::chrono::steady_clock::now();
  ProxyEvalResult r;
  r.task = task;
  torch::NoGradGuard no_grad;
  m->eval();
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    SGT_CHECK(s.images.size() == 2, "eval.proxy", "sample {} has {} images, expected input and target", s.key,
              s.images.size());
    const auto& in = s.images[0];
    const auto& gt = s.images[1];
    infer::ImageGenOptions o = opt;
    o.seed = opt.seed + i;
    const infer::ModelRef ref(m, ae, tok);
    auto gen = infer::proxy_generate(ref, {in, s.text, {in.width, in.height, gt.width, gt.height}, o, "", {}, {}});
    double score = 0;
    if (task == data::ProxyTaskKind::kSegment) {
      const auto mr = matched_instance_iou(gen, gt, seg);
      r.mean_iou += mr.mean_iou;
      r.precision += mr.precision;
      r.recall += mr.recall;
      score = mr.mean_iou;
      r.foreground_iou += foreground_iou(gen, gt, seg);
    } else if (task == data::ProxyTaskKind::kEdge) {
      score = edge_f1(gen, gt).f1;
    } else if (task == data::ProxyTaskKind::kDepth) {
      score = depth_metrics(gen, gt).delta1;
    } else {  // reconstruction-like targets: PSNR-free proxy, 1 - mean absolute error in [0, 1]
      double err = 0;
      for (size_t k = 0; k < gen.pixels.size(); ++k) err += std::abs(int(gen.pixels[k]) - int(gt.pixels[k]));
      score = 1.0 - err / (255.0 * static_cast<double>(gen.pixels.size()));
    }
    r.per_sample.push_back(score);
    r.score += score;
    if (samples.size() >= 2) {
      const auto& other = samples[(i + 1) % samples.size()].images[0];
      auto swapped =
          infer::proxy_generate(ref, {other, s.text, {other.width, other.height, gt.width, gt.height}, o, "", {}, {}});
      double diff = 0;
      for (size_t k = 0; k < gen.pixels.size(); ++k) diff += std::abs(int(gen.pixels[k]) - int(swapped.pixels[k]));
      r.input_sensitivity += diff / (255.0 * static_cast<double>(gen.pixels.size()));
    }
    r.generated.push_back(std::move(gen));
  }
  const double n = static_cast<double>(samples.size());
  if (samples.size() >= 2) r.input_sensitivity /= n;
  r.mean_iou /= n;
  r.precision /= n;
  r.recall /= n;
  r.foreground_iou /= n;
  r.score /= n;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

data::Image proxy_grid(const std::vector<train::TrainSample>& samples,
                       const std::vector<std::vector<data::Image>>& generated_columns,
                       const std::vector<std::string>& labels, int64_t cell) {
  const int64_t gap = 4, header = labels.empty() ? 0 : 14;
  const int64_t cols = 2 + static_cast<int64_t>(generated_columns.size());
  const int64_t rows = static_cast<int64_t>(samples.size());
  data::Image grid(cols * cell + (cols + 1) * gap, header + rows * cell + (rows + 1) * gap, 3, 255);
  auto paste = [&](const data::Image& img, int64_t col, int64_t row, bool nearest) {
    const data::Image rgb = img.channels == 3 ? img : data::convert_channels(img, 3);
    const data::Image c = (rgb.width == cell && rgb.height == cell)
                              ? rgb
                              : (nearest ? data::resize_nearest(rgb, cell, cell) : data::resize_bicubic(rgb, cell, cell));
    const int64_t x0 = gap + col * (cell + gap), y0 = header + gap + row * (cell + gap);
    for (int64_t y = 0; y < cell; ++y) std::copy_n(c.row(y), cell * 3, grid.at(y0 + y, x0));
  };
  for (int64_t r = 0; r < rows; ++r) {
    paste(samples[r].images[0], 0, r, false);
    for (size_t g = 0; g < generated_columns.size(); ++g)
      if (r < static_cast<int64_t>(generated_columns[g].size())) paste(generated_columns[g][r], 1 + g, r, true);
    paste(samples[r].images[1], cols - 1, r, true);
  }
  for (size_t i = 0; i < labels.size() && i < static_cast<size_t>(cols); ++i)
    data::draw_text(grid, gap + static_cast<int64_t>(i) * (cell + gap), 3, labels[i], {0, 0, 0});
  return grid;
}

}  // namespace sgt::eval
