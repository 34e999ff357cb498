#include "model/lora.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "io/atomic_file.h"
#include "io/state_dict.h"
#include "io/torch_tensors.h"

namespace sgt::model {
namespace {

constexpr const char* kPrefix = "base_model.model.";  // PEFT's PeftModel.base_model (LoraModel).model
constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

std::vector<int64_t> dims(const torch::Tensor& t) { return t.sizes().vec(); }

// Every Linear module of root with its path, in module order (adapters' own lora_A / lora_B excluded).
std::vector<std::pair<std::string, LinearImpl*>> linears(const torch::nn::Module& root) {
  std::vector<std::pair<std::string, LinearImpl*>> out;
  for (const auto& item : root.named_modules()) {
    auto* lin = dynamic_cast<LinearImpl*>(item.value().get());
    if (!lin) continue;
    const std::string& path = item.key();
    const auto dot = path.rfind('.');
    const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
    if (leaf == "lora_A" || leaf == "lora_B") continue;
    out.emplace_back(path, lin);
  }
  return out;
}

std::string leaf_name(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

// Under a decoder layer: the path holds `model.layers.<N>.` at its start or after a '.' (Qwen2ForCausalLM's
// `model.layers.N...`, BAGEL's `language_model.model.layers.N...`; not SigLIP's `...encoder.layers.N`).
bool in_decoder(const std::string& path) {
  const std::string key = "model.layers.";
  for (size_t pos = path.find(key); pos != std::string::npos; pos = path.find(key, pos + 1)) {
    if (pos != 0 && path[pos - 1] != '.') continue;
    size_t i = pos + key.size(), j = i;
    while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j]))) ++j;
    if (j > i && j < path.size() && path[j] == '.') return true;
  }
  return false;
}

// PEFT tuners/tuners_utils.py, check_target_module_exists: a list selects a path equal to one of its names or
// ending in ".<name>"; a string is a regex that must match the whole path (compiled once).
class PeftSelector {
 public:
  explicit PeftSelector(const nlohmann::json& target_modules) {
    if (target_modules.is_string()) {
      regex_ = std::regex(target_modules.get<std::string>());
      is_regex_ = true;
    } else {
      for (const auto& t : target_modules) names_.push_back(t.get<std::string>());
    }
  }
  bool operator()(const std::string& path) const {
    if (is_regex_) return std::regex_match(path, regex_);
    for (const auto& name : names_)
      if (path == name || (path.size() > name.size() && path[path.size() - name.size() - 1] == '.' &&
                           path.compare(path.size() - name.size(), name.size(), name) == 0))
        return true;
    return false;
  }

 private:
  bool is_regex_ = false;
  std::regex regex_;
  std::vector<std::string> names_;
};

void attach(LinearImpl& lin, int64_t r, double scaling, double dropout) {
  ParamOptions po;
  po.tensor = lin.weight.options().requires_grad(false);
  po.initialise = true;
  ParamScope scope(po);
  const int64_t in = lin.weight.size(1), out = lin.weight.size(0);
  lin.lora_A = lin.register_module("lora_A", std::make_shared<LinearImpl>(in, r, false));  // kaiming-uniform a=sqrt5
  lin.lora_B = lin.register_module("lora_B", std::make_shared<LinearImpl>(r, out, false));
  torch::NoGradGuard ng;
  lin.lora_B->weight.zero_();
  lin.lora_scaling = scaling;
  lin.lora_dropout = dropout;
}

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

double peft_scaling(int64_t r, double alpha, bool rslora) {
  return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

}  // namespace

void LoraConfig::validate() const {
  SGT_CHECK(r > 0, "lora", "r must be positive, got {}", r);
  SGT_CHECK(alpha > 0.0, "lora", "alpha must be positive, got {}", alpha);
  SGT_CHECK(dropout >= 0.0 && dropout < 1.0, "lora", "dropout must be in [0, 1), got {}", dropout);
  SGT_CHECK(!targets.empty(), "lora", "targets is empty: name at least one projection (e.g. q_proj)");
}

