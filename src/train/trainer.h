#pragma once
// The SGT trainer (docs/training.md; docs/data.md, "SAM-SGT samples"; docs/model.md, "Loss"): a BAGEL model tuned on
// a mixture of generative proxy-task samples (flow matching on VAE latents) and VQA samples (cross-entropy), on one
// CPU, one GPU or many ranks.
//
// One optimizer step = grad_accum micro-batches on each rank. Losses are normalised by GLOBAL token counts (all
// micro-batches of all ranks), and gradients are summed over ranks, so the update equals the one of a single
// process holding the whole global batch:
//   loss = ce_weight * sum(CE) / N_ce_global + mse_weight * sum_tokens(mean_channels((v - (eps - x0))^2)) / N_mse_global
// Run folder: config.json, metrics.jsonl, curves (PNG), checkpoints/step_N (model, ema, optimizer shards, state),
// log.txt. Resuming from the latest checkpoint reproduces the uninterrupted run's losses exactly on CPU.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/checkpoint.h"
#include "io/run_lock.h"
#include "model/autoencoder.h"
#include "model/bagel.h"
#include "model/init.h"
#include "model/lora.h"
#include "text/tokenizer.h"
#include "train/batch.h"
#include "train/distributed.h"
#include "train/ema.h"
#include "train/lr_schedule.h"
#include "train/mixer.h"
#include "train/optimizer.h"

namespace sgt::train {

enum class Precision { kFp32, kBf16 };
constexpr auto enum_names(Precision) {
  return std::array{EnumName{Precision::kFp32, "fp32"}, EnumName{Precision::kBf16, "bf16"}};
}

struct TrainConfig {
  // Model: a BagelConfig JSON (fresh random weights unless `init_from`), or `init_from` = a BAGEL-7B-MoT folder
  // (ema.safetensors + llm_config.json + vit_config.json) or a weights file for `model_config`.
  std::string model_config;
  std::string init_from;
  // Fresh weights only (ignored with init_from): "default" (libtorch layer defaults), "siglip", "mimetic" or a
  // '+'-joined list (model/init.h),
  // and whether the MoT generation expert starts as a copy of the understanding expert (BAGEL's init_moe).
  std::string init_scheme = "default";
  bool copy_init_moe = false;
  std::string ae;  // ae.safetensors for a "flux" autoencoder (the "pixel" one has no weights)
  std::string tokenizer;
  std::string run_dir = "runs/tune";
  MixConfig data;
  uint64_t seed = 4396;      // model init and noise (per rank: derived from seed and rank)
  uint64_t data_seed = 42;   // same on every rank
  int64_t steps = 1000;
  int64_t grad_accum = 1;
  LrSchedule lr;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-15, weight_decay = 0.0;
  bool shard_optimizer = false;  // ZeRO-style sharding of fp32 master weights and moments over ranks
  // Gradients are reduced bucket by bucket during backward and each .grad is freed once reduced (with
  // shard_optimizer: ZeRO-2; docs/distributed.md).
  bool reduce_in_backward = false;
  double max_grad_norm = 1.0;
  double ema_decay = 0.9999;
  double ce_weight = 1.5, mse_weight = 1.0;  // SGT's defaults
  double timestep_shift = 1.0;
  bool freeze_llm = false, freeze_vit = false, freeze_und = false;
  // Parameter-name prefixes to freeze as well (e.g. "language_model.model.embed_tokens."); each must match.
  std::vector<std::string> freeze_params;
  bool checkpoint_activations = false;
  AttentionChoice attention = AttentionChoice::kAuto;  // train/batch.h: BatchOptions::attention
  TrainDevice device = TrainDevice::kCpu;              // cuda: rank r uses the GPU of its local rank
  Precision precision = Precision::kFp32;              // bf16: autocast on CUDA, fp32 master weights
  int64_t save_every = 100;
  int64_t keep_last = 2;
  int64_t log_every = 10;
  int64_t max_nonfinite_in_row = 5;  // K non-finite losses in a row stop the run
  std::vector<int64_t> debug_nan_steps;  // fault injection for tests: the loss of these steps is made NaN
  bool resume = true;                    // continue from run_dir/checkpoints/LATEST when present
  // Start over in a run folder that holds checkpoints: they (and metrics.jsonl) move into run_dir/previous-<UTC time>/
  // first. Without it a fresh start over existing checkpoints (resume false, or none of them loadable) is an error.
  bool restart = false;
  int64_t dist_timeout_s = 300;
  // LoRA (docs/training.md, "LoRA"): adapters on the decoder's projections; only they train (base frozen), they are
  // checkpointed with the model, and the run ends by writing run_dir/adapter/ (PEFT's layout) and, with
  // merge_lora, run_dir/merged/model.safetensors.
  model::LoraConfig lora;
  bool merge_lora = false;

