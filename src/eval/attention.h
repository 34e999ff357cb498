#pragma once
// Attention allocation (docs/eval.md, "Attention allocation", after FastV): per layer, the share of attention mass
// that the chosen query tokens give to text keys, understanding (ViT) image keys and generation (VAE) latent keys,
// averaged over heads and queries (and over samples by accumulation); the per-layer change (%) between two
// checkpoints.
// The model side is a per-layer callback receiving q and k after RoPE, so only the chosen query rows of the
// attention matrix are ever formed ([H, nq, L] per layer, never [L, L] for every layer).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sgt::eval {

enum class KeyType : int8_t { kText = 0, kVit = 1, kVae = 2, kIgnore = 3 };  // kIgnore: counted in no bucket
                                                                              // (e.g. BOS sinks, if so decided)

struct AttentionShares {
  double text = 0, vit = 0, vae = 0;  // mean share per (head, query); text + vit + vae = 1 - ignored mass
  double vision() const { return vit + vae; }
  double vision_ratio() const { return vit + vae + text > 0 ? (vit + vae) / (vit + vae + text) : 0.0; }
};

// probs [H, nq, K] post-softmax rows of the chosen queries; key_types [K].
AttentionShares shares_from_probs(const torch::Tensor& probs, const std::vector<KeyType>& key_types);

// q [L, H, d], k [L, Hkv, d] after RoPE (H a multiple of Hkv: grouped-query attention repeats each kv head).
// allowed: [nq, L] bool (true = may attend) or undefined for causal masking at the query positions.
// scale: softmax temperature (0 = 1/sqrt(d)). Softmax in float32 (float64 if the inputs are).
AttentionShares shares_from_qk(const torch::Tensor& q, const torch::Tensor& k, const std::vector<int64_t>& query_positions,
                               const std::vector<KeyType>& key_types, const torch::Tensor& allowed = {}, double scale = 0);

// Accumulates shares over layers and samples. hook() is the per-layer callback to hand to the model's analysis
// mode; set_sample() gives the key types and query positions of the next forward pass.
class AttentionAllocation {
 public:
  explicit AttentionAllocation(int64_t num_layers);
  void set_sample(std::vector<KeyType> key_types, std::vector<int64_t> query_positions, torch::Tensor allowed = {});
  void add(int64_t layer, const torch::Tensor& q, const torch::Tensor& k);
  std::function<void(int64_t layer, const torch::Tensor& q, const torch::Tensor& k)> hook();
  std::vector<AttentionShares> mean() const;  // [num_layers]; throws if a layer saw no sample
  int64_t samples(int64_t layer) const { return count_.at(layer); }

 private:
  std::vector<AttentionShares> sum_;
  std::vector<int64_t> count_;
  std::vector<KeyType> key_types_;
  std::vector<int64_t> query_positions_;
  torch::Tensor allowed_;
};

// 100 (r_tuned - r_base) / r_base per layer, r = vision_ratio().
std::vector<double> allocation_change_percent(const std::vector<AttentionShares>& base,
                                              const std::vector<AttentionShares>& tuned);

// PNG: with tuned empty, the text / ViT / VAE shares of `base` per layer; else the change (%) as bars.
void write_attention_plot(const std::string& path, const std::vector<AttentionShares>& base,
                          const std::vector<AttentionShares>& tuned, const std::string& title);

}  // namespace sgt::eval
