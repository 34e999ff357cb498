// Attention allocation from per-layer q / k (eval/attention.h).
#include "eval/attention.h"

#include <cmath>

#include "core/error.h"
#include "data/plot.h"

namespace sgt::eval {
namespace {

// [K] float masks of the three buckets, on `like`'s device and dtype.
std::array<torch::Tensor, 3> bucket_masks(const std::vector<KeyType>& key_types, const torch::Tensor& like) {
  std::vector<float> m[3];
  for (auto& v : m) v.assign(key_types.size(), 0.f);
  for (size_t i = 0; i < key_types.size(); ++i) {
    const int t = static_cast<int>(key_types[i]);
    if (t < 3) m[t][i] = 1.f;
  }
  std::array<torch::Tensor, 3> out;
  for (int t = 0; t < 3; ++t) out[t] = torch::tensor(m[t]).to(like.device(), like.scalar_type());
  return out;
}

}  // namespace

AttentionShares shares_from_probs(const torch::Tensor& probs, const std::vector<KeyType>& key_types) {
  SGT_CHECK(probs.defined() && probs.dim() == 3 && probs.size(2) == static_cast<int64_t>(key_types.size()) &&
                probs.size(0) > 0 && probs.size(1) > 0,
            "attention", "probs must be [H, nq, K] with K = {} key types, got {}", key_types.size(),
            probs.defined() ? shape_str(probs.sizes().vec()) : "undefined");
  const torch::Tensor p = probs.to(torch::kDouble);
  const auto masks = bucket_masks(key_types, p);
  // mean over heads and queries of the mass on each bucket: [H, nq, K] @ [K] -> [H, nq] -> mean
  AttentionShares s;
  s.text = torch::matmul(p, masks[0]).mean().item<double>();
  s.vit = torch::matmul(p, masks[1]).mean().item<double>();
  s.vae = torch::matmul(p, masks[2]).mean().item<double>();
  return s;
}

AttentionShares shares_from_qk(const torch::Tensor& q, const torch::Tensor& k, const std::vector<int64_t>& query_positions,
                               const std::vector<KeyType>& key_types, const torch::Tensor& allowed, double scale) {
  SGT_CHECK(q.defined() && k.defined() && q.dim() == 3 && k.dim() == 3 && q.size(0) == k.size(0) && q.size(2) == k.size(2),
            "attention", "q must be [L, H, d] and k [L, Hkv, d]; got q {} k {}",
            q.defined() ? shape_str(q.sizes().vec()) : "undefined", k.defined() ? shape_str(k.sizes().vec()) : "undefined");
  const int64_t L = q.size(0), H = q.size(1), Hkv = k.size(1), d = q.size(2);
  SGT_CHECK(Hkv > 0 && H % Hkv == 0, "attention", "{} query heads are not a multiple of {} kv heads", H, Hkv);
  SGT_CHECK(static_cast<int64_t>(key_types.size()) == L, "attention", "{} key types for a sequence of {}",
            key_types.size(), L);
  SGT_CHECK(!query_positions.empty(), "attention", "no query position chosen");
  for (int64_t p : query_positions)
    SGT_CHECK(p >= 0 && p < L, "attention", "query position {} outside a sequence of {}", p, L);
  const int64_t nq = static_cast<int64_t>(query_positions.size());
  torch::NoGradGuard no_grad;
  const auto compute = q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const torch::Tensor pos = torch::tensor(query_positions, torch::kLong).to(q.device());
  const torch::Tensor qs = q.index_select(0, pos).to(compute).permute({1, 0, 2});            // [H, nq, d]
  const torch::Tensor ks = k.to(compute).repeat_interleave(H / Hkv, 1).permute({1, 2, 0});  // [H, d, L]
  const double sc = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(d));
  torch::Tensor logits = torch::matmul(qs, ks) * sc;  // [H, nq, L]
  torch::Tensor ok;
  if (allowed.defined()) {
    SGT_CHECK(allowed.dim() == 2 && allowed.size(0) == nq && allowed.size(1) == L && allowed.scalar_type() == torch::kBool,
              "attention", "allowed must be bool [{}, {}], got {}", nq, L, shape_str(allowed.sizes().vec()));
    ok = allowed.to(q.device());
  } else {
    ok = torch::arange(L, torch::TensorOptions().dtype(torch::kLong).device(q.device())).unsqueeze(0) <= pos.unsqueeze(1);
  }
  SGT_CHECK(ok.any(1).all().item<bool>(), "attention", "a query row has no allowed key");
  logits = logits.masked_fill(ok.logical_not().unsqueeze(0), -std::numeric_limits<double>::infinity());
  return shares_from_probs(torch::softmax(logits, -1), key_types);
}

