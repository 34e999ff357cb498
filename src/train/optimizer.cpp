// Flat-buffer AdamW with bucketed data-parallel reduction and optional sharding (docs/distributed.md).
//
// Layout: the trainable params are concatenated into one flat index space [0, numel). With sharding over W ranks
// it is padded to W * S (S = ceil(numel / W)) and rank r owns the contiguous range [r * S, (r + 1) * S): its fp32
// master, exp_avg and exp_avg_sq hold exactly that range. A bucket b of C elements per rank stages, for every rank
// q, the slice [q * S + b * C, q * S + b * C + C) of the gradients into a [W * C] buffer; one reduce-scatter then
// hands each rank the summed chunk b of its own shard, so shards stay contiguous while traffic stays bucketed.
//
// reduce_in_backward (ZeRO-2) needs each bucket to be one contiguous flat range, so that it is complete as soon as
// backward has reached its params. Sharded, the layout is then bucket-interleaved: bucket k is the flat range
// [k * W * C, (k + 1) * W * C) and rank q owns its piece [k * W * C + q * C, k * W * C + (q + 1) * C); the shard of
// rank q is its pieces in bucket order (S = K * C, K = ceil(numel / (W * C))). piece_flat() maps both layouts.
// Buckets are reduced strictly from the highest index down (backward order) on every rank, so collectives match
// even when some params get no gradient on some ranks: those buckets wait for finish_backward().
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "core/error.h"

namespace sgt::train {

namespace {
constexpr const char* kComp = "adamw";
}

struct AdamW::BucketState {
  int64_t span = 0;                                // flat elements per bucket
  std::vector<std::vector<size_t>> bucket_params;  // per bucket: params overlapping it
  std::vector<std::vector<int64_t>> param_buckets; // per param: its buckets
  std::vector<int64_t> pending;                    // per bucket: overlapping params without their gradient yet
  std::vector<int64_t> unreduced;                  // per param: its buckets not reduced yet
  std::vector<char> ready;                         // per param: gradient accumulated in this backward
  int64_t next = -1;                               // the next bucket to reduce (descending)
  bool dirty = false;                              // a hook fired since the last finish_backward()
  void rearm() {
    for (size_t k = 0; k < bucket_params.size(); ++k) pending[k] = static_cast<int64_t>(bucket_params[k].size());
    for (size_t i = 0; i < param_buckets.size(); ++i) unreduced[i] = static_cast<int64_t>(param_buckets[i].size());
    std::fill(ready.begin(), ready.end(), 0);
    next = static_cast<int64_t>(bucket_params.size()) - 1;
    dirty = false;
  }
};

// Called by the autograd engine right after a param's gradient has been accumulated into its .grad.
struct AdamWGradHook : torch::autograd::PostAccumulateGradHook {
  AdamWGradHook(AdamW* o, size_t i) : opt(o), index(i) {}
  void operator()(const torch::autograd::Variable& /*param*/) override { opt->on_grad_ready(index); }
  AdamW* opt;
  size_t index;
};

AdamW::AdamW(std::vector<torch::Tensor> params, AdamWOptions opt, std::shared_ptr<Dist> dist)
    : params_(std::move(params)), opt_(opt), dist_(std::move(dist)) {
  SGT_CHECK(!params_.empty(), kComp, "no trainable parameters");
  SGT_CHECK(opt_.beta1 >= 0 && opt_.beta1 < 1 && opt_.beta2 >= 0 && opt_.beta2 < 1, kComp,
            "betas ({}, {}) must be in [0, 1)", opt_.beta1, opt_.beta2);
  SGT_CHECK(opt_.eps >= 0 && opt_.weight_decay >= 0, kComp, "eps {} and weight_decay {} must be >= 0", opt_.eps,
            opt_.weight_decay);
  SGT_CHECK(opt_.bucket_mb >= 1 && opt_.bucket_numel >= 0, kComp, "bucket_mb {} must be >= 1, bucket_numel {} >= 0",
            opt_.bucket_mb, opt_.bucket_numel);
  const auto device = params_[0].device();
  std::set<const void*> seen;
  offsets_.push_back(0);
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    SGT_CHECK(p.defined() && p.is_floating_point(), kComp, "param {} is not a floating-point tensor", i);
    SGT_CHECK(p.device() == device, kComp, "param {} is on {} but param 0 on {}", i, p.device().str(), device.str());
    SGT_CHECK(p.is_contiguous(), kComp, "param {} of shape {} is not contiguous", i, shape_str(p.sizes().vec()));
    SGT_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, kComp, "param {} appears twice", i);
    offsets_.push_back(offsets_.back() + p.numel());
  }
  numel_ = offsets_.back();
  if (dist_ && dist_->world_size() > 1)
    SGT_CHECK(dist_->device() == device, kComp, "params are on {} but the process group works on {}", device.str(),
              dist_->device().str());
  const int64_t w = shard_world();
  if (opt_.reduce_in_backward && w > 1) {
    piece_ = bucket_elems();
    shard_size_ = (numel_ + w * piece_ - 1) / (w * piece_) * piece_;
  } else {
    shard_size_ = (numel_ + w - 1) / w;
  }
  shard_begin_ = (w > 1 ? dist_->rank() : 0) * shard_size_;

  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  master_ = torch::zeros({shard_size_}, f32);
  {
    torch::NoGradGuard ng;
    // Our pieces of the params; padding stays 0.
    const int64_t me = w > 1 ? dist_->rank() : 0, c = piece_ > 0 ? piece_ : shard_size_;
    for (int64_t b0 = 0; b0 < shard_size_; b0 += c)
      gather_values_into(piece_flat(me, b0), std::min(c, shard_size_ - b0), master_.narrow(0, b0, std::min(c, shard_size_ - b0)));
  }
  exp_avg_ = torch::zeros({shard_size_}, f32);
  exp_avg_sq_ = torch::zeros({shard_size_}, f32);
  grad_ = torch::zeros({shard_size_}, f32);
  if (opt_.reduce_in_backward) install_hooks();
}

