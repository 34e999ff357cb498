#pragma once
// Packed-sequence attention for BAGEL (docs/attention.md). Several samples are packed one after another into
// one sequence of L tokens; each sample is a run of splits (text: causal; ViT / clean VAE image: full; noisy VAE
// image: noise). For query q and key k of the same sample:
//   allowed(q,k) = [k <= q  OR  (split(q) == split(k) AND mode in {full, noise})]
//                  AND NOT [mode(split(k)) == noise AND split(k) != split(q)]
// and nothing crosses samples. Three implementations that agree:
//   kDense     - one dense boolean mask per sample + scaled-dot-product attention (O(L_s^2) memory per sample);
//   kSplitwise - per split, K/V = earlier non-noise splits of the sample ++ own split; full/noise splits need no
//                mask, causal splits a [q_len, k_len] bottom-right causal mask (no O(L^2) tensor);
//   kPacked    - one attention call over the whole pack with its block-diagonal [L, L] mask: O(L^2) memory but a
//                handful of kernels per layer instead of a few per split, which is what short packs on a GPU need
//                (the per-split loop is launch-bound there).
// Whatever an implementation derives from the layout (masks, index tensors) is built once per forward, on the
// model's device, in an AttentionPlan that every layer reuses.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/layout.h"

namespace sgt::model {

// The layout vocabulary is the data layer's (data/layout.h): one type for packs, attention and cached chunks.
using data::AttnMode;
using data::attn_mode_from_string;
using data::PackLayout;
using data::Split;
using data::to_string;

enum class AttentionImpl { kDense, kSplitwise, kPacked };
constexpr auto enum_names(AttentionImpl) {
  return std::array{EnumName{AttentionImpl::kDense, "dense"}, EnumName{AttentionImpl::kSplitwise, "splitwise"},
                    EnumName{AttentionImpl::kPacked, "packed"}};
}
AttentionImpl attention_impl_from_string(const std::string& s);  // by its name in the table above
const char* to_string(AttentionImpl i);

// The rule above for sample s: bool [L_s, L_s], true = may attend.
torch::Tensor sample_attention_mask(const PackLayout& layout, int64_t sample);
// The whole packed mask (block-diagonal over samples): bool [L, L]. Tests and small inputs only.
torch::Tensor packed_attention_mask(const PackLayout& layout);

// The layout-derived tensors of one forward, on `device` (shared by every layer, and by the recomputation of
// checkpointed layers: the tensors are immutable).
//
// With `cached` > 0 the layout is one sample that continues a KV cache (model/kv_cache.h): its keys are the
// `cached` earlier tokens, then its own L tokens, and every query may see the cached ones (they are the sample's
// earlier non-noise splits). Training, prefill and cached decoding use the same plan and the same attention.
struct AttentionPlan {
  PackLayout layout;
  AttentionImpl impl = AttentionImpl::kSplitwise;
  int64_t cached = 0;                        // keys before the layout's first token (one sample only)
  torch::Tensor packed_mask;                 // kPacked: bool [L, cached + L]
  std::vector<torch::Tensor> sample_masks;   // kDense: bool [L_s, (cached if s == 0) + L_s] per sample
  struct SplitKeys {
    torch::Tensor prefix_idx;   // int64 [p]: the visible earlier keys when they are not one contiguous run
    int64_t prefix_begin = 0, prefix_len = 0;
    torch::Tensor causal_mask;  // bool [len, p + len] for a causal split longer than 1
  };
  std::vector<SplitKeys> split_keys;         // kSplitwise: one per split
  static AttentionPlan make(const PackLayout& layout, AttentionImpl impl, torch::Device device, int64_t cached = 0);
};

// q [L, Hq, d], k and v [cached + L, Hkv, d] (Hq a multiple of Hkv: GQA inside SDPA) -> [L, Hq, d]. Scale
// 1/sqrt(d).
torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionPlan& plan);
// The same with a plan made for this call (tests, one-off use; no cache).
torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const PackLayout& layout, AttentionImpl impl);

}  // namespace sgt::model
