#pragma once
// Qwen2 decoder with BAGEL's Mixture-of-Transformers copies (docs/model.md, "Decoder layer"). Module names equal the
// checkpoint's (`model.layers.N.self_attn.q_proj_moe_gen`, ...), so loading is a strict lookup.
// Every token is routed by a boolean gen mask: false -> understanding copy, true -> generation copy (`*_moe_gen`).
// Attention is one joint attention over the packed sequence with the rule of attention.h.
#include <functional>

#include <torch/torch.h>

#include "model/layers.h"

#include "model/attention.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace sgt::model {

// Qwen2RMSNorm: x upcast to fp32, x * rsqrt(mean(x^2) + eps), cast back to the input dtype, times weight.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [..., dim] -> [..., dim]
  torch::Tensor weight;
  double eps_;
};
TORCH_MODULE(RMSNorm);

// SwiGLU: down(silu(gate(x)) * up(x)), no biases.
class Qwen2MLPImpl : public torch::nn::Module {
 public:
  Qwen2MLPImpl(int64_t hidden, int64_t intermediate);
  torch::Tensor forward(const torch::Tensor& x);  // [n, hidden] -> [n, hidden]
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Qwen2MLP);

// Token routing between the two expert copies: index lists of und and gen tokens of a packed sequence.
struct Routing {
  torch::Tensor und_idx, gen_idx;  // int64 [N_und], [N_gen]
  int64_t length = 0;
  bool freeze_und = false;  // detach und outputs (BAGEL's freeze_und: only gen weights get gradients)
  static Routing from_gen_mask(const torch::Tensor& gen_mask);  // bool [L]
  bool all_und() const { return gen_idx.numel() == 0; }
  bool all_gen() const { return und_idx.numel() == 0; }
  // y[U] = f_und(x[U]), y[G] = f_gen(x[G]); x [L, ...] -> [L, ...]
  torch::Tensor apply(const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&)>& f_und,
                      const std::function<torch::Tensor(const torch::Tensor&)>& f_gen) const;
};

// Optional analysis hooks of a packed forward (eval layer: linear-probe features, attention allocation). Left
// empty (the default) they cost one branch per layer and change nothing; set, they only read tensors, so the
// forward's outputs are identical. Not allowed with checkpoint_layers (the recomputation would call them twice).
struct ForwardHooks {
  // After decoder layer `layer` (0-based): hidden [L, hidden], the residual stream that enters the next layer
  // (for the last layer: the final hidden states before norm / norm_moe_gen).
  std::function<void(int64_t layer, const torch::Tensor& hidden)> on_layer;
  // Inside the attention of `layer`: q [L, H, d] and k [L, Hkv, d] after the q/k RMSNorm and RoPE, i.e. what
  // softmax(q k^T / sqrt(d) + mask) is computed from (H a multiple of Hkv: query head h uses kv head h / (H/Hkv)).
  std::function<void(int64_t layer, const torch::Tensor& q, const torch::Tensor& k)> on_attention;
  // Before decoder layer 0: the packed input embeddings [L, hidden].
  std::function<void(const torch::Tensor& hidden)> on_input;
  bool empty() const { return !on_layer && !on_attention && !on_input; }
};

// RoPE tables for 1-D position ids [L] -> (cos, sin) [L, head_dim] in fp32 (rotate-half convention).
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& position_ids, int64_t head_dim,
                                                     double theta);
// x [L, H, d] with cos/sin [L, d] -> x*cos + rotate_half(x)*sin (tables cast to x's dtype first).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

class PackedAttentionMoTImpl : public torch::nn::Module {
 public:
  explicit PackedAttentionMoTImpl(const LLMConfig& c);
  // x [L, hidden] (already normed per expert), cos/sin [L, head_dim] -> [L, hidden] (after o_proj).
  // hooks (optional): on_attention(layer, q, k) is called once with the post-RoPE q / k (k: the L new keys).
  // kv (optional): the cache session of an inference forward; the new keys are written there and the attention
  // runs over the cached keys and them (plan.cached of them come from the cache).
  torch::Tensor forward(const torch::Tensor& x, const Routing& r, const torch::Tensor& cos, const torch::Tensor& sin,
                        const AttentionPlan& plan, const ForwardHooks* hooks = nullptr,
                        int64_t layer = 0, KVSession* kv = nullptr);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Linear q_proj_moe_gen{nullptr}, k_proj_moe_gen{nullptr}, v_proj_moe_gen{nullptr},
      o_proj_moe_gen{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, q_norm_moe_gen{nullptr}, k_norm_moe_gen{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
  bool mot_, qk_norm_;
};
TORCH_MODULE(PackedAttentionMoT);

class Qwen2MoTDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit Qwen2MoTDecoderLayerImpl(const LLMConfig& c);
  // h [L, hidden] -> [L, hidden]; hooks / layer / kv are handed to the attention.
  torch::Tensor forward(const torch::Tensor& h, const Routing& r, const torch::Tensor& cos, const torch::Tensor& sin,
                        const AttentionPlan& plan, const ForwardHooks* hooks = nullptr,
                        int64_t layer = 0, KVSession* kv = nullptr);
  RMSNorm input_layernorm{nullptr}, input_layernorm_moe_gen{nullptr};
  RMSNorm post_attention_layernorm{nullptr}, post_attention_layernorm_moe_gen{nullptr};
  PackedAttentionMoT self_attn{nullptr};
  Qwen2MLP mlp{nullptr}, mlp_moe_gen{nullptr};

 private:
  bool mot_;
};
TORCH_MODULE(Qwen2MoTDecoderLayer);

// The inputs of one packed forward through the decoder: a training pack, or (with a cache) an inference chunk
// that continues one sample: prefill and cached decoding are the same forward with cache set.
struct PackedForward {
  torch::Tensor position_ids;  // int64 [L] (RoPE ids, see docs/model.md, "Images as tokens")
  torch::Tensor gen_mask;      // bool [L]; undefined = every token und
  PackLayout layout;
  AttentionImpl impl = AttentionImpl::kSplitwise;
  bool checkpoint_layers = false;  // recompute each decoder layer in backward (model/recompute.h)
  ForwardHooks hooks;              // analysis only; empty by default
  KVCache* cache = nullptr;        // inference: the sample's earlier tokens (one sample; no checkpointing)
  bool update_cache = false;       // append this forward's keys / values to *cache (no noise split then)
};

class Qwen2ModelImpl : public torch::nn::Module {
 public:
  explicit Qwen2ModelImpl(const LLMConfig& c);
  // embeds [L, hidden] -> final hidden [L, hidden] (norm / norm_moe_gen applied per route)
  torch::Tensor forward(const torch::Tensor& embeds, const PackedForward& in);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr}, norm_moe_gen{nullptr};
  const LLMConfig& config() const { return config_; }

 private:
  LLMConfig config_;
};
TORCH_MODULE(Qwen2Model);

class Qwen2ForCausalLMImpl : public torch::nn::Module {
 public:
  explicit Qwen2ForCausalLMImpl(const LLMConfig& c);
  // ids int64 [L] -> logits [L, vocab] (a text-only packed forward)
  torch::Tensor forward(const torch::Tensor& ids, const PackedForward& in);
  Qwen2Model model{nullptr};
  Linear lm_head{nullptr};
};
TORCH_MODULE(Qwen2ForCausalLM);

}  // namespace sgt::model