AdamW::~AdamW() {
  if (!hooks_) return;
  for (auto& p : params_) torch::autograd::impl::post_acc_grad_hooks(p).reset();
}

int64_t AdamW::piece_flat(int64_t q, int64_t b0) const {
  if (piece_ == 0) return q * shard_size_ + b0;
  const int64_t w = shard_world();
  return (b0 / piece_) * w * piece_ + q * piece_ + b0 % piece_;
}

void AdamW::install_hooks() {
  hooks_ = std::make_unique<BucketState>();
  auto& h = *hooks_;
  h.span = shard_world() * bucket_elems();
  const int64_t buckets = (numel_ + h.span - 1) / h.span;
  h.bucket_params.resize(buckets);
  h.param_buckets.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    SGT_CHECK(p.requires_grad() && p.is_leaf(), kComp,
              "reduce_in_backward: param {} of shape {} must be a leaf that requires grad", i,
              shape_str(p.sizes().vec()));
    for (int64_t k = offsets_[i] / h.span; k * h.span < offsets_[i + 1]; ++k) {
      h.bucket_params[k].push_back(i);
      h.param_buckets[i].push_back(k);
    }
    torch::autograd::impl::set_post_acc_grad_hooks(p, std::make_unique<AdamWGradHook>(this, i));
  }
  h.pending.resize(buckets);
  h.unreduced.resize(params_.size());
  h.ready.resize(params_.size());
  h.rearm();
}

void AdamW::on_grad_ready(size_t i) {
  auto& h = *hooks_;
  SGT_CHECK(!h.ready[i], kComp,
            "reduce_in_backward: param {} received a second gradient before finish_backward() (call it after every "
            "backward)", i);
  h.ready[i] = 1;
  h.dirty = true;
  live_ += params_[i].numel();
  peak_live_ = std::max(peak_live_, live_);
  for (int64_t k : h.param_buckets[i]) --h.pending[k];
  while (h.next >= 0 && h.pending[h.next] == 0) reduce_bucket(h.next--);
}