AttentionAllocation::AttentionAllocation(int64_t num_layers) : sum_(num_layers), count_(num_layers, 0) {
  SGT_CHECK(num_layers > 0, "attention", "num_layers {} must be positive", num_layers);
}

void AttentionAllocation::set_sample(std::vector<KeyType> key_types, std::vector<int64_t> query_positions,
                                     torch::Tensor allowed) {
  key_types_ = std::move(key_types);
  query_positions_ = std::move(query_positions);
  allowed_ = std::move(allowed);
}

void AttentionAllocation::add(int64_t layer, const torch::Tensor& q, const torch::Tensor& k) {
  SGT_CHECK(layer >= 0 && layer < static_cast<int64_t>(sum_.size()), "attention", "layer {} outside [0, {})", layer,
            sum_.size());
  SGT_CHECK(!key_types_.empty(), "attention", "set_sample() was not called before layer {}", layer);
  const AttentionShares s = shares_from_qk(q, k, query_positions_, key_types_, allowed_);
  sum_[layer].text += s.text;
  sum_[layer].vit += s.vit;
  sum_[layer].vae += s.vae;
  ++count_[layer];
}

std::function<void(int64_t, const torch::Tensor&, const torch::Tensor&)> AttentionAllocation::hook() {
  return [this](int64_t layer, const torch::Tensor& q, const torch::Tensor& k) { add(layer, q, k); };
}

std::vector<AttentionShares> AttentionAllocation::mean() const {
  std::vector<AttentionShares> out(sum_.size());
  for (size_t l = 0; l < sum_.size(); ++l) {
    SGT_CHECK(count_[l] > 0, "attention", "layer {} received no sample", l);
    out[l] = {sum_[l].text / count_[l], sum_[l].vit / count_[l], sum_[l].vae / count_[l]};
  }
  return out;
}

std::vector<double> allocation_change_percent(const std::vector<AttentionShares>& base,
                                              const std::vector<AttentionShares>& tuned) {
  SGT_CHECK(base.size() == tuned.size() && !base.empty(), "attention", "{} base layers vs {} tuned layers",
            base.size(), tuned.size());
  std::vector<double> out;
  for (size_t l = 0; l < base.size(); ++l) {
    const double rb = base[l].vision_ratio(), rt = tuned[l].vision_ratio();
    SGT_CHECK(rb > 0, "attention", "layer {}: the baseline gives no attention to image keys", l);
    out.push_back(100.0 * (rt - rb) / rb);
  }
  return out;
}

void write_attention_plot(const std::string& path, const std::vector<AttentionShares>& base,
                          const std::vector<AttentionShares>& tuned, const std::string& title) {
  SGT_CHECK(!base.empty(), "attention", "nothing to plot");
  data::PlotOptions o;
  o.title = title;
  o.x_label = "layer";
  std::vector<data::PlotSeries> series;
  if (tuned.empty()) {
    o.y_label = "attention share";
    data::PlotSeries t{"text", {}, {}}, v{"vit", {}, {}}, a{"vae", {}, {}};
    for (size_t l = 0; l < base.size(); ++l) {
      for (auto* s : {&t, &v, &a}) s->x.push_back(static_cast<double>(l));
      t.y.push_back(base[l].text), v.y.push_back(base[l].vit), a.y.push_back(base[l].vae);
    }
    series = {t, v, a};
  } else {
    o.y_label = "change in image share (%)";
    o.bars = true;
    const auto pct = allocation_change_percent(base, tuned);
    data::PlotSeries s{"change %", {}, pct};
    for (size_t l = 0; l < pct.size(); ++l) s.x.push_back(static_cast<double>(l));
    series = {s};
  }
  data::write_plot_png(path, series, o);
}

}  // namespace sgt::eval
