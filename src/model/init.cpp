#include "model/init.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace sgt::model {
namespace {

constexpr const char* kC = "model.init";

std::map<std::string, torch::Tensor> params_by_name(Bagel& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : m->named_parameters(true)) out[kv.key()] = kv.value();
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// q [H * d, ...] <- k [H_kv * d, ...] repeated per group + noise_scale * q. d = head_dim.
void mimic(torch::Tensor& q, const torch::Tensor& k, int64_t head_dim, double noise_scale, const std::string& name) {
  SGT_CHECK(head_dim > 0 && q.size(0) % head_dim == 0 && k.size(0) % head_dim == 0, kC,
            "{}: q {} / k {} rows are not multiples of head_dim {}", name, q.sizes(), k.sizes(), head_dim);
  const int64_t hq = q.size(0) / head_dim, hk = k.size(0) / head_dim;
  SGT_CHECK(hk > 0 && hq % hk == 0 && q.sizes().slice(1) == k.sizes().slice(1), kC,
            "{}: q {} and k {} do not form {} query heads over {} key heads", name, q.sizes(), k.sizes(), hq, hk);
  std::vector<int64_t> grouped = {hk, hq / hk, head_dim};
  std::vector<int64_t> kview = {hk, 1, head_dim};
  for (int64_t i = 1; i < q.dim(); ++i) {
    grouped.push_back(q.size(i));
    kview.push_back(k.size(i));
  }
  auto twin = k.reshape(kview).expand(grouped).reshape(q.sizes());
  q.mul_(noise_scale).add_(twin);
}

}  // namespace

std::vector<std::string> split_scheme(const std::string& scheme) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (true) {
    const size_t plus = scheme.find('+', at);
    parts.push_back(scheme.substr(at, plus == std::string::npos ? std::string::npos : plus - at));
    if (plus == std::string::npos) break;
    at = plus + 1;
  }
  for (const auto& p : parts)
    SGT_CHECK(p == "default" || p == "siglip" || p == "mimetic" || p == "cross" || p == "centred", kC,
              "unknown init scheme part '{}' in '{}' (default | siglip | mimetic | cross | centred, joined with '+')",
              p, scheme);
  return parts;
}

int64_t copy_init_moe(Bagel& m) {
  torch::NoGradGuard ng;
  auto params = params_by_name(m);
  int64_t copied = 0;
  const std::string tag = "_moe_gen";
  for (auto& [name, p] : params) {
    const auto at = name.find(tag);
    if (at == std::string::npos) continue;
    const std::string twin = name.substr(0, at) + name.substr(at + tag.size());
    auto it = params.find(twin);
    SGT_CHECK(it != params.end(), kC, "copy_init_moe: {} has no understanding twin {}", name, twin);
    SGT_CHECK(it->second.sizes() == p.sizes(), kC, "copy_init_moe: {} {} vs {} {}", name, p.sizes(), twin,
              it->second.sizes());
    p.copy_(it->second);
    ++copied;
  }
  return copied;
}

int64_t mimetic_qk_init(Bagel& m, double noise_scale) {
  torch::NoGradGuard ng;
  auto params = params_by_name(m);
  const auto& c = m->config();
  int64_t rewritten = 0;
  for (auto& [name, q] : params) {
    for (const std::string proj : {"q_proj", "q_proj_moe_gen"}) {
      for (const std::string kind : {".weight", ".bias"}) {
        const std::string suffix = "." + proj + kind;
        if (!ends_with(name, suffix)) continue;
        const std::string base = name.substr(0, name.size() - suffix.size());
        const std::string kname = base + ".k" + proj.substr(1) + kind;
        auto it = params.find(kname);
        SGT_CHECK(it != params.end(), kC, "mimetic_qk_init: {} has no key projection {}", name, kname);
        const bool llm = name.rfind("language_model.", 0) == 0;
        const int64_t d = llm ? c.llm.head_size() : c.vit.hidden_size / c.vit.num_attention_heads;
        mimic(q, it->second, d, noise_scale, name);
        if (kind == ".weight") ++rewritten;
      }
    }
  }
  return rewritten;
}

int64_t siglip_reference_init(Bagel& m) {
  torch::NoGradGuard ng;
  auto params = params_by_name(m);
  const std::string emb = "vit_model.vision_model.embeddings.";
  auto pos = params.find(emb + "position_embedding.weight");
  auto patch = params.find(emb + "patch_embedding.weight");
  auto bias = params.find(emb + "patch_embedding.bias");
  if (pos == params.end() || patch == params.end() || bias == params.end()) return 0;
  pos->second.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(pos->second.size(1))));
  patch->second.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(patch->second.size(1))));
  bias->second.zero_();
  return 3;
}

