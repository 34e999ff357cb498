// sgt world --out DIR --seed S --train N --heldout M: writes the synthetic world (data/world.h) as webdataset
// shards with train and held-out splits. The same arguments give byte-identical shards.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "core/config.h"
#include "data/world.h"

namespace sgt::cli {
namespace {

struct WorldArgs {
  std::string out, config_path;
  data::WorldConfig flags;  // values of the flags; only the ones given override the config file
  int threads = 0;
  std::vector<std::pair<CLI::Option*, std::function<void(data::WorldConfig&)>>> overrides;
};

template <class T>
void add_field(CLI::App* cmd, const std::shared_ptr<WorldArgs>& a, const std::string& names,
               T data::WorldConfig::*field, const std::string& help) {
  CLI::Option* o = cmd->add_option(names, a->flags.*field, help);
  WorldArgs* raw = a.get();
  a->overrides.emplace_back(o, [raw, field](data::WorldConfig& c) { c.*field = raw->flags.*field; });
}

void run_world(const WorldArgs& a) {
  data::WorldConfig cfg = a.config_path.empty() ? data::WorldConfig{} : config::load_file<data::WorldConfig>(a.config_path);
  for (const auto& [opt, apply] : a.overrides)
    if (opt->count() > 0) apply(cfg);
  cfg.validate();
  const int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto sum = data::write_world(a.out, cfg, threads);
  std::printf("wrote %lld scenes (%lld objects): %zu train + %zu held-out shards in %.2f s (%.0f scenes/s) -> %s\n",
              static_cast<long long>(sum.scenes), static_cast<long long>(sum.objects), sum.train_shards.size(),
              sum.heldout_shards.size(), sum.seconds, sum.seconds > 0 ? sum.scenes / sum.seconds : 0.0,
              a.out.c_str());
}

}  // namespace

void register_world(CLI::App& app) {
  auto args = std::make_shared<WorldArgs>();
  auto* cmd = app.add_subcommand("world", "Render the synthetic shape world as webdataset shards (train / held-out)");
  cmd->add_option("--out", args->out, "output folder")->required();
  cmd->add_option("--config", args->config_path, "JSON WorldConfig; flags given explicitly override it");
  add_field(cmd, args, "--seed", &data::WorldConfig::seed, "random seed (same seed -> identical shards)");
  add_field(cmd, args, "--train", &data::WorldConfig::train, "scenes in the train split");
  add_field(cmd, args, "--heldout", &data::WorldConfig::heldout, "scenes in the held-out split");
  add_field(cmd, args, "--min-side", &data::WorldConfig::min_side, "smallest image side (sides are multiples of 16)");
  add_field(cmd, args, "--max-side", &data::WorldConfig::max_side, "largest image side");
  add_field(cmd, args, "--max-objects", &data::WorldConfig::max_objects, "objects per scene, at most");
  add_field(cmd, args, "--per-shard", &data::WorldConfig::samples_per_shard, "scenes per tar shard");
  add_field(cmd, args, "--jpeg-quality", &data::WorldConfig::jpeg_quality, "JPEG quality of the images");
  cmd->add_option("--threads", args->threads, "render threads (default: all cores; output does not depend on it)");
  cmd->callback([args] { run_world(*args); });
}

}  // namespace sgt::cli