void AdamW::reduce_bucket(int64_t k) {
  torch::NoGradGuard ng;
  auto& h = *hooks_;
  const int64_t begin = k * h.span;
  if (shard_world() > 1) {
    // Rank q receives the sum of flat [begin + q * C, begin + (q + 1) * C) = its piece at shard offset k * C.
    auto stage = torch::empty({h.span}, grad_.options());
    gather_grads_into(begin, h.span, stage);
    auto out = torch::empty({piece_}, grad_.options());
    dist_->reduce_scatter_sum(out, stage);
    grad_.narrow(0, k * piece_, piece_).add_(out);
  } else {
    const int64_t len = std::min(h.span, numel_ - begin);
    auto stage = torch::empty({len}, grad_.options());
    gather_grads_into(begin, len, stage);
    if (dist_ && dist_->world_size() > 1) dist_->all_reduce_sum(stage);
    grad_.narrow(0, begin, len).add_(stage);
  }
  for (size_t i : h.bucket_params[k]) {
    if (--h.unreduced[i] > 0) continue;
    auto& g = params_[i].mutable_grad();
    if (g.defined()) {
      live_ -= params_[i].numel();
      g.reset();  // released: this param's gradient now lives only in the reduced buckets
    }
  }
}

void AdamW::finish_backward() {
  if (!hooks_) return;
  auto& h = *hooks_;
  while (h.next >= 0) reduce_bucket(h.next--);
  // Only after misuse (a backward that threw in a hook) can a gradient be left over; drop it, it was not counted.
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().reset();
  live_ = 0;
  h.rearm();
}

int64_t AdamW::bucket_elems() const {
  // fp32 elements per rank in one bucket: the staging buffer of W chunks is bucket_mb in total.
  if (opt_.bucket_numel > 0) return opt_.bucket_numel;
  return std::max<int64_t>(1, opt_.bucket_mb * (int64_t{1} << 20) / 4 / shard_world());
}

void AdamW::gather_grads_into(int64_t begin, int64_t len, torch::Tensor dst) const {
  // dst [len] <- gradients of flat range [begin, begin + len); missing grads and padding read as 0.
  dst.zero_();
  const int64_t end = begin + len;
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), begin);
  for (size_t i = std::max<int64_t>(0, it - offsets_.begin() - 1); i < params_.size() && offsets_[i] < end; ++i) {
    const int64_t lo = std::max(offsets_[i], begin), hi = std::min(offsets_[i + 1], end);
    if (lo >= hi) continue;
    const auto& g = params_[i].grad();
    if (!g.defined()) continue;
    SGT_CHECK(g.sizes() == params_[i].sizes(), kComp, "grad of param {} has shape {} but the param {}", i,
              shape_str(g.sizes().vec()), shape_str(params_[i].sizes().vec()));
    dst.narrow(0, lo - begin, hi - lo).copy_(g.reshape(-1).narrow(0, lo - offsets_[i], hi - lo));
  }
}

void AdamW::gather_values_into(int64_t begin, int64_t len, torch::Tensor dst) const {
  // dst [len] <- values of flat range [begin, begin + len); padding reads as 0.
  torch::NoGradGuard ng;
  dst.zero_();
  const int64_t end = std::min(begin + len, numel_);
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), begin);
  for (size_t i = std::max<int64_t>(0, it - offsets_.begin() - 1); i < params_.size() && offsets_[i] < end; ++i) {
    const int64_t lo = std::max(offsets_[i], begin), hi = std::min(offsets_[i + 1], end);
    if (lo < hi) dst.narrow(0, lo - begin, hi - lo).copy_(params_[i].reshape(-1).narrow(0, lo - offsets_[i], hi - lo));
  }
}

void AdamW::scatter_into_params(int64_t begin, int64_t len, const torch::Tensor& src) const {
  // params of flat range [begin, begin + len) <- src [len] (cast to each param's dtype); padding is ignored.
  torch::NoGradGuard ng;
  const int64_t end = std::min(begin + len, numel_);
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), begin);
  for (size_t i = std::max<int64_t>(0, it - offsets_.begin() - 1); i < params_.size() && offsets_[i] < end; ++i) {
    const int64_t lo = std::max(offsets_[i], begin), hi = std::min(offsets_[i + 1], end);
    if (lo >= hi) continue;
    params_[i].view(-1).narrow(0, lo - offsets_[i], hi - lo).copy_(src.narrow(0, lo - begin, hi - lo));
  }
}