  template <class V>
  void visit(V&& v) {
    v("model_config", model_config); v("init_from", init_from);
    v("init_scheme", init_scheme); v("copy_init_moe", copy_init_moe); v("ae", ae); v("tokenizer", tokenizer);
    v("run_dir", run_dir); v("data", data); v("seed", seed); v("data_seed", data_seed); v("steps", steps);
    v("grad_accum", grad_accum); v("lr", lr); v("beta1", beta1); v("beta2", beta2); v("eps", eps);
    v("weight_decay", weight_decay); v("shard_optimizer", shard_optimizer);
    v("reduce_in_backward", reduce_in_backward); v("max_grad_norm", max_grad_norm);
    v("ema_decay", ema_decay); v("ce_weight", ce_weight); v("mse_weight", mse_weight);
    v("timestep_shift", timestep_shift); v("freeze_llm", freeze_llm); v("freeze_vit", freeze_vit);
    v("freeze_und", freeze_und); v("freeze_params", freeze_params);
    v("checkpoint_activations", checkpoint_activations); v("attention", attention); v("device", device);
    v("precision", precision); v("save_every", save_every); v("keep_last", keep_last); v("log_every", log_every);
    v("max_nonfinite_in_row", max_nonfinite_in_row); v("debug_nan_steps", debug_nan_steps); v("resume", resume);
    v("restart", restart); v("dist_timeout_s", dist_timeout_s); v("lora", lora); v("merge_lora", merge_lora);
  }
  void validate() const;
};

// A checkpoint's state.rank{r}.json: where this rank's data order and counters stand.
struct TrainerState {
  int64_t step = -1;  // -1, world_size 0, grad_accum 0: the key is missing (validate names it)
  int64_t world_size = 0, grad_accum = 0;
  std::optional<int64_t> nonfinite_in_row;  // absent in early checkpoints (0)
  std::vector<MixerState> mixers;           // one per micro-batch slot
  std::optional<config::Json> bad_samples;  // per slot, per source, {reason: count} (Mixer::bad_samples_json)
  template <class V>
  void visit(V&& v) {
    v("step", step); v("world_size", world_size); v("grad_accum", grad_accum);
    v("nonfinite_in_row", nonfinite_in_row); v("mixers", mixers); v("bad_samples", bad_samples);
  }
  void validate() const;
};

struct StepMetrics {
  int64_t step = 0;  // 1-based: the number of optimizer steps done
  double loss = 0, ce = 0, mse = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0, ce_tokens = 0, mse_tokens = 0, samples = 0;
  double seconds = 0, tokens_per_s = 0, rss_mb = 0, device_mb = 0;
  double data_s = 0, compute_s = 0, optimizer_s = 0;  // where the step's time went
  bool skipped = false;
  template <class V>
  void visit(V&& v) {  // the order of metrics.jsonl's keys
    v("step", step); v("loss", loss); v("ce", ce); v("mse", mse); v("lr", lr); v("grad_norm", grad_norm);
    v("tokens", tokens); v("ce_tokens", ce_tokens); v("mse_tokens", mse_tokens); v("samples", samples);
    v("seconds", seconds); v("tokens_per_s", tokens_per_s); v("rss_mb", rss_mb); v("data_s", data_s);
    v("compute_s", compute_s); v("optimizer_s", optimizer_s); v("device_mb", device_mb); v("skipped", skipped);
  }
  std::string to_json() const;  // one metrics.jsonl line (a non-finite loss is written "nan")
};

class Trainer {
 public:
  // dist may be null (single process).
  Trainer(TrainConfig cfg, std::shared_ptr<Dist> dist = nullptr);
  ~Trainer();
  // Runs optimizer steps until cfg.steps (or max_steps more when >= 0); calls on_step after each. A SIGINT or
  // SIGTERM during the run (core/stop_signal.h) saves a checkpoint at the next step boundary and throws
  // sgt::Interrupted (on every rank: the ranks agree on the step).
  void run(int64_t max_steps = -1, const std::function<void(const StepMetrics&)>& on_step = {});
  // One optimizer step (grad_accum micro-batches).
  StepMetrics train_step();
  // Writes a checkpoint of the current step (collective: every rank must call it).
  void save_checkpoint();
  int64_t step() const { return step_; }
  int64_t resumed_from() const { return resumed_from_; }
  model::Bagel& model() { return model_; }
  model::AutoEncoder& autoencoder() { return ae_; }
  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  const TrainConfig& config() const { return cfg_; }
  torch::Device device() const { return device_; }
  // Copies the EMA weights into a fresh model for evaluation.
  model::Bagel ema_model() const;
  const std::vector<StepMetrics>& history() const { return history_; }
  std::string bad_sample_summary() const;

