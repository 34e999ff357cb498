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
// A config's own name for its architecture must be one this build has (e.g. "gpt" is refused, not built as BAGEL);
// `where` names the config.
void check_known_architecture(const std::string& name, const std::string& where) {
  const auto known = architecture_names();
  SGT_CHECK(std::find(known.begin(), known.end(), name) != known.end(), "model.config",
            "{}: unknown architecture '{}' (known: {})", where, name, fmt::join(known, ", "));
}

BagelConfig parse_bagel(const config::Json& j, const std::string& where) {
  auto c = config::from_json<BagelConfig>(j, where);
  check_known_architecture(c.architecture, where);
  return c;
}

// BAGEL-7B-MoT's layout: the two configs (or an HF-style config.json holding them) beside the EMA weights.
bool is_bagel_folder(const std::string& folder) { return has_bagel_config(folder); }

// BAGEL-7B-MoT ships Qwen2.5's tokenizer files: added tokens 151643 (<|endoftext|>) to 151664 (<|file_sep|>).
constexpr int64_t kQwen25AddedTokensEnd = 151665;

const std::vector<Architecture>& registry() {
  static const std::vector<Architecture> archs = {
      {"bagel-mot", "BAGEL root: Qwen2-MoT LLM, SigLIP NaViT, connector, generation heads (ema.safetensors names)",
       parse_bagel, [](const BagelConfig& c) -> std::shared_ptr<torch::nn::Module> { return Bagel(c).ptr(); },
       [](const BagelConfig& c) { return bagel_tensor_schema(c); }, [](const BagelConfig& c) { return Bagel(c); },
       is_bagel_folder, bagel_config_from_folder,
       [](const std::string& folder) { return (std::filesystem::path(folder) / "ema.safetensors").string(); },
       kQwen25AddedTokensEnd},
      {"qwen2-mot", "Qwen2(-MoT) CausalLM alone (HF names, *_moe_gen copies when layer_module is MoT)", parse_bagel,
       [](const BagelConfig& c) -> std::shared_ptr<torch::nn::Module> { return Qwen2ForCausalLM(c.llm).ptr(); },
       [](const BagelConfig& c) { return llm_tensor_schema(c.llm, ""); }, nullptr, nullptr, nullptr, nullptr,
       kQwen25AddedTokensEnd},
  };
  return archs;
}
}  // namespace

text::Tokenizer release_tokenizer_view(const BagelConfig& config, const text::Tokenizer& tokenizer) {
  const auto limit = find_architecture(config.architecture).added_tokens_below;
  return limit > 0 ? tokenizer.with_added_tokens_below(static_cast<text::TokenId>(limit)) : tokenizer;
}

const Architecture& find_architecture(const std::string& name) {
  for (const auto& a : registry())
    if (a.name == name) return a;
  SGT_FAIL("model.registry", "unknown architecture '{}' (known: {})", name, fmt::join(architecture_names(), ", "));
}

std::vector<std::string> runnable_names() {
  std::vector<std::string> out;
  for (const auto& a : registry())
    if (a.build_runnable) out.push_back(a.name);
  return out;
}

std::vector<std::string> architecture_names() {
  std::vector<std::string> out;
  for (const auto& a : registry()) out.push_back(a.name);
  return out;
}

std::vector<std::string> generation_tensor_patterns() {
  return {"*_moe_gen.*", "time_embedder.*", "vae2llm.*", "llm2vae.*", "latent_pos_embed.*"};
}

void load_bagel_weights(Bagel& model, const std::string& path, bool zero_copy, const std::vector<std::string>& skip) {
  auto source = io::TensorSource::open(path);
  io::LoadOptions opt;
  opt.optional = {"latent_pos_embed.pos_embed", "vit_pos_embed.pos_embed"};
  opt.ignored = skip;
  opt.zero_copy = zero_copy;
  io::load_state_dict(*model, source, opt);
  // The reference pops the stored tables and keeps freshly computed ones; we recompute and check the copy.
  torch::NoGradGuard ng;
  for (const PositionEmbedding& holder : {model->latent_pos_embed, model->vit_pos_embed}) {
    if (holder.is_empty()) continue;  // visual_gen / visual_und off
    auto* pe = holder.get();
    const int64_t rows = pe->pos_embed.size(0), dim = pe->pos_embed.size(1);
    const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(rows))));
    auto fresh = sincos_2d_table(side, dim);
    const double diff = (pe->pos_embed.to(torch::kFloat32).cpu() - fresh).abs().max().item<double>();
    // bf16 storage of values in [-1, 1]: rounding error <= 2^-8
    SGT_CHECK(diff <= 1.0 / 128, "model.registry", "{}: stored sin-cos table [{}, {}] differs from the formula by {}",
              path, rows, dim, diff);
    // set_data, not copy_: a zero-copy table lives in the read-only mapping
    pe->pos_embed.set_data(fresh.to(pe->pos_embed.device(), pe->pos_embed.scalar_type()));
  }
}

