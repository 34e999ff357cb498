#pragma once
// SGT proxy tasks (docs/data.md, "Proxy tasks", "Mask rendering"): every task turns a source (RGB image, optional
// instance masks, optional depth map) into (input image, instruction, target image); the target is what the model
// generates.
//
//   segment   random distinct colour per instance, painted largest first, black background (SAM show_anns convention;
//             SGT's own rendering is unpublished, see docs/data.md, "Mask rendering"). Masks are rendered at their
//             own size and resized to the image with NEAREST (default, UniMRG) or bicubic (SGT's PIL default, blends
//             edges). color_mode "position" instead colours each instance by its mask's centroid (Painter's
//             convention for instances, docs/data.md, "Mask rendering"): a target the model can predict from the
//             input rather than sample.
//   edge      Canny edges (white on black)            depth     min-max normalised depth map, near = bright
//   recon     identity                                 inpaint   one rectangle filled; target = clean image
//   mae       random patches filled (masked image modelling); target = clean image
//   denoise / deblur / derain / super_resolution / enhance: degraded input, clean target (cheap degradations)
// All randomness comes from the caller's Rng, which the caller seeds per image (e.g. Rng::derive(seed, key hash)),
// so a sample's colours and instruction are fixed by its seed.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "core/rng.h"
#include "data/image.h"
#include "data/instructions.h"
#include "data/rle.h"
#include "data/sa1b.h"

namespace sgt::data {

struct ProxySource {
  Image image;                 // RGB, [H, W, 3]
  std::vector<Rle> instances;  // instance masks (all the same size; usually the image size)
  Image depth;                 // optional, 1 channel, larger = farther; any size (resized to the image)
};

struct ProxyExample {
  std::string task;
  Image input;  // what the model sees (degraded for low-level tasks)
  std::string instruction;
  Image target;  // what the model generates
};

enum class ProxyTaskKind {
  kSegment, kEdge, kDepth, kRecon, kInpaint, kMae, kDenoise, kDeblur, kDerain, kSuperResolution, kEnhance
};
constexpr auto enum_names(ProxyTaskKind) {
  using K = ProxyTaskKind;
  return std::array{EnumName{K::kSegment, "segment"}, EnumName{K::kEdge, "edge"},         EnumName{K::kDepth, "depth"},
                    EnumName{K::kRecon, "recon"},     EnumName{K::kInpaint, "inpaint"},   EnumName{K::kMae, "mae"},
                    EnumName{K::kDenoise, "denoise"}, EnumName{K::kDeblur, "deblur"},     EnumName{K::kDerain, "derain"},
                    EnumName{K::kSuperResolution, "super_resolution"}, EnumName{K::kEnhance, "enhance"}};
}
// random: SAM / SGT (a random distinct colour per instance); position: the colour comes from the centroid (Painter).
enum class ColorMode { kRandom, kPosition };
constexpr auto enum_names(ColorMode) {
  return std::array{EnumName{ColorMode::kRandom, "random"}, EnumName{ColorMode::kPosition, "position"}};
}

struct ProxyTaskConfig {
  ProxyTaskKind task = ProxyTaskKind::kSegment;
  MaskResize mask_resize = MaskResize::kNearest;
  int64_t min_color_distance = 48;  // L1 distance between instance colours (and to black) when achievable
  ColorMode color_mode = ColorMode::kRandom;
  // Masks per sample above this make the sample bad (kTooLarge) before any work on them; see kDefaultMaxMasks.
  int64_t max_masks = kDefaultMaxMasks;
  double canny_sigma = 1.4, canny_low = 50, canny_high = 120;  // on the L2 Sobel magnitude of 0..255 gray
  bool depth_near_bright = true;
  double inpaint_min_frac = 0.25, inpaint_max_frac = 0.5;  // rectangle side as a fraction of the image side
  int64_t mae_patch = 16;
  double mae_ratio = 0.5;
  int64_t mask_fill = 128;
  double noise_sigma = 25;   // denoise: Gaussian noise std on 0..255
  double blur_sigma = 2.0;   // deblur: Gaussian blur std in pixels
  int64_t rain_streaks_per_64k = 120;  // derain: streaks per 65536 pixels
  int64_t sr_factor = 4;     // super_resolution: bicubic down then up by this factor
  double enhance_gain = 0.35;  // enhance: input = clean * gain (low light)

