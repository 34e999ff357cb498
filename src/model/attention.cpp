#include "model/attention.h"

#include "core/error.h"

namespace sgt::model {

torch::Tensor sample_attention_mask(const PackLayout& layout, int64_t sample) {
  auto [b, e] = layout.sample_range(sample);
  const int64_t n = e - b;
  std::vector<int64_t> split_id(n), mode(n);
  int64_t sid = 0;
  for (const Split& sp : layout.splits) {
    if (sp.sample != sample) continue;
    for (int64_t i = 0; i < sp.len; ++i) {
      split_id[sp.start - b + i] = sid;
      mode[sp.start - b + i] = static_cast<int64_t>(sp.mode);
    }
    ++sid;
  }
  auto s = torch::tensor(split_id, torch::kInt64);
  auto m = torch::tensor(mode, torch::kInt64);
  auto idx = torch::arange(n, torch::kInt64);
  auto sq = s.unsqueeze(1), sk = s.unsqueeze(0);  // query rows, key columns
  auto same = sq.eq(sk);
  auto bidir = m.ne(static_cast<int64_t>(AttnMode::kCausal)).unsqueeze(1);
  auto allowed = idx.unsqueeze(0).le(idx.unsqueeze(1)).logical_or(same.logical_and(bidir));
  auto hidden_noise = m.eq(static_cast<int64_t>(AttnMode::kNoise)).unsqueeze(0).logical_and(same.logical_not());
  return allowed.logical_and(hidden_noise.logical_not());
}

torch::Tensor packed_attention_mask(const PackLayout& layout) {
  const int64_t L = layout.total_len();
  auto mask = torch::zeros({L, L}, torch::kBool);
  for (int64_t s = 0; s < layout.num_samples(); ++s) {
    auto [b, e] = layout.sample_range(s);
    mask.slice(0, b, e).slice(1, b, e).copy_(sample_attention_mask(layout, s));
  }
  return mask;
}

namespace {

// [n, H, d] -> [1, H, n, d]
torch::Tensor heads_first(const torch::Tensor& x) { return x.transpose(0, 1).unsqueeze(0); }

torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const std::optional<torch::Tensor>& mask) {
  // q [n, Hq, d], k/v [m, Hkv, d] -> [n, Hq, d]
  const bool gqa = q.size(1) != k.size(1);
  auto o = at::scaled_dot_product_attention(heads_first(q), heads_first(k), heads_first(v), mask, 0.0, false,
                                            std::nullopt, gqa);
  return o.squeeze(0).transpose(0, 1);
}

}  // namespace

AttentionImpl attention_impl_from_string(const std::string& s) {
  return enum_from_name<AttentionImpl>(s, "attention implementation");
}

const char* to_string(AttentionImpl i) { return name_of(i).data(); }  // the names are NUL-terminated literals

AttentionPlan AttentionPlan::make(const PackLayout& layout, AttentionImpl impl, torch::Device device,
                                  int64_t cached) {
  AttentionPlan plan;
  plan.layout = layout;
  plan.impl = impl;
  plan.cached = cached;
  SGT_CHECK(cached >= 0 && (cached == 0 || layout.num_samples() == 1), "model.attention",
            "a cached prefix of {} tokens continues one sample, the layout has {}", cached, layout.num_samples());
  // Sample 0's rows see the cached keys: columns [0, cached) all true.
  auto with_cached = [&](const torch::Tensor& m) {
    return cached == 0 ? m : torch::cat({torch::ones({m.size(0), cached}, torch::kBool), m}, 1);
  };
  if (impl == AttentionImpl::kPacked) {
    plan.packed_mask = with_cached(packed_attention_mask(layout)).to(device);
    return plan;
  }
  if (impl == AttentionImpl::kDense) {
    for (int64_t s = 0; s < layout.num_samples(); ++s) {
      auto m = sample_attention_mask(layout, s);
      plan.sample_masks.push_back((s == 0 ? with_cached(m) : m).to(device));
    }
    return plan;
  }
  // Split-wise: visible keys of a split are the cached ones, the earlier non-noise splits of its sample, then
  // itself. Key indices count the cached keys first.
  std::vector<int64_t> prefix;  // key indices of the visible earlier tokens of the current sample
  int64_t cur_sample = -1;
  for (const Split& sp : layout.splits) {
    if (sp.sample != cur_sample) {
      prefix.clear();
      for (int64_t i = 0; i < cached; ++i) prefix.push_back(i);  // sample 0 only (checked above)
      cur_sample = sp.sample;
    }
    SplitKeys sk;
    const int64_t p = static_cast<int64_t>(prefix.size());
    sk.prefix_len = p;
    if (p > 0) {
      // A contiguous prefix (no noise split before) is a plain slice; otherwise an index tensor.
      sk.prefix_begin = prefix.front();
      if (prefix.back() - prefix.front() + 1 != p) sk.prefix_idx = torch::tensor(prefix, torch::kInt64).to(device);
    }
    if (sp.mode == AttnMode::kCausal && sp.len > 1) {
      // bottom-right causal: row i sees keys [0, p + i]
      auto rows = torch::arange(sp.len, torch::kInt64), cols = torch::arange(p + sp.len, torch::kInt64);
      sk.causal_mask = cols.unsqueeze(0).le(rows.unsqueeze(1) + p).to(device);
    }
    plan.split_keys.push_back(std::move(sk));
    if (sp.mode != AttnMode::kNoise)
      for (int64_t i = 0; i < sp.len; ++i) prefix.push_back(cached + sp.start + i);
  }
  return plan;
}

torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const PackLayout& layout, AttentionImpl impl) {
  return packed_attention(q, k, v, AttentionPlan::make(layout, impl, q.device()));
}

torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionPlan& plan) {
  const PackLayout& layout = plan.layout;
  const int64_t L = layout.total_len(), P0 = plan.cached;
  SGT_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.size(0) == L && k.size(0) == P0 + L &&
                v.size(0) == P0 + L,
            "model.attention", "q {} must be [L={}, heads, dim], k {} and v {} [cached {} + L, heads, dim]",
            sgt::shape_str(q.sizes().vec()), L, sgt::shape_str(k.sizes().vec()), sgt::shape_str(v.sizes().vec()),
            P0);
  SGT_CHECK(q.size(1) % k.size(1) == 0 && k.sizes() == v.sizes(), "model.attention",
            "GQA needs q heads {} a multiple of kv heads {}", q.size(1), k.size(1));
  if (plan.impl == AttentionImpl::kPacked) return sdpa(q, k, v, plan.packed_mask);
  std::vector<torch::Tensor> outs;
  if (plan.impl == AttentionImpl::kDense) {
    for (int64_t s = 0; s < layout.num_samples(); ++s) {
      auto [b, e] = layout.sample_range(s);
      const int64_t kb = s == 0 ? 0 : P0 + b;
      outs.push_back(sdpa(q.slice(0, b, e), k.slice(0, kb, P0 + e), v.slice(0, kb, P0 + e), plan.sample_masks.at(s)));
    }
    return outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
  }
  SGT_CHECK(plan.split_keys.size() == layout.splits.size(), "model.attention",
            "plan has {} split entries for {} splits", plan.split_keys.size(), layout.splits.size());
  for (size_t i = 0; i < layout.splits.size(); ++i) {
    const Split& sp = layout.splits[i];
    const AttentionPlan::SplitKeys& sk = plan.split_keys[i];
    auto qs = q.slice(0, sp.start, sp.start + sp.len);
    const int64_t ks0 = P0 + sp.start;
    torch::Tensor ks, vs;
    if (sk.prefix_len > 0 && !sk.prefix_idx.defined() && sk.prefix_begin + sk.prefix_len == ks0) {
      // Prefix and own keys are one run (a cached decode step, a text split after text): a view, no copy.
      ks = k.slice(0, sk.prefix_begin, ks0 + sp.len);
      vs = v.slice(0, sk.prefix_begin, ks0 + sp.len);
    } else {
      ks = k.slice(0, ks0, ks0 + sp.len);
      vs = v.slice(0, ks0, ks0 + sp.len);
      if (sk.prefix_len > 0) {
        torch::Tensor kp, vp;
        if (sk.prefix_idx.defined()) {
          kp = k.index_select(0, sk.prefix_idx);
          vp = v.index_select(0, sk.prefix_idx);
        } else {
          kp = k.slice(0, sk.prefix_begin, sk.prefix_begin + sk.prefix_len);
          vp = v.slice(0, sk.prefix_begin, sk.prefix_begin + sk.prefix_len);
        }
        ks = torch::cat({kp, ks}, 0);
        vs = torch::cat({vp, vs}, 0);
      }
    }
    std::optional<torch::Tensor> mask;
    if (sk.causal_mask.defined()) mask = sk.causal_mask;
    outs.push_back(sdpa(qs, ks, vs, mask));
  }
  return outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
}

}  // namespace sgt::model
