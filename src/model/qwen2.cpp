#include "model/qwen2.h"

#include <cmath>
#include <optional>

#include "core/error.h"
#include "model/recompute.h"

namespace sgt::model {

namespace F = torch::nn::functional;

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", fixed_param(torch::ones({dim})));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto var = xf.pow(2).mean(-1, true);
  return weight * (xf * torch::rsqrt(var + eps_)).to(x.scalar_type());
}

Qwen2MLPImpl::Qwen2MLPImpl(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", Linear(hidden, intermediate, false));
  up_proj = register_module("up_proj", Linear(hidden, intermediate, false));
  down_proj = register_module("down_proj", Linear(intermediate, hidden, false));
}

torch::Tensor Qwen2MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(F::silu(gate_proj(x)) * up_proj(x));
}

Routing Routing::from_gen_mask(const torch::Tensor& gen_mask) {
  SGT_CHECK(gen_mask.dim() == 1 && gen_mask.scalar_type() == torch::kBool, "model.qwen2",
            "gen_mask must be bool [L], got {} {}", sgt::shape_str(gen_mask.sizes().vec()),
            c10::toString(gen_mask.scalar_type()));
  Routing r;
  r.length = gen_mask.size(0);
  r.gen_idx = torch::nonzero(gen_mask).flatten();
  r.und_idx = torch::nonzero(gen_mask.logical_not()).flatten();
  return r;
}

torch::Tensor Routing::apply(const torch::Tensor& x,
                             const std::function<torch::Tensor(const torch::Tensor&)>& f_und,
                             const std::function<torch::Tensor(const torch::Tensor&)>& f_gen) const {
  if (all_und()) {
    auto y = f_und(x);
    return freeze_und ? y.detach() : y;
  }
  if (all_gen()) return f_gen(x);
  auto yu = f_und(x.index_select(0, und_idx));
  if (freeze_und) yu = yu.detach();
  auto yg = f_gen(x.index_select(0, gen_idx));
  auto shape = yu.sizes().vec();
  shape[0] = length;
  return torch::empty(shape, yu.options()).index_copy(0, und_idx, yu).index_copy(0, gen_idx, yg);
}

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& position_ids, int64_t head_dim,
                                                     double theta) {
  auto opts = torch::TensorOptions().device(position_ids.device());
  // inv_freq_j = theta^(-2j/d), computed in fp32 like the reference
  auto exps = torch::arange(0, head_dim, 2, opts.dtype(torch::kInt64)).to(torch::kFloat32) / static_cast<double>(head_dim);
  auto inv_freq = 1.0 / torch::pow(theta, exps);
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(1) * inv_freq.unsqueeze(0);  // [L, d/2]
  auto emb = torch::cat({freqs, freqs}, -1);                                            // [L, d]
  return {emb.cos(), emb.sin()};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto c = cos.to(x.scalar_type()).unsqueeze(1), s = sin.to(x.scalar_type()).unsqueeze(1);  // [L, 1, d]
  auto rot = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * c + rot * s;
}

namespace {
Linear linear(int64_t in, int64_t out, bool bias) { return Linear(in, out, bias); }
}  // namespace

PackedAttentionMoTImpl::PackedAttentionMoTImpl(const LLMConfig& c)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_size()), mot_(c.mot()),
      qk_norm_(c.qk_norm) {
  const int64_t D = c.hidden_size, q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", linear(D, q_out, true));
  k_proj = register_module("k_proj", linear(D, kv_out, true));
  v_proj = register_module("v_proj", linear(D, kv_out, true));
  o_proj = register_module("o_proj", linear(q_out, D, false));
  if (qk_norm_) {
    q_norm = register_module("q_norm", RMSNorm(head_dim_, c.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, c.rms_norm_eps));
  }
  if (mot_) {
    q_proj_moe_gen = register_module("q_proj_moe_gen", linear(D, q_out, true));
    k_proj_moe_gen = register_module("k_proj_moe_gen", linear(D, kv_out, true));
    v_proj_moe_gen = register_module("v_proj_moe_gen", linear(D, kv_out, true));
    o_proj_moe_gen = register_module("o_proj_moe_gen", linear(q_out, D, false));
    if (qk_norm_) {
      q_norm_moe_gen = register_module("q_norm_moe_gen", RMSNorm(head_dim_, c.rms_norm_eps));
      k_norm_moe_gen = register_module("k_norm_moe_gen", RMSNorm(head_dim_, c.rms_norm_eps));
    }
  }
}

