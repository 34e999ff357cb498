#pragma once
// Packed-sequence attention for BAGEL (spec-bagel.md §2.4). Several samples are packed one after another into
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

namespace sgt::model {

enum class AttnMode { kCausal, kFull, kNoise };
AttnMode attn_mode_from_string(const std::string& s);  // "causal" | "full" | "noise"
const char* to_string(AttnMode m);

struct Split {
  int64_t start = 0;
  int64_t len = 0;
  AttnMode mode = AttnMode::kCausal;
  int64_t sample = 0;
};

struct PackLayout {
  std::vector<Split> splits;  // sequence order, contiguous, covering [0, total_len)

  // samples[i] = the (length, mode) of each split of sample i.
  static PackLayout from_samples(const std::vector<std::vector<std::pair<int64_t, AttnMode>>>& samples);
  int64_t total_len() const { return splits.empty() ? 0 : splits.back().start + splits.back().len; }
  int64_t num_samples() const { return splits.empty() ? 0 : splits.back().sample + 1; }
  // [start, end) of sample s.
  std::pair<int64_t, int64_t> sample_range(int64_t s) const;
  void validate() const;  // contiguity, positive lengths, samples numbered 0.. in order
};

enum class AttentionImpl { kDense, kSplitwise, kPacked };
AttentionImpl attention_impl_from_string(const std::string& s);  // "dense" | "splitwise" | "packed"
const char* to_string(AttentionImpl i);

// The rule above for sample s: bool [L_s, L_s], true = may attend.
torch::Tensor sample_attention_mask(const PackLayout& layout, int64_t sample);
// The whole packed mask (block-diagonal over samples): bool [L, L]. Tests and small inputs only.
torch::Tensor packed_attention_mask(const PackLayout& layout);

// The layout-derived tensors of one forward, on `device` (shared by every layer, and by the recomputation of
// checkpointed layers: the tensors are immutable).
struct AttentionPlan {
  PackLayout layout;
  AttentionImpl impl = AttentionImpl::kSplitwise;
  torch::Tensor packed_mask;                 // kPacked: bool [L, L]
  std::vector<torch::Tensor> sample_masks;   // kDense: bool [L_s, L_s] per sample
  struct SplitKeys {
    torch::Tensor prefix_idx;   // int64 [p]: the earlier non-noise splits' tokens when not one contiguous run
    int64_t prefix_begin = 0, prefix_len = 0;
    torch::Tensor causal_mask;  // bool [len, p + len] for a causal split longer than 1
  };
  std::vector<SplitKeys> split_keys;         // kSplitwise: one per split
  static AttentionPlan make(const PackLayout& layout, AttentionImpl impl, torch::Device device);
};

// q [L, Hq, d], k and v [L, Hkv, d] (Hq a multiple of Hkv, GQA) -> [L, Hq, d]. Scale 1/sqrt(d).
torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionPlan& plan);
// The same with a plan made for this call (tests, one-off use).
torch::Tensor packed_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const PackLayout& layout, AttentionImpl impl);

}  // namespace sgt::model