void AdamW::write_params(const torch::Tensor& flat) {
  const int64_t w = shard_world();
  if (w == 1) {
    scatter_into_params(0, numel_, flat);
    return;
  }
  // All-gather chunk b of every shard, in the params' dtype when they share one (half the traffic for bf16).
  auto dtype = params_[0].scalar_type();
  for (const auto& p : params_)
    if (p.scalar_type() != dtype) dtype = torch::kFloat32;
  const int64_t c = bucket_elems();
  auto out_buf = torch::empty({w * std::min(c, shard_size_)}, flat.options().dtype(dtype));
  for (int64_t b0 = 0; b0 < shard_size_; b0 += c) {
    const int64_t len = std::min(c, shard_size_ - b0);
    auto in = flat.narrow(0, b0, len).to(dtype).contiguous();
    auto out = out_buf.narrow(0, 0, w * len);
    dist_->all_gather(out, in);
    for (int64_t q = 0; q < w; ++q) scatter_into_params(piece_flat(q, b0), len, out.narrow(0, q * len, len));
  }
}

void AdamW::zero_grads() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
  if (hooks_) grad_.zero_();  // the reduced gradients accumulate there over micro-batches
}

StepResult AdamW::step(double lr, double max_grad_norm) {
  SGT_CHECK(std::isfinite(lr) && lr >= 0, kComp, "learning rate {} must be finite and >= 0", lr);
  const int64_t w = shard_world();
  const bool multi = dist_ && dist_->world_size() > 1;
  const int64_t c = bucket_elems();
  torch::NoGradGuard ng;

  // 1) Summed gradients of our range in grad_ [shard_size_] (reduce_in_backward: already there).
  if (hooks_) {
    SGT_CHECK(!hooks_->dirty, kComp, "reduce_in_backward: call finish_backward() after backward, before step()");
  } else if (w > 1) {
    auto stage_buf = torch::empty({w * std::min(c, shard_size_)}, grad_.options());
    for (int64_t b0 = 0; b0 < shard_size_; b0 += c) {
      const int64_t len = std::min(c, shard_size_ - b0);
      auto stage = stage_buf.narrow(0, 0, w * len);
      for (int64_t q = 0; q < w; ++q) gather_grads_into(piece_flat(q, b0), len, stage.narrow(0, q * len, len));
      auto out = grad_.narrow(0, b0, len);
      dist_->reduce_scatter_sum(out, stage);
    }
  } else {
    gather_grads_into(0, numel_, grad_);
    if (multi)
      for (int64_t b0 = 0; b0 < numel_; b0 += c) {
        auto bucket = grad_.narrow(0, b0, std::min(c, numel_ - b0));
        dist_->all_reduce_sum(bucket);
      }
  }

  // 2) Global L2 norm; the padding is 0 and adds nothing.
  const double local = grad_.norm().item<double>();
  double norm = local;
  if (w > 1) norm = std::sqrt(dist_->sum(local * local));
  StepResult r;
  r.grad_norm = norm;
  // 3) A non-finite norm (inf / nan somewhere on some rank) skips the step on every rank alike.
  if (!std::isfinite(norm)) {
    zero_grads();
    r.skipped = true;
    return r;
  }
  // 4) clip_grad_norm_: coefficient max / (norm + 1e-6) clamped to 1, computed in fp32 like the reference.
  if (max_grad_norm > 0) {
    const float coef = std::min(1.0f, static_cast<float>(max_grad_norm) / (static_cast<float>(norm) + 1e-6f));
    if (coef < 1.0f) grad_.mul_(coef);
  }
  // 5) torch.optim.AdamW (single-tensor path): decay, moments, bias-corrected step. Chunked to bound temporaries.
  ++step_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(step_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(opt_.beta2, static_cast<double>(step_)));
  const double step_size = lr / bc1;
  for (int64_t b0 = 0; b0 < shard_size_; b0 += c) {
    const int64_t len = std::min(c, shard_size_ - b0);
    auto p = master_.narrow(0, b0, len), m = exp_avg_.narrow(0, b0, len), v = exp_avg_sq_.narrow(0, b0, len);
    auto g = grad_.narrow(0, b0, len);
    if (opt_.weight_decay != 0) p.mul_(1.0 - lr * opt_.weight_decay);
    m.lerp_(g, 1.0 - opt_.beta1);
    v.mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    auto denom = (v.sqrt() / bc2_sqrt).add_(opt_.eps);
    p.addcdiv_(m, denom, -step_size);
  }
  // 6) New values into the params, 7) grads to zero.
  write_params(master_);
  zero_grads();
  return r;
}