  template <class V>
  void visit(V&& v) {
    v("task", task);
    v("mask_resize", mask_resize);
    v("min_color_distance", min_color_distance);
    v("color_mode", color_mode);
    v("max_masks", max_masks);
    v("canny_sigma", canny_sigma);
    v("canny_low", canny_low);
    v("canny_high", canny_high);
    v("depth_near_bright", depth_near_bright);
    v("inpaint_min_frac", inpaint_min_frac);
    v("inpaint_max_frac", inpaint_max_frac);
    v("mae_patch", mae_patch);
    v("mae_ratio", mae_ratio);
    v("mask_fill", mask_fill);
    v("noise_sigma", noise_sigma);
    v("blur_sigma", blur_sigma);
    v("rain_streaks_per_64k", rain_streaks_per_64k);
    v("sr_factor", sr_factor);
    v("enhance_gain", enhance_gain);
  }
  void validate() const;
};

const std::vector<std::string>& proxy_task_names();  // the names of ProxyTaskKind, in table order
// Name of the instruction list of a task (e.g. "inpaint" and "mae" -> "inpainting", "deblur" -> "deblurring").
std::string instruction_list_for(ProxyTaskKind task);
std::string instruction_list_for(const std::string& task);  // by the task's name

class ProxyTask {
 public:
  virtual ~ProxyTask() = default;
  std::string name() const { return std::string(name_of(cfg_.task)); }
  ProxyTaskKind kind() const { return cfg_.task; }
  const ProxyTaskConfig& config() const { return cfg_; }
  // Throws sgt::Error when the source lacks what the task needs (masks, depth) or has the wrong shape, and
  // BadSampleError(kTooLarge) when it holds more than max_masks instance masks.
  ProxyExample make(const ProxySource& src, Rng& rng) const;

  // Implementations are created by make_proxy_task (which validates the config).
  ProxyTask(ProxyTaskConfig cfg, std::shared_ptr<const Instructions> instr)
      : cfg_(std::move(cfg)), instr_(std::move(instr)) {}

 protected:
  // Fills input and target; the instruction is drawn afterwards from the same rng.
  virtual void render(const ProxySource& src, Rng& rng, ProxyExample& out) const = 0;
  ProxyTaskConfig cfg_;
  std::shared_ptr<const Instructions> instr_;
};

std::unique_ptr<ProxyTask> make_proxy_task(const ProxyTaskConfig& cfg, std::shared_ptr<const Instructions> instr);

// A weighted mixture of proxy tasks (e.g. segment 2 : recon 1); one task is drawn per example from the rng.
struct ProxyMixConfig {
  std::vector<ProxyTaskConfig> tasks;
  std::vector<double> weights;  // one per task, > 0 (relative)
  template <class V>
  void visit(V&& v) {
    v("tasks", tasks);
    v("weights", weights);
  }
  void validate() const;
};

class ProxyMixture {
 public:
  ProxyMixture(const ProxyMixConfig& cfg, std::shared_ptr<const Instructions> instr);
  ProxyExample make(const ProxySource& src, Rng& rng) const;
  size_t size() const { return tasks_.size(); }

 private:
  std::vector<std::unique_ptr<ProxyTask>> tasks_;
  std::vector<double> cumulative_;
};

// ---- building blocks (exposed for tests and the CLI) ----

// Instance map: colours[i] is the colour of instances[i]; painted in order of decreasing area (ties: index).
// Returns [h, w, 3] at the masks' size. colours are drawn distinct (and away from black) with `rng`.
Image render_instance_map(const std::vector<Rle>& instances, Rng& rng, int64_t min_color_distance,
                          std::vector<std::array<uint8_t, 3>>* colours = nullptr);
// The same painting with given colours (one per instance).
Image render_instance_map(const std::vector<Rle>& instances, const std::vector<std::array<uint8_t, 3>>& colours);
// Painter-style colours: instance i's colour is a smooth, injective function of its mask's centroid (cx, cy) in
// [0, 1]^2: (64 + 191 cx, 64 + 191 cy, 255 - 191 (cx + cy) / 2), rounded. Every channel is >= 64 (far from the black
// background); centroids 1/24 of the side apart differ by about 8 levels per channel. A mask with no pixels gets the
// centre's colour (it paints nothing).
std::vector<std::array<uint8_t, 3>> position_colours(const std::vector<Rle>& instances);
Image canny_edges(const Image& rgb, double sigma, double low, double high);  // [h, w, 3], 0 or 255
Image gaussian_blur(const Image& img, double sigma);
Image to_gray(const Image& img);  // PIL "L" conversion

// BAGEL's ImageTransform resize rule (MaxLongEdgeMinShortEdgeResize, docs/model.md, "Image transforms").
struct ImageTransformConfig {
  int64_t stride = 16;
  int64_t min_size = 512;
  int64_t max_size = 1024;
  int64_t max_pixels = 14 * 14 * 9 * 1024;
  template <class V>
  void visit(V&& v) {
    v("stride", stride);
    v("min_size", min_size);
    v("max_size", max_size);
    v("max_pixels", max_pixels);
  }
  void validate() const;
};
// Output (width, height) for an input of (width, height); img_num divides max_pixels as in BAGEL.
std::pair<int64_t, int64_t> transform_size(int64_t width, int64_t height, const ImageTransformConfig& cfg,
                                           int64_t img_num = 1);
// Resizes with bicubic (nearest = true for label maps); returns the image unchanged when the size is kept.
Image apply_transform(const Image& img, const ImageTransformConfig& cfg, bool nearest = false, int64_t img_num = 1);

}  // namespace sgt::data
