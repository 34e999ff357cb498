#include "model/schema.h"

#include <algorithm>

namespace sgt::model {

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t total_numel(const std::vector<TensorSpec>& specs) {
  int64_t n = 0;
  for (const auto& s : specs) n += s.numel();
  return n;
}

namespace {
void linear(std::vector<TensorSpec>& out, const std::string& name, int64_t in, int64_t o, bool bias) {
  out.push_back({name + ".weight", {o, in}});
  if (bias) out.push_back({name + ".bias", {o}});
}
}  // namespace

std::vector<TensorSpec> llm_tensor_schema(const LLMConfig& c, const std::string& prefix) {
  std::vector<TensorSpec> out;
  const int64_t D = c.hidden_size, hd = c.head_size(), q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  const std::string m = prefix + "model.";
  out.push_back({m + "embed_tokens.weight", {c.vocab_size, D}});
  std::vector<std::string> copies = {""};
  if (c.mot()) copies.push_back("_moe_gen");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = m + "layers." + std::to_string(i) + ".";
    for (const auto& s : copies) {
      out.push_back({l + "input_layernorm" + s + ".weight", {D}});
      out.push_back({l + "post_attention_layernorm" + s + ".weight", {D}});
      linear(out, l + "self_attn.q_proj" + s, D, q, true);
      linear(out, l + "self_attn.k_proj" + s, D, kv, true);
      linear(out, l + "self_attn.v_proj" + s, D, kv, true);
      linear(out, l + "self_attn.o_proj" + s, q, D, false);
      if (c.qk_norm) {
        out.push_back({l + "self_attn.q_norm" + s + ".weight", {hd}});
        out.push_back({l + "self_attn.k_norm" + s + ".weight", {hd}});
      }
      linear(out, l + "mlp" + s + ".gate_proj", D, c.intermediate_size, false);
      linear(out, l + "mlp" + s + ".up_proj", D, c.intermediate_size, false);
      linear(out, l + "mlp" + s + ".down_proj", c.intermediate_size, D, false);
    }
  }
  for (const auto& s : copies) out.push_back({m + "norm" + s + ".weight", {D}});
  out.push_back({prefix + "lm_head.weight", {c.vocab_size, D}});
  return out;
}

std::vector<TensorSpec> vit_tensor_schema(const VisionConfig& c, const std::string& prefix) {
  std::vector<TensorSpec> out;
  const int64_t H = c.hidden_size, side = c.num_patches_per_side();
  const std::string v = prefix + "vision_model.";
  linear(out, v + "embeddings.patch_embedding", c.patch_dim(), H, true);
  out.push_back({v + "embeddings.position_embedding.weight", {side * side, H}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = v + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      out.push_back({l + n + ".weight", {H}});
      out.push_back({l + n + ".bias", {H}});
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) linear(out, l + "self_attn." + n, H, H, true);
    linear(out, l + "mlp.fc1", H, c.intermediate_size, true);
    linear(out, l + "mlp.fc2", c.intermediate_size, H, true);
  }
  out.push_back({v + "post_layernorm.weight", {H}});
  out.push_back({v + "post_layernorm.bias", {H}});
  return out;
}

std::vector<TensorSpec> bagel_tensor_schema(const BagelConfig& c) {
  std::vector<TensorSpec> out = llm_tensor_schema(c.llm, "language_model.");
  const int64_t D = c.llm.hidden_size;
  if (c.visual_gen) {
    linear(out, "time_embedder.mlp.0", 256, D, true);
    linear(out, "time_embedder.mlp.2", D, D, true);
    linear(out, "vae2llm", c.patch_latent_dim(), D, true);
    linear(out, "llm2vae", D, c.patch_latent_dim(), true);
    out.push_back({"latent_pos_embed.pos_embed", {c.max_latent_size * c.max_latent_size, D}});
  }
  if (c.visual_und) {
    auto v = vit_tensor_schema(c.vit, "vit_model.");
    out.insert(out.end(), v.begin(), v.end());
    linear(out, "connector.fc1", c.vit.hidden_size, D, true);
    linear(out, "connector.fc2", D, D, true);
    const int64_t s = c.vit_max_num_patch_per_side;
    out.push_back({"vit_pos_embed.pos_embed", {s * s, D}});
  }
  std::sort(out.begin(), out.end(), [](const TensorSpec& a, const TensorSpec& b) { return a.name < b.name; });
  return out;
}

}  // namespace sgt::model
