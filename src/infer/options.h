#pragma once
// Inference options (torch-free, so CLI files can fill them without the torch headers).
#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "core/enum_names.h"

namespace sgt::infer {

// How CFG rescales the guided velocity (docs/inference.md, "Classifier-free guidance"): by the norm of the whole
// velocity, per token over channels, or (editing) per token against the text-guided one.
enum class RenormType { kGlobal, kChannel, kTextChannel };
constexpr auto enum_names(RenormType) {
  return std::array{EnumName{RenormType::kGlobal, "global"}, EnumName{RenormType::kChannel, "channel"},
                    EnumName{RenormType::kTextChannel, "text_channel"}};
}

// Classifier-free guidance of docs/inference.md, "Classifier-free guidance".
// How input sizes left at 0 are chosen (infer/app.h, ChatArgs): BAGEL's resize rules (for chat: Bagel.chat's, or
// InterleaveInferencer's VAE-then-ViT sizing), or the input size rounded down.
enum class ResizeRule { kBagel, kInferencer, kKeep };
constexpr auto enum_names(ResizeRule) {
  return std::array{EnumName{ResizeRule::kBagel, "bagel"}, EnumName{ResizeRule::kInferencer, "inferencer"},
                    EnumName{ResizeRule::kKeep, "keep"}};
}
// The dtype the weights are used in (the fp32 / bf16 short names are accepted too).
enum class WeightDtype { kFloat32, kBfloat16 };
constexpr auto enum_names(WeightDtype) {
  return std::array{EnumName{WeightDtype::kFloat32, "float32"}, EnumName{WeightDtype::kBfloat16, "bfloat16"},
                    EnumName{WeightDtype::kFloat32, "fp32"}, EnumName{WeightDtype::kBfloat16, "bf16"}};
}

struct CfgParams {
  double text_scale = 4.0;
  double img_scale = 1.5;
  double interval_lo = 0.4, interval_hi = 1.0;
  RenormType renorm_type = RenormType::kGlobal;
  double renorm_min = 0.0;
  void validate() const;
  // Scales in force at the (shifted) time t: both 1 outside (lo, hi].
  std::pair<double, double> scales_at(double t) const;
};

struct ImageGenOptions {
  int64_t steps = 50;  // schedule points; steps - 1 model evaluations per branch
  double timestep_shift = 3.0;
  double cfg_text_scale = 4.0;
  double cfg_img_scale = 1.5;
  double cfg_interval_lo = 0.4, cfg_interval_hi = 1.0;
  RenormType cfg_renorm_type = RenormType::kGlobal;
  double cfg_renorm_min = 0.0;
  uint64_t seed = 0;
  template <class V>
  void visit(V&& v) {
    v("steps", steps); v("timestep_shift", timestep_shift); v("cfg_text_scale", cfg_text_scale);
    v("cfg_img_scale", cfg_img_scale); v("cfg_interval_lo", cfg_interval_lo); v("cfg_interval_hi", cfg_interval_hi);
    v("cfg_renorm_type", cfg_renorm_type); v("cfg_renorm_min", cfg_renorm_min); v("seed", seed);
  }
  void validate() const;
  CfgParams cfg() const {
    return CfgParams{cfg_text_scale, cfg_img_scale, cfg_interval_lo, cfg_interval_hi, cfg_renorm_type, cfg_renorm_min};
  }
};

// Understanding decoding (docs/inference.md, "Text decoding").
struct TextGenOptions {
  int64_t max_length = 512;  // model evaluations (the start token included), as BAGEL's max_length
  bool do_sample = false;    // false: greedy argmax
  double temperature = 1.0;  // sampling: softmax(logits / temperature)
  bool think = false;        // prepend the think system prompt (docs/inference.md, "Think mode")
  uint64_t seed = 0;
  template <class V>
  void visit(V&& v) {
    v("max_length", max_length); v("do_sample", do_sample); v("temperature", temperature); v("think", think);
    v("seed", seed);
  }
  void validate() const;
};

}  // namespace sgt::infer
