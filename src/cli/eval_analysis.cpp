// `sgt eval probe | attention`: linear separability of per-layer features and attention allocation.
// probe reads features from safetensors ("features" [N, layers, D], "labels" [N] int64) and/or extracts them with
// a model from a labelled image list (eval/model_analysis.h); attention reads per-layer shares JSON, or computes
// them with a base (and a tuned) model over an image + prompt list through the decoder's attention hook.
#include <cstdio>
#include <fstream>
#include <memory>

#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/eval.h"
#include "cli/infer_args.h"
#include "core/error.h"
#include "eval/attention.h"
#include "eval/model_analysis.h"
#include "eval/probe.h"
#include "io/torch_tensors.h"

namespace sgt::cli {
namespace {

struct ProbeArgs {
  std::vector<std::string> features, names;
  std::string features_key = "features", labels_key = "labels", out, plot;
  eval::ProbeOptions opt;
  // Model-driven features: a labelled image list, the prompt and the pooling.
  infer::ModelArgs model;
  std::string images, prompt = "Describe the image.", pool = "image-mean", features_out;
  eval::AnalysisOptions analysis;
};

struct AttnArgs {
  std::string base, tuned, out, plot, title = "attention allocation";
  // Model-driven shares: the same image + prompt list through a base and (optionally) a tuned model.
  std::string samples, base_model, base_config, base_weights, tuned_model, tuned_config, tuned_weights;
  std::string base_shares_out, tuned_shares_out;
  infer::ModelArgs shared;  // tokenizer, dtype, device, progress
  eval::AnalysisOptions analysis;
};

std::vector<eval::LayerProbe> probe_file(const ProbeArgs& a, const std::string& path) {
  const auto t = io::load_tensors(path);
  SGT_CHECK(t.count(a.features_key) && t.count(a.labels_key), "eval", "{} lacks '{}' or '{}'", path, a.features_key,
            a.labels_key);
  return eval::probe_layers(t.at(a.features_key), t.at(a.labels_key).to(torch::kLong), a.opt);
}

// Features [N, layers, D] and labels [N] from the model over --images (saved to --features-out when given).
std::vector<eval::LayerProbe> probe_model(const ProbeArgs& a) {
  SGT_CHECK(!a.images.empty(), "eval", "probing a model needs --images (JSONL of {{\"image\": path, \"label\": n}})");
  eval::AnalysisOptions o = a.analysis;
  o.progress = a.model.progress;
  auto [features, labels] = eval::extract_probe_features(a.model, eval::read_labelled_images(a.images), a.prompt,
                                                         eval::feature_pool_from_string(a.pool), o);
  if (!a.features_out.empty()) {
    io::save_tensors(a.features_out, {{a.features_key, features}, {a.labels_key, labels}});
    std::printf("wrote %s (features %s)\n", a.features_out.c_str(), shape_str(features.sizes().vec()).c_str());
  }
  return eval::probe_layers(features, labels, a.opt);
}

void run_probe(const ProbeArgs& a) {
  const bool model = has_model(a.model);
  const size_t n_runs = a.features.size() + (model ? 1 : 0);
  SGT_CHECK(n_runs > 0, "eval", "give --features files and/or a model (--model / --config + --weights) with --images");
  SGT_CHECK(a.names.empty() || a.names.size() == n_runs, "eval", "{} --name for {} runs (--features files, then the "
            "model)", a.names.size(), n_runs);
  std::vector<std::pair<std::string, std::vector<eval::LayerProbe>>> runs;
  nlohmann::ordered_json j;
  for (size_t r = 0; r < n_runs; ++r) {
    const bool from_model = r == a.features.size();
    const std::string name = !a.names.empty() ? a.names[r] : from_model ? std::string("model") : a.features[r];
    runs.emplace_back(name, from_model ? probe_model(a) : probe_file(a, a.features[r]));
    std::printf("%s\n%-6s %8s %8s %8s %8s %10s\n", name.c_str(), "layer", "C", "cv", "train", "test", "fisher");
    for (const auto& p : runs.back().second) {
      std::printf("%-6lld %8g %8.4f %8.4f %8.4f %10.4f\n", static_cast<long long>(p.layer), p.best_C, p.cv_accuracy,
                  p.train_accuracy, p.test_accuracy, p.fisher);
      j[name].push_back({{"layer", p.layer}, {"C", p.best_C}, {"cv_accuracy", p.cv_accuracy},
                         {"train_accuracy", p.train_accuracy}, {"test_accuracy", p.test_accuracy}, {"fisher", p.fisher}});
    }
  }
  if (!a.plot.empty()) eval::write_probe_plot(a.plot, runs, "linear probe accuracy");
  write_json_out(a.out, j);
}

// [{"text": t, "vit": v, "vae": a}, ...] per layer.
std::vector<eval::AttentionShares> read_shares(const std::string& path) {
  std::ifstream in(path);
  SGT_CHECK(in.good(), "eval", "cannot open {}", path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL("eval", "{}: invalid JSON ({})", path, e.what());
  }
  SGT_CHECK(j.is_array() && !j.empty(), "eval", "{}: expected a non-empty array of per-layer shares", path);
  std::vector<eval::AttentionShares> out;
  for (const auto& l : j) out.push_back({l.value("text", 0.0), l.value("vit", 0.0), l.value("vae", 0.0)});
  return out;
}

nlohmann::ordered_json shares_json(const std::vector<eval::AttentionShares>& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& l : s) j.push_back({{"text", l.text}, {"vit", l.vit}, {"vae", l.vae}});
  return j;
}

// Shares of one model (dir, or config + weights) over the --samples list; written to shares_out when given.
std::vector<eval::AttentionShares> model_shares(const AttnArgs& a, const std::string& dir, const std::string& config,
                                                const std::string& weights, const std::string& shares_out) {
  SGT_CHECK(!a.samples.empty(), "eval", "computing shares with a model needs --samples (JSONL of image + prompt)");
  infer::ModelArgs m = a.shared;
  m.model_dir = dir;
  m.config = config;
  m.weights = weights;
  eval::AnalysisOptions o = a.analysis;
  o.progress = m.progress;
  auto s = eval::model_attention_shares(m, eval::read_prompted_images(a.samples), o);
  write_json_out(shares_out, shares_json(s));
  return s;
}

void run_attention(const AttnArgs& a) {
  const bool base_model = !a.base_model.empty() || !a.base_config.empty();
  const bool tuned_model = !a.tuned_model.empty() || !a.tuned_config.empty();
  SGT_CHECK(a.base.empty() == base_model, "eval", "give exactly one of --base (shares JSON) and --base-model / "
            "--base-config");
  SGT_CHECK(a.tuned.empty() || !tuned_model, "eval", "give at most one of --tuned and --tuned-model / --tuned-config");
  const auto base = base_model ? model_shares(a, a.base_model, a.base_config, a.base_weights, a.base_shares_out)
                               : read_shares(a.base);
  std::vector<eval::AttentionShares> tuned;
  nlohmann::ordered_json j;
  if (tuned_model) tuned = model_shares(a, a.tuned_model, a.tuned_config, a.tuned_weights, a.tuned_shares_out);
  if (!a.tuned.empty()) tuned = read_shares(a.tuned);
  if (!tuned.empty()) {
    const auto pct = eval::allocation_change_percent(base, tuned);
    std::printf("%-6s %10s %10s %10s\n", "layer", "base r", "tuned r", "change %");
    for (size_t l = 0; l < pct.size(); ++l) {
      std::printf("%-6zu %10.4f %10.4f %+10.2f\n", l, base[l].vision_ratio(), tuned[l].vision_ratio(), pct[l]);
      j.push_back({{"layer", l}, {"base_ratio", base[l].vision_ratio()}, {"tuned_ratio", tuned[l].vision_ratio()},
                   {"change_percent", pct[l]}});
    }
  } else {
    for (size_t l = 0; l < base.size(); ++l)
      std::printf("layer %-4zu text %.4f vit %.4f vae %.4f\n", l, base[l].text, base[l].vit, base[l].vae);
    if (base_model) j = shares_json(base);  // base only: --out gets the shares
  }
  if (!a.plot.empty()) eval::write_attention_plot(a.plot, base, tuned, a.title);
  if (!j.empty()) write_json_out(a.out, j);
}

}  // namespace