double LoraConfig::scaling() const { return peft_scaling(r, alpha, rslora); }

std::vector<std::string> add_lora(torch::nn::Module& root, const LoraConfig& config) {
  config.validate();
  std::vector<std::string> paths;
  for (auto& [path, lin] : linears(root)) {
    if (!in_decoder(path)) continue;
    const std::string leaf = leaf_name(path);
    if (std::none_of(config.targets.begin(), config.targets.end(),
                     [&](const std::string& t) { return io::glob_match(t, leaf); }))
      continue;
    SGT_CHECK(!lin->lora_A, "lora", "{} already has an adapter", path);
    attach(*lin, config.r, config.scaling(), config.dropout);
    paths.push_back(path);
  }
  SGT_CHECK(!paths.empty(), "lora", "targets [{}] match no Linear module of the decoder (model.layers.N.*)",
            fmt::join(config.targets, ", "));
  return paths;
}

std::vector<std::string> lora_modules(const torch::nn::Module& root) {
  std::vector<std::string> out;
  for (auto& [path, lin] : linears(root))
    if (lin->lora_A) out.push_back(path);
  return out;
}

std::vector<torch::Tensor> freeze_all_but_lora(torch::nn::Module& root) {
  std::set<const void*> adapters;
  std::vector<torch::Tensor> params;
  for (auto& [path, lin] : linears(root))
    if (lin->lora_A)
      for (auto* m : {lin->lora_A.get(), lin->lora_B.get()}) {
        adapters.insert(m->weight.unsafeGetTensorImpl());
        params.push_back(m->weight);
      }
  for (auto& p : root.parameters()) p.requires_grad_(adapters.count(p.unsafeGetTensorImpl()) > 0);
  return params;
}

std::map<std::string, torch::Tensor> lora_state_dict(const torch::nn::Module& root) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [path, lin] : linears(root)) {
    if (!lin->lora_A) continue;
    out[kPrefix + path + ".lora_A.weight"] = lin->lora_A->weight;
    out[kPrefix + path + ".lora_B.weight"] = lin->lora_B->weight;
  }
  return out;
}

void save_lora(const torch::nn::Module& root, const LoraConfig& config, const std::string& dir,
               const std::string& base_model_name_or_path) {
  config.validate();
  const auto all = linears(root);
  std::vector<std::string> adapted;
  std::set<std::string> names;
  for (auto& [path, lin] : all)
    if (lin->lora_A) {
      adapted.push_back(path);
      names.insert(leaf_name(path));
      SGT_CHECK(lin->lora_A->weight.size(0) == config.r, "lora", "{}: adapter rank {} differs from config r {}", path,
                lin->lora_A->weight.size(0), config.r);
    }
  SGT_CHECK(!adapted.empty(), "lora", "save_lora {}: the model has no adapters", dir);
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& n : names) targets.push_back(n);
  size_t selected = 0;
  const PeftSelector by_names(targets);
  for (auto& [path, lin] : all) selected += by_names(path) ? 1 : 0;
  if (selected != adapted.size()) {  // names alone would reach other modules (e.g. SigLIP's q_proj)
    std::string re;
    for (const auto& p : adapted) re += (re.empty() ? "" : "|") + regex_escape(p);
    targets = "(?:" + re + ")";
  }
  // The keys PEFT's LoraConfig.save_pretrained writes for these options (others keep PEFT's defaults on load).
  nlohmann::json j;  // std::map-backed: sorted keys, as json.dumps(sort_keys=True)
  j["alpha_pattern"] = nlohmann::json::object();
  j["base_model_name_or_path"] = base_model_name_or_path.empty() ? nlohmann::json(nullptr)
                                                                  : nlohmann::json(base_model_name_or_path);
  j["bias"] = "none";
  j["exclude_modules"] = nullptr;
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["layer_replication"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["layers_to_transform"] = nullptr;
  if (config.alpha == std::floor(config.alpha))
    j["lora_alpha"] = static_cast<int64_t>(config.alpha);
  else
    j["lora_alpha"] = config.alpha;
  j["lora_bias"] = false;
  j["lora_dropout"] = config.dropout;
  j["modules_to_save"] = nullptr;
  j["peft_type"] = "LORA";
  j["r"] = config.r;
  j["rank_pattern"] = nlohmann::json::object();
  j["revision"] = nullptr;
  j["target_modules"] = targets;
  j["target_parameters"] = nullptr;
  j["task_type"] = nullptr;
  j["use_dora"] = false;
  j["use_rslora"] = config.rslora;
  std::filesystem::create_directories(dir);
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [k, v] : lora_state_dict(root)) tensors[k] = v.detach();
  io::save_tensors(dir + "/" + kWeightsFile, tensors, {{"format", "pt"}});
  io::atomic_write_text(dir + "/" + kConfigFile, j.dump(2));
}

