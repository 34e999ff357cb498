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
  // ZeRO-2 (with shard) / overlapped DDP reduction (without): each bucket is reduced (reduce-scattered when sharded)
  // from post-accumulate-grad hooks as soon as all its params have their gradient, and each param's .grad is
  // released once all its buckets are reduced, so the full gradient never exists at once. The caller must call
  // finish_backward() after every backward (it reduces the buckets of params that got no gradient, in the same
  // order on every rank). Sharded, the flat layout becomes bucket-interleaved (see optimizer.cpp).
  bool reduce_in_backward = false;
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
  ~AdamW();  // removes the gradient hooks
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // 1) sum gradients over ranks (bucketed all-reduce; reduce-scatter when sharded) 2) global L2 norm 3) not finite:
  // zero the grads and return skipped 4) clip like clip_grad_norm_ (max_grad_norm <= 0: no clipping) 5) AdamW
  // update 6) write the new values into the params (all-gather when sharded) 7) zero the grads.
  // Collective: every rank calls it with the same lr and max_grad_norm.
  StepResult step(double lr, double max_grad_norm);
  int64_t steps() const { return step_; }

  // reduce_in_backward only (no-op otherwise): reduces every bucket not yet reduced, highest first, reading missing
  // gradients as 0, and re-arms the hooks for the next backward. Collective.
  void finish_backward();
  // reduce_in_backward: the most gradient elements held in params' .grad at once since construction.
  int64_t peak_live_grad_numel() const { return peak_live_; }

  // This rank's state: "step" (int64 [1]), "layout" (int64 [5]: numel, shard size, shard count, shard index, piece
  // size; the piece is 0 unless reduce_in_backward interleaves the shards by bucket; 4-entry layouts of older
  // checkpoints load as piece 0), "master", "exp_avg", "exp_avg_sq" (fp32 [shard size]). load_state_dict checks names,
  // shapes and layout, then writes the loaded master into the params (an all-gather when sharded, so every rank
  // calls it).
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
  friend struct AdamWGradHook;
  struct BucketState;
  void gather_grads_into(int64_t begin, int64_t len, torch::Tensor dst) const;       // flat range -> dst [len]
  void gather_values_into(int64_t begin, int64_t len, torch::Tensor dst) const;      // params' values, likewise
  // Flat index of rank q's piece at shard offset b0 (a multiple of bucket_elems()); the piece is contiguous.
  int64_t piece_flat(int64_t q, int64_t b0) const;
  void install_hooks();
  void on_grad_ready(size_t param);
  void reduce_bucket(int64_t k);  // reduce_in_backward: bucket k's gradients -> added into grad_
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
  int64_t piece_ = 0;  // > 0: bucket-interleaved layout with this many elements per rank per bucket
  std::unique_ptr<BucketState> hooks_;  // reduce_in_backward
  int64_t live_ = 0, peak_live_ = 0;
};

// Copies root's values of every param to all ranks (call once before building the optimizer).
void broadcast_parameters(Dist& dist, const std::vector<torch::Tensor>& params, int64_t root = 0);

}  // namespace sgt::train
