#pragma once
// Exponential moving average of the trainable weights in fp32 (BAGEL: decay 0.9999, once per optimizer step,
// ema = decay * ema + (1 - decay) * param, docs/training.md, "BAGEL's reference recipe").
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace sgt::train {

class AdamW;

class Ema {
 public:
  // Per-parameter fp32 copies of `named_params`; update() reads the params (cast to fp32).
  Ema(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, double decay);
  // Flat mode, as BAGEL does it on FSDP's flat params: the EMA follows the optimizer's fp32 master buffer (so bf16
  // params do not round the average), sharded exactly like it. `names` name the optimizer's params in order.
  // The optimizer must outlive this object.
  Ema(const AdamW& optimizer, std::vector<std::string> names, double decay);

  void update();
  double decay() const { return decay_; }

  // Per-parameter mode: names = parameter names, fp32 tensors. Flat mode: {"ema_flat": this rank's shard}.
  std::map<std::string, torch::Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, torch::Tensor>& s);  // checks names and shapes
  // Full named fp32 tensors in both modes (flat + sharded: an all-gather, every rank calls it): for ema.safetensors.
  std::map<std::string, torch::Tensor> named_tensors() const;
  // Writes the EMA values into the given params (cast to their dtype, no grad), e.g. to evaluate with EMA
  // weights; every name must be known. Flat + sharded: collective.
  void copy_to(const std::vector<std::pair<std::string, torch::Tensor>>& named_params) const;

 private:
  double decay_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> sources_, values_;  // per-parameter mode
  const AdamW* optimizer_ = nullptr;            // flat mode
  torch::Tensor flat_;                          // flat mode: fp32 [optimizer shard size]
};

}  // namespace sgt::train