LoraConfig load_lora(torch::nn::Module& root, const std::string& dir) {
  const std::string cpath = dir + "/" + kConfigFile, wpath = dir + "/" + kWeightsFile;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(cpath));
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL("lora", "{}: not valid JSON ({})", cpath, e.what());
  }
  SGT_CHECK(j.is_object(), "lora", "{}: expected a JSON object", cpath);
  auto get = [&](const char* key) { return j.contains(key) ? j[key] : nlohmann::json(nullptr); };
  SGT_CHECK(get("peft_type") == "LORA", "lora", "{}: peft_type {} is not \"LORA\"", cpath, get("peft_type").dump());
  // Options PEFT has that this implementation does not: refused rather than silently ignored.
  for (const char* key : {"use_dora", "lora_bias", "fan_in_fan_out", "use_qalora"})
    SGT_CHECK(!get(key).is_boolean() || !get(key).get<bool>(), "lora", "{}: {} true is not supported", cpath, key);
  SGT_CHECK(get("bias").is_null() || get("bias") == "none", "lora", "{}: bias {} is not supported (only \"none\")",
            cpath, get("bias").dump());
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    SGT_CHECK(get(key).is_null() || get(key).empty(), "lora", "{}: a non-empty {} is not supported", cpath, key);
  for (const char* key : {"layers_to_transform", "layers_pattern", "exclude_modules", "modules_to_save",
                          "target_parameters", "layer_replication", "trainable_token_indices"})
    SGT_CHECK(get(key).is_null(), "lora", "{}: {} {} is not supported", cpath, key, get(key).dump());
  LoraConfig c;
  SGT_CHECK(get("r").is_number_integer() && get("r").get<int64_t>() > 0, "lora", "{}: r {} is not a positive integer",
            cpath, get("r").dump());
  c.r = get("r").get<int64_t>();
  SGT_CHECK(get("lora_alpha").is_number(), "lora", "{}: lora_alpha {} is not a number", cpath, get("lora_alpha").dump());
  c.alpha = get("lora_alpha").get<double>();
  c.dropout = get("lora_dropout").is_number() ? get("lora_dropout").get<double>() : 0.0;
  c.rslora = get("use_rslora").is_boolean() && get("use_rslora").get<bool>();
  const auto targets = get("target_modules");
  SGT_CHECK(targets.is_string() || (targets.is_array() && !targets.empty() &&
                                    std::all_of(targets.begin(), targets.end(), [](auto& t) { return t.is_string(); })),
            "lora", "{}: target_modules {} is neither a regex string nor a list of names", cpath, targets.dump());
  if (targets.is_array()) {
    c.targets.clear();
    for (const auto& t : targets) c.targets.push_back(t.get<std::string>());
  }
  c.enabled = true;
  c.validate();

  // Which modules get adapters (PEFT's rule over every module), then the tensors, all checked before any change.
  std::vector<std::pair<std::string, LinearImpl*>> chosen;
  std::optional<PeftSelector> selects;
  try {
    selects.emplace(targets);
  } catch (const std::regex_error& e) {
    SGT_FAIL("lora", "{}: target_modules {} is not a valid regex ({})", cpath, targets.dump(), e.what());
  }
  for (const auto& item : root.named_modules()) {
    if (item.key().empty() || !(*selects)(item.key())) continue;
    auto* lin = dynamic_cast<LinearImpl*>(item.value().get());
    SGT_CHECK(lin, "lora", "{}: target_modules selects {}, which is not a Linear module", cpath, item.key());
    SGT_CHECK(!lin->lora_A, "lora", "{} already has an adapter", item.key());
    chosen.emplace_back(item.key(), lin);
  }
  SGT_CHECK(!chosen.empty(), "lora", "{}: target_modules {} selects no module of the model", cpath, targets.dump());
  auto file = io::load_tensors(wpath);
  std::map<std::string, std::vector<int64_t>> expected;
  for (auto& [path, lin] : chosen) {
    expected[kPrefix + path + ".lora_A.weight"] = {c.r, lin->weight.size(1)};
    expected[kPrefix + path + ".lora_B.weight"] = {lin->weight.size(0), c.r};
  }
  std::vector<std::string> problems;
  for (auto& [name, shape] : expected) {
    auto it = file.find(name);
    if (it == file.end())
      problems.push_back(fmt::format("missing {} (expected {})", name, shape_str(shape)));
    else if (dims(it->second) != shape)
      problems.push_back(fmt::format("{}: file {} vs model {}", name, shape_str(dims(it->second)), shape_str(shape)));
  }
  for (auto& [name, t] : file)
    if (!expected.count(name))
      problems.push_back(fmt::format("unknown tensor {} {} (no targeted Linear module of that name)", name,
                                     shape_str(dims(t))));
  SGT_CHECK(problems.empty(), "lora", "{}: {}", wpath, fmt::join(problems, "; "));
  for (auto& [path, lin] : chosen) {
    attach(*lin, c.r, c.scaling(), c.dropout);
    torch::NoGradGuard ng;
    lin->lora_A->weight.copy_(file.at(kPrefix + path + ".lora_A.weight"));
    lin->lora_B->weight.copy_(file.at(kPrefix + path + ".lora_B.weight"));
  }
  return c;
}

