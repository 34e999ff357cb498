#include "model/attention.h"

#include "core/error.h"

namespace sgt::model {

AttnMode attn_mode_from_string(const std::string& s) {
  if (s == "causal") return AttnMode::kCausal;
  if (s == "full") return AttnMode::kFull;
  if (s == "noise") return AttnMode::kNoise;
  SGT_FAIL("model.attention", "unknown attention mode '{}' (causal, full or noise)", s);
}

const char* to_string(AttnMode m) {
  switch (m) {
    case AttnMode::kCausal: return "causal";
    case AttnMode::kFull: return "full";
    case AttnMode::kNoise: return "noise";
  }
  return "?";
}

PackLayout PackLayout::from_samples(const std::vector<std::vector<std::pair<int64_t, AttnMode>>>& samples) {
  PackLayout out;
  int64_t pos = 0;
  for (size_t s = 0; s < samples.size(); ++s) {
    SGT_CHECK(!samples[s].empty(), "model.attention", "sample {} has no splits", s);
    for (const auto& [len, mode] : samples[s]) {
      out.splits.push_back({pos, len, mode, static_cast<int64_t>(s)});
      pos += len;
    }
  }
  out.validate();
  return out;
}

void PackLayout::validate() const {
  int64_t pos = 0, sample = 0;
  for (size_t i = 0; i < splits.size(); ++i) {
    const Split& sp = splits[i];
    SGT_CHECK(sp.len > 0, "model.attention", "split {} has length {}", i, sp.len);
    SGT_CHECK(sp.start == pos, "model.attention", "split {} starts at {}, expected {} (splits must be contiguous)",
              i, sp.start, pos);
    SGT_CHECK(sp.sample == sample || sp.sample == sample + 1, "model.attention",
              "split {} belongs to sample {} after sample {} (samples numbered in order)", i, sp.sample, sample);
    SGT_CHECK(i > 0 || sp.sample == 0, "model.attention", "first split belongs to sample {}, expected 0", sp.sample);
    sample = sp.sample;
    pos += sp.len;
  }
}

std::pair<int64_t, int64_t> PackLayout::sample_range(int64_t s) const {
  int64_t b = -1, e = -1;
  for (const Split& sp : splits) {
    if (sp.sample != s) continue;
    if (b < 0) b = sp.start;
    e = sp.start + sp.len;
  }
  SGT_CHECK(b >= 0, "model.attention", "sample {} not in the layout ({} samples)", s, num_samples());
  return {b, e};
}

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
  if (s == "dense") return AttentionImpl::kDense;
  if (s == "splitwise") return AttentionImpl::kSplitwise;
  if (s == "packed") return AttentionImpl::kPacked;
  SGT_FAIL("model.attention", "unknown attention implementation '{}' (dense, splitwise or packed)", s);
}

const char* to_string(AttentionImpl i) {
  switch (i) {
    case AttentionImpl::kDense: return "dense";
    case AttentionImpl::kSplitwise: return "splitwise";
    case AttentionImpl::kPacked: return "packed";
  }
  return "?";
}

AttentionPlan AttentionPlan::make(const PackLayout& layout, AttentionImpl impl, torch::Device device) {
  AttentionPlan plan;
  plan.layout = layout;
  plan.impl = impl;
  if (impl == AttentionImpl::kPacked) {
    plan.packed_mask = packed_attention_mask(layout).to(device);
    return plan;
  }
  if (impl == AttentionImpl::kDense) {
    for (int64_t s = 0; s < layout.num_samples(); ++s)
      plan.sample_masks.push_back(sample_attention_mask(layout, s).to(device));
    return plan;
  }
  // Split-wise: visible keys of a split are the earlier non-noise splits of its sample, then itself.
  std::vector<int64_t> prefix;  // token indices of the visible earlier splits of the current sample
  int64_t cur_sample = -1;
  for (const Split& sp : layout.splits) {
    if (sp.sample != cur_sample) {
      prefix.clear();
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
      for (int64_t i = 0; i < sp.len; ++i) prefix.push_back(sp.start + i);
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
  const int64_t L = layout.total_len();
  SGT_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.size(0) == L && k.size(0) == L && v.size(0) == L,
            "model.attention", "q {}, k {}, v {} must be [L={}, heads, dim]", sgt::shape_str(q.sizes().vec()),
            sgt::shape_str(k.sizes().vec()), sgt::shape_str(v.sizes().vec()), L);
  SGT_CHECK(q.size(1) % k.size(1) == 0 && k.sizes() == v.sizes(), "model.attention",
            "GQA needs q heads {} a multiple of kv heads {}", q.size(1), k.size(1));
  if (plan.impl == AttentionImpl::kPacked) return sdpa(q, k, v, plan.packed_mask);
  std::vector<torch::Tensor> outs;
  if (plan.impl == AttentionImpl::kDense) {
    for (int64_t s = 0; s < layout.num_samples(); ++s) {
      auto [b, e] = layout.sample_range(s);
      outs.push_back(sdpa(q.slice(0, b, e), k.slice(0, b, e), v.slice(0, b, e), plan.sample_masks.at(s)));
    }
    return torch::cat(outs, 0);
  }
  SGT_CHECK(plan.split_keys.size() == layout.splits.size(), "model.attention",
            "plan has {} split entries for {} splits", plan.split_keys.size(), layout.splits.size());
  for (size_t i = 0; i < layout.splits.size(); ++i) {
    const Split& sp = layout.splits[i];
    const AttentionPlan::SplitKeys& sk = plan.split_keys[i];
    auto qs = q.slice(0, sp.start, sp.start + sp.len);
    torch::Tensor ks = k.slice(0, sp.start, sp.start + sp.len), vs = v.slice(0, sp.start, sp.start + sp.len);
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
    std::optional<torch::Tensor> mask;
    if (sk.causal_mask.defined()) mask = sk.causal_mask;
    outs.push_back(sdpa(qs, ks, vs, mask));
  }
  return torch::cat(outs, 0);
}

}  // namespace sgt::model
