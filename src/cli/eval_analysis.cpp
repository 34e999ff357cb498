// `sgt eval probe | attention`: linear separability of per-layer features and attention allocation.
// probe reads features from safetensors ("features" [N, layers, D], "labels" [N] int64) until a model-driven
// extractor is wired; attention reads per-layer shares JSON written by an AttentionAllocation run.
#include <cstdio>
#include <fstream>
#include <memory>

#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/eval.h"
#include "core/error.h"
#include "eval/attention.h"
#include "eval/probe.h"
#include "io/torch_tensors.h"

namespace sgt::cli {
namespace {

struct ProbeArgs {
  std::vector<std::string> features, names;
  std::string features_key = "features", labels_key = "labels", out, plot;
  eval::ProbeOptions opt;
};

struct AttnArgs {
  std::string base, tuned, out, plot, title = "attention allocation";
};

std::vector<eval::LayerProbe> probe_file(const ProbeArgs& a, const std::string& path) {
  const auto t = io::load_tensors(path);
  SGT_CHECK(t.count(a.features_key) && t.count(a.labels_key), "eval", "{} lacks '{}' or '{}'", path, a.features_key,
            a.labels_key);
  return eval::probe_layers(t.at(a.features_key), t.at(a.labels_key).to(torch::kLong), a.opt);
}

void run_probe(const ProbeArgs& a) {
  SGT_CHECK(a.names.empty() || a.names.size() == a.features.size(), "eval", "{} --name for {} --features files",
            a.names.size(), a.features.size());
  std::vector<std::pair<std::string, std::vector<eval::LayerProbe>>> runs;
  nlohmann::ordered_json j;
  for (size_t r = 0; r < a.features.size(); ++r) {
    const std::string name = a.names.empty() ? a.features[r] : a.names[r];
    runs.emplace_back(name, probe_file(a, a.features[r]));
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

void run_attention(const AttnArgs& a) {
  const auto base = read_shares(a.base);
  std::vector<eval::AttentionShares> tuned;
  nlohmann::ordered_json j;
  if (!a.tuned.empty()) {
    tuned = read_shares(a.tuned);
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
    cmd->add_option("--features", a->features, "safetensors with features [N, layers, D] and labels [N]")->required();
    cmd->add_option("--name", a->names, "run name per --features (legend)");
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
    cmd->add_option("--base", a->base, "per-layer shares JSON of the baseline")->required();
    cmd->add_option("--tuned", a->tuned, "per-layer shares JSON of the tuned model");
    cmd->add_option("--plot", a->plot, "PNG (shares, or the change in % with --tuned)");
    cmd->add_option("--title", a->title, "plot title");
    cmd->add_option("--out", a->out, "JSON of the per-layer change");
    cmd->callback([a] { run_attention(*a); });
  }
}

}  // namespace sgt::cli
