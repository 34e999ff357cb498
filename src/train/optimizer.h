#pragma once
// AdamW over a flat fp32 master copy, with data-parallel gradient reduction and optional ZeRO-style sharding of
// the master weights and both moments (docs/distributed.md). Same math as torch.optim.AdamW (decoupled weight
// decay, bias correction) after torch.nn.utils.clip_grad_norm_.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "train/distributed.h"

namespace sgt::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-15, weight_decay = 0.0;
  bool shard = false;     // each rank keeps only its 1/world_size of master, exp_avg, exp_avg_sq
  int64_t bucket_mb = 25;  // gradient / parameter traffic goes in fp32 buckets of this size
  int64_t bucket_numel = 0;  // > 0: elements per rank per bucket instead (tests use tiny buckets)
};

struct StepResult {
  double grad_norm = 0;  // global L2 norm of the summed gradients, before clipping
  bool skipped = false;  // the norm was not finite: nothing changed except that the grads were zeroed
};

class AdamW {
 public:
  // params: trainable parameters (any float dtype, contiguous, one device, identical on every rank: see
  // broadcast_parameters). The fp32 master copy and both moments are flat buffers on that device. dist may be null.
  AdamW(std::vector<torch::Tensor> params, AdamWOptions opt, std::shared_ptr<Dist> dist);

  // 1) sum gradients over ranks (bucketed all-reduce; reduce-scatter when sharded) 2) global L2 norm 3) not finite:
  // zero the grads and return skipped 4) clip like clip_grad_norm_ (max_grad_norm <= 0: no clipping) 5) AdamW
  // update 6) write the new values into the params (all-gather when sharded) 7) zero the grads.
  // Collective: every rank calls it with the same lr and max_grad_norm.
  StepResult step(double lr, double max_grad_norm);
  int64_t steps() const { return step_; }

  // This rank's state: "step" (int64 [1]), "layout" (int64 [4]: numel, shard size, shard count, shard index),
  // "master", "exp_avg", "exp_avg_sq" (fp32 [shard size]). load_state_dict checks names, shapes and layout, then
  // writes the loaded master into the params (an all-gather when sharded, so every rank calls it).
  std::map<std::string, torch::Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, torch::Tensor>& s);

  int64_t numel() const { return numel_; }            // trainable elements in all params
  int64_t shard_begin() const { return shard_begin_; }  // this rank's first flat index
  int64_t shard_size() const { return shard_size_; }    // length of master (padded; the tail past numel is 0)
  const torch::Tensor& master() const { return master_; }
  const std::vector<torch::Tensor>& params() const { return params_; }
  // A flat fp32 buffer laid out like master() -> one fp32 tensor per param (full values, all-gather when sharded).
  std::vector<torch::Tensor> unflatten(const torch::Tensor& flat_shard) const;

 private:
  void gather_grads_into(int64_t begin, int64_t len, torch::Tensor dst) const;       // flat range -> dst [len]
  void scatter_into_params(int64_t begin, int64_t len, const torch::Tensor& src) const;  // src [len] -> params
  void write_params(const torch::Tensor& flat_shard);  // master-shaped values -> params (all-gather if sharded)
  void zero_grads();
  int64_t shard_world() const { return opt_.shard && dist_ ? dist_->world_size() : 1; }
  int64_t bucket_elems() const;

  std::vector<torch::Tensor> params_;
  std::vector<int64_t> offsets_;  // flat offset of each param; offsets_.back() == numel_
  AdamWOptions opt_;
  std::shared_ptr<Dist> dist_;
  int64_t numel_ = 0, shard_begin_ = 0, shard_size_ = 0, step_ = 0;
  torch::Tensor master_, exp_avg_, exp_avg_sq_, grad_;  // fp32 [shard_size_]
};

// Copies root's values of every param to all ranks (call once before building the optimizer).
void broadcast_parameters(Dist& dist, const std::vector<torch::Tensor>& params, int64_t root = 0);

}  // namespace sgt::train
