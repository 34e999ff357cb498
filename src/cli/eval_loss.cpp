// `sgt eval loss`: the trainer's CE and MSE of the first samples of a TrainConfig's sources with given or seeded
// timesteps and noise, one JSON line per sample and a total; optionally the noise and Bagel.forward's packed inputs
// as safetensors for a Python forward (eval/sample_loss.h, docs/eval.md "Training loss of given samples").
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/eval.h"
#include "cli/enum_option.h"
#include "cli/infer_args.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/sample_loss.h"
#include "infer/loaded.h"
#include "io/atomic_file.h"
#include "train/trainer.h"

namespace sgt::cli {
namespace {

struct LossArgs {
  infer::ModelArgs model;
  std::string train_config, shards, noise, save_noise, save_inputs, out, attention;
  std::vector<std::string> sources;
  int64_t samples = 4;
  uint64_t seed = 0;
  double timestep_shift = 0;  // 0: the config's
};

void run_loss(const LossArgs& a) {
  SGT_CHECK(a.noise.empty() || a.save_noise.empty() || a.noise != a.save_noise, "eval",
            "--noise and --save-noise are the same file {}", a.noise);
  auto tc = config::load_file<train::TrainConfig>(a.train_config);
  train::MixConfig mix = tc.data;
  if (!a.shards.empty())
    for (auto& s : mix.sources)
      if (a.sources.empty() || std::find(a.sources.begin(), a.sources.end(), s.name) != a.sources.end())
        s.shards = {a.shards};
  auto loaded = infer::load_model(a.model, /*need_gen=*/true);
  const auto& cfg = loaded->config;
  if (cfg.visual_und) mix.sizes.check_model(cfg.vit.patch_size, cfg.pixels_per_latent_token());
  // The loaded model owns the tokenizer; the decoder shares it for the model's lifetime.
  std::shared_ptr<const text::Tokenizer> tok(loaded, loaded->tok.get());
  data::BadSampleCounter bad;
  const auto samples = eval::read_first_samples(mix, a.sources, a.samples, tok, tc.data_seed, bad);
  if (bad.total() > 0) log::warn("eval loss: skipped {}", bad.summary());

  eval::SampleLossOptions o;
  o.timestep_shift = a.timestep_shift > 0 ? a.timestep_shift : tc.timestep_shift;
  o.seed = a.seed;
  o.noise = a.noise;
  o.save_noise = a.save_noise;
  o.save_inputs = a.save_inputs;
  o.packing = mix.packing;
  o.batch.device = torch::Device(a.model.device);
  o.batch.dtype = loaded->model->parameters().front().scalar_type();
  o.batch.attention =
      a.attention.empty() ? tc.attention : enum_from_name<train::AttentionChoice>(a.attention, "--attention");
  const auto losses = eval::sample_losses(loaded->model, loaded->ae, cfg, mix, samples, o);
  std::string text;
  for (const auto& s : losses) text += eval::sample_loss_json(s).dump() + "\n";
  text += eval::total_loss_json(losses).dump() + "\n";
  if (a.out.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    io::atomic_write_text(a.out, text);
    std::printf("wrote %s (%zu samples)\n", a.out.c_str(), losses.size());
  }
  if (!a.save_noise.empty()) std::printf("wrote %s\n", a.save_noise.c_str());
  if (!a.save_inputs.empty()) std::printf("wrote %s\n", a.save_inputs.c_str());
}

}  // namespace

void register_eval_loss(CLI::App& app) {
  auto a = std::make_shared<LossArgs>();
  auto* cmd = eval_command(app)->add_subcommand(
      "loss", "The trainer's CE and MSE of given samples with given (--noise) or seeded timesteps and noise, one JSON "
              "line per sample; --save-inputs writes Bagel.forward's packed inputs for a Python comparison");
  add_model_options(cmd, a->model);
  cmd->add_option("--train-config", a->train_config,
                  "TrainConfig JSON as `sgt tune --config` takes: its data sources, sizes, packing token ids, "
                  "data_seed and timestep_shift")
      ->required();
  cmd->add_option("--source", a->sources, "only these sources of the config (repeatable; default: all)");
  cmd->add_option("--shards", a->shards, "shard pattern replacing the shards of the chosen sources");
  cmd->add_option("--samples", a->samples, "the first N samples of each chosen source, each packed alone")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timestep-shift", a->timestep_shift, "timestep shift (0: the config's timestep_shift)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a->seed, "without --noise: raw timesteps and noise of sample i from streams of (seed, i)");
  cmd->add_option("--noise", a->noise,
                  "safetensors with '<i>.<k>.timestep' [1] (the raw N(0,1) draw) and '<i>.<k>.noise' [h*w, "
                  "patch_latent_dim] for VAE image k of sample i");
  cmd->add_option("--save-noise", a->save_noise, "write the timesteps and noise used in the --noise layout");
  cmd->add_option("--save-inputs", a->save_inputs,
                  "write each sample's packed inputs under Bagel.forward's names ('<i>.packed_text_ids', ...; lists "
                  "in the metadata 'sgt.samples')");
  add_enum_override<train::AttentionChoice>(cmd, "--attention", a->attention,
                                            "the decoder's attention kernels (default: the config's)");
  cmd->add_option("--out", a->out, "JSON lines file (default: stdout)");
  cmd->callback([a] { run_loss(*a); });
}

}  // namespace sgt::cli