 private:
  void build_model();
  void build_autoencoder();       // frozen, on the CPU (build_model moves it to device_)
  model::InitProbe init_probe();  // the batch of the "centred" init (model/init.h)
  // Which checkpoint this run continues from (rank 0 verifies checksums and falls back to the newest intact one;
  // the others follow its choice), or none; refuses a fresh start over existing checkpoints unless cfg.restart.
  std::optional<io::CheckpointInfo> choose_checkpoint();
  void set_aside_previous_run() const;  // cfg.restart: checkpoints/ and metrics.jsonl into previous-<time>/
  // Model, EMA, optimizer and step from ck; state: its read_state(), already checked against this run's layout.
  void load_checkpoint(const io::CheckpointInfo& ck, const TrainerState& state);
  // This rank's state.rank{r}.json of a checkpoint, its keys checked (errors name the file).
  TrainerState read_state(const io::CheckpointInfo& ck) const;
  // Throws unless the checkpoint's state was written with this run's world size and grad_accum.
  void check_checkpoint_layout(const TrainerState& state, const std::string& path) const;
  void write_metrics(const StepMetrics& m);
  // train/lora_train.cpp: with cfg.lora.enabled, adapters attached and everything else frozen (before trainable_ is
  // collected); at the end of the run, the adapter folder (and merged weights) written by rank 0.
  void attach_lora();
  void seed_lora_dropout();
  void write_lora_outputs() const;
  TrainConfig cfg_;
  std::shared_ptr<Dist> dist_;
  std::shared_ptr<io::RunLock> lock_;  // rank 0: the run folder's writer lock, held for the trainer's life
  int64_t rank_ = 0, world_ = 1;
  torch::Device device_ = torch::kCPU;
  std::shared_ptr<const text::Tokenizer> tokenizer_;
  model::BagelConfig model_cfg_;
  model::Bagel model_{nullptr};
  model::AutoEncoder ae_{nullptr};
  std::vector<std::pair<std::string, torch::Tensor>> trainable_;
  std::unique_ptr<AdamW> opt_;
  std::unique_ptr<Ema> ema_;
  std::vector<std::unique_ptr<Mixer>> mixers_;  // one per micro-batch slot of this rank
  int64_t step_ = 0, resumed_from_ = -1, nonfinite_in_row_ = 0;
  std::vector<StepMetrics> history_;
};


}  // namespace sgt::train