torch::Tensor PackedAttentionMoTImpl::forward(const torch::Tensor& x, const Routing& r, const torch::Tensor& cos,
                                              const torch::Tensor& sin, const AttentionPlan& plan,
                                              const ForwardHooks* hooks, int64_t layer, KVSession* kv) {
  const int64_t L = x.size(0);
  SGT_CHECK(mot_ || r.all_und(), "model.qwen2", "{} gen tokens routed to a layer without *_moe_gen copies",
            r.gen_idx.numel());
  const int64_t q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  // [n, D] -> [n, q_out + 2 kv_out]: projected (and q/k-normed) per expert, one tensor so routing runs once
  auto project = [&](bool gen) {
    return [&, gen](const torch::Tensor& n) {
      auto q = (gen ? q_proj_moe_gen : q_proj)(n).view({n.size(0), heads_, head_dim_});
      auto k = (gen ? k_proj_moe_gen : k_proj)(n).view({n.size(0), kv_heads_, head_dim_});
      auto v = (gen ? v_proj_moe_gen : v_proj)(n);
      if (qk_norm_) {
        q = (gen ? q_norm_moe_gen : q_norm)(q);
        k = (gen ? k_norm_moe_gen : k_norm)(k);
      }
      return torch::cat({q.reshape({n.size(0), q_out}), k.reshape({n.size(0), kv_out}), v}, 1);
    };
  };
  auto qkv = r.apply(x, project(false), project(true));
  auto q = qkv.slice(1, 0, q_out).view({L, heads_, head_dim_});
  auto k = qkv.slice(1, q_out, q_out + kv_out).view({L, kv_heads_, head_dim_});
  auto v = qkv.slice(1, q_out + kv_out).view({L, kv_heads_, head_dim_});
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  if (hooks && hooks->on_attention) hooks->on_attention(layer, q, k);
  torch::Tensor a;
  if (kv) {
    auto [K, V] = kv->extend(layer, k, v);  // [cached + L, Hkv, d]
    a = packed_attention(q, K, V, plan);
  } else {
    a = packed_attention(q, k, v, plan);
  }
  a = a.reshape({L, q_out});
  return r.apply(a, [&](const torch::Tensor& t) { return o_proj(t); },
                 [&](const torch::Tensor& t) { return o_proj_moe_gen(t); });
}

Qwen2MoTDecoderLayerImpl::Qwen2MoTDecoderLayerImpl(const LLMConfig& c) : mot_(c.mot()) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", PackedAttentionMoT(c));
  mlp = register_module("mlp", Qwen2MLP(c.hidden_size, c.intermediate_size));
  if (mot_) {
    input_layernorm_moe_gen = register_module("input_layernorm_moe_gen", RMSNorm(c.hidden_size, c.rms_norm_eps));
    post_attention_layernorm_moe_gen =
        register_module("post_attention_layernorm_moe_gen", RMSNorm(c.hidden_size, c.rms_norm_eps));
    mlp_moe_gen = register_module("mlp_moe_gen", Qwen2MLP(c.hidden_size, c.intermediate_size));
  }
}

torch::Tensor Qwen2MoTDecoderLayerImpl::forward(const torch::Tensor& h, const Routing& r, const torch::Tensor& cos,
                                                const torch::Tensor& sin, const AttentionPlan& plan,
                                                const ForwardHooks* hooks, int64_t layer, KVSession* kv) {
  auto n = r.apply(h, [&](const torch::Tensor& t) { return input_layernorm(t); },
                   [&](const torch::Tensor& t) { return input_layernorm_moe_gen(t); });
  auto x = h + self_attn->forward(n, r, cos, sin, plan, hooks, layer, kv);
  auto m = r.apply(x, [&](const torch::Tensor& t) { return mlp(post_attention_layernorm(t)); },
                   [&](const torch::Tensor& t) { return mlp_moe_gen(post_attention_layernorm_moe_gen(t)); });
  return x + m;
}