int64_t redraw_gen_keys(Bagel& m) {
  torch::NoGradGuard ng;
  int64_t changed = 0;
  for (auto& kv : m->named_modules()) {
    if (!ends_with(kv.key(), ".k_proj_moe_gen")) continue;
    auto* lin = kv.value()->as<Linear>();
    SGT_CHECK(lin != nullptr, kC, "{} is not a Linear", kv.key());
    lin->reset_parameters();
    ++changed;
  }
  return changed;
}

int64_t centre_qk_biases(Bagel& m, const BagelPackedInputs& batch, const torch::Tensor& und_index,
                         const torch::Tensor& gen_index) {
  torch::NoGradGuard ng;
  SGT_CHECK(und_index.numel() > 0 && gen_index.numel() > 0, kC,
            "centre_qk_biases needs understanding and generation tokens in the batch (got {} and {})",
            und_index.numel(), gen_index.numel());
  const auto& c = m->config();
  std::vector<torch::Tensor> inputs;  // [layers] layer inputs [L, D]
  auto in = batch;
  in.checkpoint = false;
  in.hooks.on_input = [&](const torch::Tensor& h) { inputs.push_back(h.detach().clone()); };
  in.hooks.on_layer = [&](int64_t layer, const torch::Tensor& h) {
    if (layer + 1 < c.llm.num_hidden_layers) inputs.push_back(h.detach().clone());
  };
  const bool was_training = m->is_training();
  m->eval();
  m->forward(in);
  m->train(was_training);
  auto params = params_by_name(m);
  auto rms = [&](const torch::Tensor& x, const torch::Tensor& w) {
    return x * torch::rsqrt(x.pow(2).mean(-1, true) + c.llm.rms_norm_eps) * w;
  };
  for (int64_t l = 0; l < static_cast<int64_t>(inputs.size()); ++l) {
    const std::string base = "language_model.model.layers." + std::to_string(l) + ".";
    for (const std::string e : {"", "_moe_gen"}) {
      const auto& idx = e.empty() ? und_index : gen_index;
      const auto x = rms(inputs[l].index_select(0, idx.to(inputs[l].device())).to(torch::kFloat32),
                         params.at(base + "input_layernorm" + e + ".weight").to(torch::kFloat32));
      const auto mean = x.mean(0);  // [D]
      for (const std::string proj : {"q_proj", "k_proj"}) {
        auto bias = params.at(base + "self_attn." + proj + e + ".bias");
        const auto& w = params.at(base + "self_attn." + proj + e + ".weight");
        bias.copy_(-torch::matmul(w.to(torch::kFloat32), mean));
      }
    }
  }
  return static_cast<int64_t>(inputs.size());
}

namespace {

// The weight-only parts of an already parsed scheme, left to right.
void apply_weight_parts(Bagel& m, const std::vector<std::string>& parts) {
  for (const auto& part : parts) {
    if (part == "siglip") {
      SGT_CHECK(siglip_reference_init(m) > 0, kC, "init scheme 'siglip': the model has no SigLIP embeddings");
    } else if (part == "mimetic") {
      SGT_CHECK(mimetic_qk_init(m) > 0, kC, "mimetic init found no attention projections");
    }
    // default: nothing; cross must follow copy_init_moe and centred needs data: initialise applies both.
  }
}

}  // namespace

void apply_init_scheme(Bagel& m, const std::string& scheme) { apply_weight_parts(m, split_scheme(scheme)); }

std::string initialise(Bagel& m, const std::string& scheme, bool copy_moe,
                       const std::function<InitProbe()>& probe) {
  const auto parts = split_scheme(scheme);
  auto has = [&](const char* p) { return std::find(parts.begin(), parts.end(), p) != parts.end(); };
  apply_weight_parts(m, parts);
  std::string done = scheme;
  if (copy_moe) done += fmt::format(", {} generation tensors copied", copy_init_moe(m));
  if (has("cross")) redraw_gen_keys(m);
  if (has("centred")) {
    SGT_CHECK(static_cast<bool>(probe), kC, "init scheme '{}' has 'centred', which needs a batch: none given", scheme);
    const InitProbe b = probe();
    done += fmt::format(", q/k biases centred in {} layers on a {}-token batch",
                        centre_qk_biases(m, b.inputs, b.und_index, b.gen_index), b.inputs.sequence_length);
  }
  return done;
}

}  // namespace sgt::model