namespace {
// PEFT Linear.get_delta_weight: B @ A * scaling (fp32, as PEFT on the CPU for half types), added in W's dtype.
torch::Tensor merged_weight(const LinearImpl& lin) {
  torch::NoGradGuard ng;
  auto delta = torch::matmul(lin.lora_B->weight.to(torch::kFloat32), lin.lora_A->weight.to(torch::kFloat32)) *
               lin.lora_scaling;
  return lin.weight.detach() + delta.to(lin.weight.options());
}
}  // namespace

std::map<std::string, torch::Tensor> merged_state_dict(const torch::nn::Module& root) {
  auto sd = io::state_dict(root);
  for (auto& [path, lin] : linears(root)) {
    if (!lin->lora_A) continue;
    sd.erase(path + ".lora_A.weight");
    sd.erase(path + ".lora_B.weight");
    sd[path + ".weight"] = merged_weight(*lin);
  }
  return sd;
}

int64_t merge_lora(torch::nn::Module& root) {
  int64_t merged = 0;
  torch::NoGradGuard ng;
  for (auto& [path, lin] : linears(root)) {
    if (!lin->lora_A) continue;
    lin->weight.set_data(merged_weight(*lin));
    lin->unregister_module("lora_A");
    lin->unregister_module("lora_B");
    lin->lora_A.reset();
    lin->lora_B.reset();
    lin->lora_scaling = lin->lora_dropout = 0.0;
    ++merged;
  }
  return merged;
}

}  // namespace sgt::model