LoadedBagel load_bagel_folder(const std::string& folder, torch::ScalarType dtype, torch::Device device) {
  return open(ModelSource{folder, "", ""}, OpenOptions{dtype, device, nullptr});
}

const Architecture* release_architecture(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return nullptr;
  for (const auto& a : registry())
    if (a.is_release_folder && a.is_release_folder(path)) return &a;
  return nullptr;
}

BagelConfig load_model_config(const std::string& path) {
  const auto j = config::load_json_file(path);
  std::string name = "bagel-mot";
  if (j.is_object() && j.contains("architecture")) {
    SGT_CHECK(j.at("architecture").is_string(), "model.registry", "{}: \"architecture\" must be a string, got {}",
              path, j.at("architecture").dump());
    name = j.at("architecture").get<std::string>();
  }
  check_known_architecture(name, path);  // before find_architecture, whose error cannot name the file
  return find_architecture(name).parse(j, path);
}

Bagel build_model(const BagelConfig& config) {
  const auto& arch = find_architecture(config.architecture);
  SGT_CHECK(static_cast<bool>(arch.build_runnable), "model.registry",
            "architecture '{}' ({}) is a part of a model: training and inference need one of: {}", arch.name,
            arch.description, fmt::join(runnable_names(), ", "));
  return arch.build_runnable(config);
}

LoadedBagel open(const ModelSource& src, const OpenOptions& opt) {
  namespace fs = std::filesystem;
  SGT_CHECK(opt.dtype == torch::kBFloat16 || opt.dtype == torch::kFloat32, "model.registry",
            "{}: load dtype must be bf16 or fp32, got {}", src.folder.empty() ? src.config : src.folder,
            c10::toString(opt.dtype));
  SGT_CHECK(src.folder.empty() != src.config.empty(), "model.registry",
            "a model is opened from a release folder or from a config (with weights), not {}",
            src.folder.empty() ? "neither" : "both");
  LoadedBagel out;
  std::string weights = src.weights;
  if (!src.folder.empty()) {
    SGT_CHECK(fs::is_directory(src.folder), "model.registry", "{}: not a folder", src.folder);
    SGT_CHECK(src.weights.empty(), "model.registry", "{}: a release folder brings its own weights (not {})",
              src.folder, src.weights);
    const Architecture* arch = release_architecture(src.folder);
    SGT_CHECK(arch != nullptr, "model.registry",
              "{}: not a release folder of a known architecture (BAGEL: llm_config.json and vit_config.json beside "
              "ema.safetensors)",
              src.folder);
    weights = arch->folder_weights(src.folder);
    SGT_CHECK(fs::exists(weights), "model.registry", "{}: no {}", src.folder, fs::path(weights).filename().string());
    out.config = arch->folder_config(src.folder);
  } else {
    out.config = load_model_config(src.config);
  }
  if (opt.adjust) opt.adjust(out.config);
  std::vector<std::string> skip;
  if (!opt.generation) {
    out.config.visual_gen = false;
    out.config.llm.layer_module = LayerModule::kDense;
    skip = generation_tensor_patterns();
  }
  if (weights.empty()) {
    out.model = build_model(out.config);
    return out;
  }
  {
    ParamScope scope({torch::TensorOptions().dtype(opt.dtype).device(opt.device), /*initialise=*/false});
    out.model = build_model(out.config);
  }
  load_bagel_weights(out.model, weights, opt.zero_copy, skip);
  return out;
}

}  // namespace sgt::model
