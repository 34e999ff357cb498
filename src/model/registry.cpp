#include "model/registry.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"

namespace sgt::model {

namespace {
BagelConfig parse_bagel(const config::Json& j, const std::string& where) {
  auto c = config::from_json<BagelConfig>(j, where);
  // The config's own name for its architecture must be one this build has (e.g. "gpt" is refused, not built as
  // BAGEL).
  const auto known = architecture_names();
  SGT_CHECK(std::find(known.begin(), known.end(), c.architecture) != known.end(), "model.config",
            "{}: unknown architecture '{}' (known: {})", where, c.architecture, fmt::join(known, ", "));
  return c;
}

const std::vector<Architecture>& registry() {
  static const std::vector<Architecture> archs = {
      {"bagel-mot", "BAGEL root: Qwen2-MoT LLM, SigLIP NaViT, connector, generation heads (ema.safetensors names)",
       parse_bagel, [](const BagelConfig& c) -> std::shared_ptr<torch::nn::Module> { return Bagel(c).ptr(); },
       [](const BagelConfig& c) { return bagel_tensor_schema(c); }},
      {"qwen2-mot", "Qwen2(-MoT) CausalLM alone (HF names, *_moe_gen copies when layer_module is MoT)", parse_bagel,
       [](const BagelConfig& c) -> std::shared_ptr<torch::nn::Module> { return Qwen2ForCausalLM(c.llm).ptr(); },
       [](const BagelConfig& c) { return llm_tensor_schema(c.llm, ""); }},
  };
  return archs;
}
}  // namespace

const Architecture& find_architecture(const std::string& name) {
  for (const auto& a : registry())
    if (a.name == name) return a;
  SGT_FAIL("model.registry", "unknown architecture '{}' (known: {})", name, fmt::join(architecture_names(), ", "));
}

std::vector<std::string> architecture_names() {
  std::vector<std::string> out;
  for (const auto& a : registry()) out.push_back(a.name);
  return out;
}

void load_bagel_weights(Bagel& model, const std::string& path) {
  auto source = io::TensorSource::open(path);
  io::LoadOptions opt;
  opt.optional = {"latent_pos_embed.pos_embed", "vit_pos_embed.pos_embed"};
  io::load_state_dict(*model, source, opt);
  // The reference pops the stored tables and keeps freshly computed ones; we recompute and check the copy.
  torch::NoGradGuard ng;
  for (auto* pe : {model->latent_pos_embed.get(), model->vit_pos_embed.get()}) {
    if (pe == nullptr) continue;
    const int64_t rows = pe->pos_embed.size(0), dim = pe->pos_embed.size(1);
    const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(rows))));
    auto fresh = sincos_2d_table(side, dim);
    const double diff = (pe->pos_embed.to(torch::kFloat32).cpu() - fresh).abs().max().item<double>();
    // bf16 storage of values in [-1, 1]: rounding error <= 2^-8
    SGT_CHECK(diff <= 1.0 / 128, "model.registry", "{}: stored sin-cos table [{}, {}] differs from the formula by {}",
              path, rows, dim, diff);
    pe->pos_embed.copy_(fresh);
  }
}

LoadedBagel load_bagel_folder(const std::string& folder, torch::ScalarType dtype, torch::Device device) {
  namespace fs = std::filesystem;
  SGT_CHECK(dtype == torch::kBFloat16 || dtype == torch::kFloat32, "model.registry",
            "{}: load dtype must be bf16 or fp32, got {}", folder, c10::toString(dtype));
  const std::string ema = (fs::path(folder) / "ema.safetensors").string();
  SGT_CHECK(fs::exists(ema), "model.registry", "{}: no ema.safetensors", folder);
  LoadedBagel out;
  out.config = bagel_config_from_folder(folder);
  out.model = Bagel(out.config);
  out.model->to(device, dtype);
  load_bagel_weights(out.model, ema);
  return out;
}

}  // namespace sgt::model