std::map<std::string, torch::Tensor> AdamW::state_dict() const {
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  return {
      {"step", torch::full({1}, step_, i64)},
      {"layout", torch::tensor({numel_, shard_size_, shard_world(), shard_begin_ / std::max<int64_t>(1, shard_size_),
                                piece_},
                               i64)},
      {"master", master_.clone()},
      {"exp_avg", exp_avg_.clone()},
      {"exp_avg_sq", exp_avg_sq_.clone()},
  };
}

void AdamW::load_state_dict(const std::map<std::string, torch::Tensor>& s) {
  const std::set<std::string> want = {"step", "layout", "master", "exp_avg", "exp_avg_sq"};
  for (const auto& [k, v] : s) SGT_CHECK(want.count(k), kComp, "unexpected optimizer state entry '{}'", k);
  for (const auto& k : want) SGT_CHECK(s.count(k), kComp, "optimizer state entry '{}' is missing", k);
  const auto& step = s.at("step");
  const auto& layout = s.at("layout");
  SGT_CHECK(step.numel() == 1 && step.scalar_type() == torch::kInt64 && step.item<int64_t>() >= 0, kComp,
            "'step' must be one non-negative int64, got shape {}", shape_str(step.sizes().vec()));
  // [4]: contiguous shards (written before the bucket-interleaved layout existed); [5]: + piece size (0: contiguous).
  SGT_CHECK((layout.numel() == 4 || layout.numel() == 5) && layout.scalar_type() == torch::kInt64, kComp,
            "'layout' must be int64 [5]");
  auto l = layout.to(torch::kCPU);
  const int64_t ln = l[0].item<int64_t>(), ls = l[1].item<int64_t>(), lw = l[2].item<int64_t>(),
                li = l[3].item<int64_t>(), lp = layout.numel() == 5 ? l[4].item<int64_t>() : 0;
  const int64_t my_index = shard_begin_ / std::max<int64_t>(1, shard_size_);
  SGT_CHECK(ln == numel_ && ls == shard_size_ && lw == shard_world() && li == my_index && lp == piece_, kComp,
            "state was saved for {} elements in shard {} of {} (size {}, piece {}), this optimizer has {} elements "
            "in shard {} of {} (size {}, piece {}); the piece is > 0 only with reduce_in_backward",
            ln, li, lw, ls, lp, numel_, my_index, shard_world(), shard_size_, piece_);
  for (const char* k : {"master", "exp_avg", "exp_avg_sq"}) {
    const auto& t = s.at(k);
    SGT_CHECK(t.dim() == 1 && t.size(0) == shard_size_ && t.is_floating_point(), kComp,
              "'{}' has shape {}, expected [{}]", k, shape_str(t.sizes().vec()), shard_size_);
  }
  torch::NoGradGuard ng;
  master_.copy_(s.at("master"));
  exp_avg_.copy_(s.at("exp_avg"));
  exp_avg_sq_.copy_(s.at("exp_avg_sq"));
  step_ = step.item<int64_t>();
  write_params(master_);
}

std::vector<torch::Tensor> AdamW::unflatten(const torch::Tensor& flat_shard) const {
  SGT_CHECK(flat_shard.dim() == 1 && flat_shard.size(0) == shard_size_, kComp,
            "unflatten: got shape {}, expected [{}]", shape_str(flat_shard.sizes().vec()), shard_size_);
  auto src = flat_shard.to(master_.options()).contiguous();
  torch::Tensor full = src;
  if (shard_world() > 1) {
    auto gathered = torch::empty({shard_world() * shard_size_}, master_.options());
    dist_->all_gather(gathered, src);
    full = gathered;
    if (piece_ > 0)  // [W ranks, K buckets, C] -> flat order [K, W, C]
      full = gathered.view({shard_world(), shard_size_ / piece_, piece_}).permute({1, 0, 2}).reshape(-1);
  }
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i)
    out.push_back(full.narrow(0, offsets_[i], offsets_[i + 1] - offsets_[i]).view(params_[i].sizes()).clone());
  return out;
}

void broadcast_parameters(Dist& dist, const std::vector<torch::Tensor>& params, int64_t root) {
  torch::NoGradGuard ng;
  for (const auto& p : params) {
    auto t = p;  // Dist::broadcast takes a non-const handle; it writes into the same storage
    dist.broadcast(t, root);
  }
}

}  // namespace sgt::train