Qwen2ModelImpl::Qwen2ModelImpl(const LLMConfig& c) : config_(c) {
  c.validate();
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Qwen2MoTDecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  if (c.mot()) norm_moe_gen = register_module("norm_moe_gen", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor Qwen2ModelImpl::forward(const torch::Tensor& embeds, const PackedForward& in) {
  const int64_t L = embeds.size(0);
  SGT_CHECK(embeds.dim() == 2 && embeds.size(1) == config_.hidden_size, "model.qwen2",
            "embeds {} must be [L, {}]", sgt::shape_str(embeds.sizes().vec()), config_.hidden_size);
  SGT_CHECK(in.position_ids.dim() == 1 && in.position_ids.size(0) == L, "model.qwen2",
            "position_ids {} must be [L={}]", sgt::shape_str(in.position_ids.sizes().vec()), L);
  SGT_CHECK(in.layout.total_len() == L, "model.qwen2", "pack layout covers {} tokens, sequence has {}",
            in.layout.total_len(), L);
  Routing r = in.gen_mask.defined()
                  ? Routing::from_gen_mask(in.gen_mask.to(embeds.device()))
                  : Routing::from_gen_mask(torch::zeros({L}, torch::TensorOptions().dtype(torch::kBool).device(embeds.device())));
  SGT_CHECK(r.length == L, "model.qwen2", "gen_mask has {} entries, sequence has {}", r.length, L);
  SGT_CHECK(config_.mot() || r.all_und(), "model.qwen2",
            "{} tokens routed to the generation copy, but layer_module {} has no *_moe_gen weights",
            r.gen_idx.numel(), config_.layer_module);
  r.freeze_und = config_.freeze_und;
  auto [cos, sin] = rope_cos_sin(in.position_ids.to(embeds.device()), config_.head_size(), config_.rope_theta);
  SGT_CHECK(in.hooks.empty() || !in.checkpoint_layers, "model.qwen2",
            "analysis hooks cannot be combined with checkpoint_layers (recomputation would call them twice)");
  const ForwardHooks* hooks = in.hooks.empty() ? nullptr : &in.hooks;
  std::optional<KVSession> kv;
  if (in.cache) {
    SGT_CHECK(!in.checkpoint_layers, "model.qwen2", "a cached forward cannot checkpoint layers (inference only)");
    SGT_CHECK(in.layout.num_samples() == 1, "model.qwen2", "a cached forward continues one sample, the layout has {}",
              in.layout.num_samples());
    for (const Split& sp : in.layout.splits)
      SGT_CHECK(!in.update_cache || sp.mode != AttnMode::kNoise, "model.qwen2",
                "a noise split cannot be appended to the cache (no later token may see it)");
    kv.emplace(*in.cache, static_cast<int64_t>(layers->size()), L, in.update_cache);
  }
  // once, not per layer
  const auto plan = AttentionPlan::make(in.layout, in.impl, embeds.device(), kv ? kv->cached() : 0);
  auto h = embeds;
  if (hooks && hooks->on_input) hooks->on_input(h);
  int64_t index = 0;
  for (const auto& layer : *layers) {
    auto* l = layer->as<Qwen2MoTDecoderLayer>();
    if (hooks || kv) {
      h = l->forward(h, r, cos, sin, plan, hooks, index, kv ? &*kv : nullptr);
      if (hooks && hooks->on_layer) hooks->on_layer(index, h);
    } else if (in.checkpoint_layers) {
      // Captured by value: the closure runs again during backward, after this function has returned.
      h = recompute([l, r, cos = cos, sin = sin, plan](const torch::Tensor& x) {
        return l->forward(x, r, cos, sin, plan);
      }, h);
    } else {
      h = l->forward(h, r, cos, sin, plan);
    }
    ++index;
  }
  if (kv) kv->commit();
  return r.apply(h, [&](const torch::Tensor& t) { return norm(t); },
                 [&](const torch::Tensor& t) { return norm_moe_gen(t); });
}

Qwen2ForCausalLMImpl::Qwen2ForCausalLMImpl(const LLMConfig& c) {
  SGT_CHECK(!c.tie_word_embeddings, "model.qwen2", "tie_word_embeddings=true is not supported (BAGEL unties lm_head)");
  model = register_module("model", Qwen2Model(c));
  lm_head = register_module("lm_head", linear(c.hidden_size, c.vocab_size, false));
}

torch::Tensor Qwen2ForCausalLMImpl::forward(const torch::Tensor& ids, const PackedForward& in) {
  SGT_CHECK(ids.dim() == 1, "model.qwen2", "ids {} must be [L]", sgt::shape_str(ids.sizes().vec()));
  return lm_head(model(model->embed_tokens(ids), in));
}

}  // namespace sgt::model