void register_eval_analysis(CLI::App& app) {
  CLI::App* parent = eval_command(app);
  {
    auto a = std::make_shared<ProbeArgs>();
    auto* cmd = parent->add_subcommand("probe", "Linear separability per layer (logistic regression, CV over C)");
    cmd->add_option("--features", a->features, "safetensors with features [N, layers, D] and labels [N]");
    cmd->add_option("--name", a->names, "run name per --features, then for the model run (legend)");
    add_optional_model_options(cmd, a->model);
    cmd->add_option("--images", a->images, "with a model: JSONL of {\"image\": path, \"label\": n} (paths relative "
                                           "to the file)");
    cmd->add_option("--prompt", a->prompt, "with a model: the fixed prompt after each image");
    cmd->add_option("--pool", a->pool, "with a model: image-mean (mean over ViT tokens) | last (the query token)");
    cmd->add_option("--features-out", a->features_out, "with a model: save the features / labels safetensors");
    cmd->add_option("--vit-width", a->analysis.vit_w, "ViT input width, a multiple of 14 (default: image)");
    cmd->add_option("--vit-height", a->analysis.vit_h, "ViT input height, a multiple of 14");
    cmd->add_option("--features-key", a->features_key, "tensor name of the features");
    cmd->add_option("--labels-key", a->labels_key, "tensor name of the labels");
    cmd->add_option("--C", a->opt.Cs, "inverse L2 strengths to cross-validate");
    cmd->add_option("--folds", a->opt.folds, "cross-validation folds");
    cmd->add_option("--test-fraction", a->opt.test_fraction, "held-out share per class");
    cmd->add_option("--seed", a->opt.seed, "split seed");
    cmd->add_option("--plot", a->plot, "PNG of test accuracy per layer");
    cmd->add_option("--out", a->out, "JSON results");
    cmd->callback([a] { run_probe(*a); });
  }
  {
    auto a = std::make_shared<AttnArgs>();
    auto* cmd = parent->add_subcommand("attention", "Attention allocation per layer and its change between checkpoints");
    cmd->add_option("--base", a->base, "per-layer shares JSON of the baseline");
    cmd->add_option("--tuned", a->tuned, "per-layer shares JSON of the tuned model");
    cmd->add_option("--samples", a->samples, "with models: JSONL of {\"image\": path, \"prompt\": text}");
    cmd->add_option("--base-model", a->base_model, "baseline BAGEL folder (instead of --base)");
    cmd->add_option("--base-config", a->base_config, "baseline BagelConfig JSON (with --base-weights)");
    cmd->add_option("--base-weights", a->base_weights, "baseline safetensors file or folder");
    cmd->add_option("--tuned-model", a->tuned_model, "tuned BAGEL folder (instead of --tuned)");
    cmd->add_option("--tuned-config", a->tuned_config, "tuned BagelConfig JSON (with --tuned-weights)");
    cmd->add_option("--tuned-weights", a->tuned_weights, "tuned safetensors file or folder");
    cmd->add_option("--base-shares-out", a->base_shares_out, "write the baseline's per-layer shares JSON");
    cmd->add_option("--tuned-shares-out", a->tuned_shares_out, "write the tuned model's per-layer shares JSON");
    cmd->add_option("--tokenizer", a->shared.tokenizer, "with models: tokenizer.json or a folder holding one");
    cmd->add_option("--dtype", a->shared.dtype, "with models: float32 | bfloat16");
    cmd->add_option("--device", a->shared.device, "with models: cpu | cuda | cuda:N");
    cmd->add_flag("!--no-progress", a->shared.progress, "no progress bar");
    cmd->add_option("--vit-width", a->analysis.vit_w, "ViT input width, a multiple of 14 (default: image)");
    cmd->add_option("--vit-height", a->analysis.vit_h, "ViT input height, a multiple of 14");
    cmd->add_option("--plot", a->plot, "PNG (shares, or the change in % with --tuned)");
    cmd->add_option("--title", a->title, "plot title");
    cmd->add_option("--out", a->out, "JSON of the per-layer change (with a base model alone: its shares)");
    cmd->callback([a] { run_attention(*a); });
  }
}

}  // namespace sgt::cli
