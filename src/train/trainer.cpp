#include "train/trainer.h"

#include <signal.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <exception>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#ifdef SGT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#include <nlohmann/json.hpp>

#include "core/assets.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/stop_signal.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "model/init.h"
#include "model/autocast.h"
#include "model/registry.h"
#include "train/batch.h"
#include "train/ema.h"
#include "train/losses.h"

namespace fs = std::filesystem;

namespace sgt::train {
namespace {

constexpr const char* kC = "train";

double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

torch::Generator make_generator(uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return g;
}

// Global sum over ranks (no-op for a single process).
double global_sum(const std::shared_ptr<Dist>& dist, double x) { return dist ? dist->sum(x) : x; }

}  // namespace

void TrainConfig::validate() const {
  SGT_CHECK(!model_config.empty() || !init_from.empty(), kC, "set model_config (a BagelConfig JSON) or init_from");
  SGT_CHECK(steps >= 0 && grad_accum >= 1, kC, "steps {} must be >= 0 and grad_accum {} >= 1", steps, grad_accum);
  SGT_CHECK(ce_weight >= 0 && mse_weight >= 0 && ce_weight + mse_weight > 0, kC, "loss weights {} / {}", ce_weight,
            mse_weight);
  SGT_CHECK(ema_decay >= 0 && ema_decay < 1, kC, "ema_decay {} must be in [0, 1)", ema_decay);
  SGT_CHECK(timestep_shift > 0, kC, "timestep_shift {} must be > 0", timestep_shift);
  model::split_scheme(init_scheme);  // throws on an unknown part
  // bf16 is CUDA autocast; on the CPU it would silently train in fp32.
  SGT_CHECK(precision == Precision::kFp32 || device == TrainDevice::kCuda, kC,
            "precision bf16 needs device cuda (device is '{}')", name_of(device));
  SGT_CHECK(save_every >= 0 && log_every >= 1 && max_nonfinite_in_row >= 1, kC,
            "save_every {}, log_every {}, max_nonfinite_in_row {}", save_every, log_every, max_nonfinite_in_row);
  data.validate();
  lr.validate();
  lora.validate();
  SGT_CHECK(!merge_lora || lora.enabled, kC, "merge_lora needs lora.enabled");
}

std::string StepMetrics::to_json() const {
  auto j = config::to_json(*this);
  // nlohmann writes NaN as null; keep the information
  if (!std::isfinite(loss)) j["loss"] = "nan";
  return j.dump();
}

namespace {
// The data's image strides must be the model's: a ViT side cut in 16 px patches for a 14 px model trains on
// misaligned tokens, and a wrong VAE stride packs a token count the model does not produce.
void check_sizes_fit_model(const ImageSizes& sizes, const model::BagelConfig& m) {
  if (m.visual_und && m.visual_gen) sizes.check_model(m.vit.patch_size, m.pixels_per_latent_token());
}
}  // namespace

Trainer::Trainer(TrainConfig cfg, std::shared_ptr<Dist> dist) : cfg_(std::move(cfg)), dist_(std::move(dist)) {
  cfg_.validate();
  if (dist_) {
    rank_ = dist_->rank();
    world_ = dist_->world_size();
  }
  // Before anything reads or writes the folder: a second run on it would delete this one's partial checkpoints.
  if (rank_ == 0) lock_ = io::RunLock::acquire(cfg_.run_dir);
  if (cfg_.device == TrainDevice::kCuda) {
    SGT_CHECK(torch::cuda::is_available(), kC, "device cuda requested but no CUDA device is available");
    // The process group's device when there is one (tune made it from the same launch environment).
    device_ = dist_ ? dist_->device() : training_device(cfg_.device, launch_env());
    SGT_CHECK(device_.is_cuda(), kC, "device cuda requested but the process group runs on {}", device_.str());
  }
  tokenizer_ = std::make_shared<const text::Tokenizer>(text::Tokenizer::load(text::find_tokenizer(cfg_.tokenizer)));
  build_model();
  // Consumers: micro-batch m of rank r reads split r * accum + m of G (see mixer.h).
  const int64_t G = world_ * cfg_.grad_accum;
  const auto latest = choose_checkpoint();
  std::optional<TrainerState> state;
  if (latest) {
    state = read_state(*latest);
    check_checkpoint_layout(*state, latest->path);
  }
  for (int64_t m = 0; m < cfg_.grad_accum; ++m) {
    std::optional<MixerState> ms;
    if (state) ms = state->mixers.at(m);
    mixers_.push_back(std::make_unique<Mixer>(cfg_.data, tokenizer_, cfg_.data_seed, rank_ * cfg_.grad_accum + m, G, ms));
    if (state && state->bad_samples) mixers_.back()->set_prior_bad_samples(state->bad_samples->at(m));
  }
  if (latest) {
    load_checkpoint(*latest, *state);
  } else if (rank_ == 0) {
    io::atomic_write_text(cfg_.run_dir + "/config.json", config::to_json(cfg_).dump(2) + "\n");
  }
}

std::optional<io::CheckpointInfo> Trainer::choose_checkpoint() {
  const std::string root = cfg_.run_dir + "/checkpoints";
  // Rank 0 decides (it verifies every file's checksum once) and broadcasts the step: -1 fresh, -2 refused.
  int64_t step = -1;
  std::optional<io::CheckpointInfo> latest;
  std::exception_ptr refusal;  // rank 0's error, rethrown as it is once the other ranks know
  if (rank_ == 0) {
    try {
      if (cfg_.restart) {
        set_aside_previous_run();
      } else {
        if (cfg_.resume) latest = io::latest_checkpoint(root, /*verify_checksums=*/true);
        if (!latest) {
          const auto dirs = io::checkpoint_dirs(root);
          SGT_CHECK(dirs.empty(), kC,
                    "{} holds {} checkpoint folder(s) (newest {}) but this run would start from step 0 ({}); nothing "
                    "was changed. Pass --restart (config 'restart': true) to start over: they are moved into {}/"
                    "previous-<time>/ first",
                    root, dirs.size(), dirs.front(),
                    cfg_.resume ? "none of them is loadable: see the warnings above" : "resume is false", cfg_.run_dir);
          set_aside_previous_run();  // a metrics.jsonl of a run killed before its first checkpoint
        }
      }
      step = latest ? latest->step : -1;
    } catch (...) {  // also filesystem errors of the set-aside: the other ranks must not wait on the broadcast
      refusal = std::current_exception();
      step = -2;
    }
  }
  if (dist_) {
    auto t = torch::tensor({step}, torch::kInt64).to(device_);
    dist_->broadcast(t, 0);
    step = t.to(torch::kCPU).item<int64_t>();
  }
  if (step == -2) {
    if (rank_ == 0) std::rethrow_exception(refusal);
    SGT_FAIL(kC, "rank 0 refused the run folder {} (see its log)", cfg_.run_dir);
  }
  if (rank_ != 0 && step >= 0) latest = io::open_checkpoint(root + "/" + io::checkpoint_dir_name(step));
  return latest;
}

void Trainer::set_aside_previous_run() const {
  const std::string root = cfg_.run_dir + "/checkpoints", metrics = cfg_.run_dir + "/metrics.jsonl";
  const bool has_ckpt = fs::exists(root), has_metrics = fs::exists(metrics);
  if (!has_ckpt && !has_metrics) return;
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
  std::string aside = cfg_.run_dir + "/previous-" + stamp;
  for (int n = 2; fs::exists(aside); ++n) aside = cfg_.run_dir + "/previous-" + stamp + "-" + std::to_string(n);
  fs::create_directories(aside);
  if (has_ckpt) fs::rename(root, aside + "/checkpoints");
  if (has_metrics) fs::rename(metrics, aside + "/metrics.jsonl");
  log::warn("train: starting over in {}: the previous {} moved into {}", cfg_.run_dir,
            has_ckpt ? "checkpoints and metrics" : "metrics", aside);
}

Trainer::~Trainer() = default;

void Trainer::build_autoencoder() {
  ae_ = model::AutoEncoder(model_cfg_.vae);
  if (model_cfg_.vae.kind != model::VaeKind::kPixel) {
    SGT_CHECK(!cfg_.ae.empty(), kC, "the {} autoencoder needs weights: set ae (ae.safetensors)", model_cfg_.vae.kind);
    model::load_autoencoder(ae_, cfg_.ae);
  }
  ae_->eval();
  for (auto& p : ae_->parameters()) p.requires_grad_(false);  // the VAE is always frozen
}

model::InitProbe Trainer::init_probe() {
  // One micro-batch from a private mixer (same data and seed on every rank, so every rank initialises identically;
  // the training mixers are untouched), built where the fresh model still is: on the CPU.
  Mixer probe(cfg_.data, tokenizer_, cfg_.data_seed ^ 0xce47edULL, 0, 1);
  auto mb = probe.next();
  std::vector<const TrainSample*> ptrs;
  for (const auto& smp : mb.samples) ptrs.push_back(smp.get());
  auto gen = make_generator(cfg_.seed ^ 0xce47edULL);
  BatchOptions bo;
  bo.timestep_shift = cfg_.timestep_shift;
  bo.device = torch::kCPU;
  auto b = build_batch(mb.pack, ptrs, model_cfg_, ae_, gen, bo);
  SGT_CHECK(b.inputs.packed_vit_token_indexes.defined() && b.mse_indexes.defined(), kC,
            "init_scheme 'centred' needs a first batch with ViT and noisy latent tokens");
  return {b.inputs, b.inputs.packed_vit_token_indexes, b.mse_indexes};
}

void Trainer::build_model() {
  torch::manual_seed(cfg_.seed);  // identical initial weights on every rank
  model::OpenOptions open;
  open.dtype = torch::kFloat32;  // fp32 master weights (autocast handles bf16)
  open.device = device_;
  open.adjust = [&](model::BagelConfig& c) {
    check_sizes_fit_model(cfg_.data.sizes, c);  // before the init's probe batch is cut to these sizes
    if (cfg_.freeze_und) c.llm.freeze_und = true;  // the decoder reads it from its own copy of the config
  };
  if (!cfg_.init_from.empty()) {
    // A release folder, or weights (a file, a sharded folder) in the names of the model config's architecture.
    const bool release = model::release_architecture(cfg_.init_from) != nullptr;
    auto loaded = model::open(release ? model::ModelSource{cfg_.init_from, "", ""}
                                      : model::ModelSource{"", cfg_.model_config, cfg_.init_from},
                              open);
    model_cfg_ = loaded.config;
    model_ = loaded.model;
  } else {
    model_cfg_ = model::load_model_config(cfg_.model_config);
    open.adjust(model_cfg_);
    model_ = model::build_model(model_cfg_);
    // The autoencoder first: the data-dependent part of the init ("centred") encodes one real batch.
    build_autoencoder();
    const auto done = model::initialise(model_, cfg_.init_scheme, cfg_.copy_init_moe, [&] { return init_probe(); });
    log::info("train: init {}", done);
    if (model_cfg_.visual_gen) {
      torch::NoGradGuard g;
      model_->llm2vae->weight.zero_();  // BAGEL starts llm2vae at zero
      model_->llm2vae->bias.zero_();
    }
    model_->to(device_);
  }
  if (cfg_.freeze_und) model_cfg_.llm.freeze_und = true;
  if (ae_.is_empty()) build_autoencoder();
  ae_->to(device_);
  if (cfg_.freeze_llm) {
    for (auto& p : model_->language_model->parameters()) p.requires_grad_(false);
  }
  if (cfg_.freeze_vit && model_cfg_.visual_und) {
    for (auto& p : model_->vit_model->parameters()) p.requires_grad_(false);
  }
  for (const auto& prefix : cfg_.freeze_params) {
    int64_t matched = 0;
    for (auto& item : model_->named_parameters()) {
      if (item.key().rfind(prefix, 0) != 0) continue;
      item.value().requires_grad_(false);
      ++matched;
    }
    SGT_CHECK(matched > 0, kC, "freeze_params: '{}' matches no parameter of the model", prefix);
  }
  attach_lora();
  for (auto& item : model_->named_parameters()) {
    if (item.value().requires_grad()) trainable_.emplace_back(item.key(), item.value());
  }
  SGT_CHECK(!trainable_.empty(), kC, "every parameter is frozen");
  std::vector<torch::Tensor> params;
  int64_t n = 0;
  for (auto& [name, p] : trainable_) {
    params.push_back(p);
    n += p.numel();
  }
  AdamWOptions o;
  o.beta1 = cfg_.beta1;
  o.beta2 = cfg_.beta2;
  o.eps = cfg_.eps;
  o.weight_decay = cfg_.weight_decay;
  o.shard = cfg_.shard_optimizer;
  o.reduce_in_backward = cfg_.reduce_in_backward;
  if (dist_ && world_ > 1) broadcast_parameters(*dist_, params, 0);  // identical start on every rank
  opt_ = std::make_unique<AdamW>(params, o, dist_);
  if (cfg_.shard_optimizer) {  // the EMA follows the sharded fp32 master (BAGEL's flat-parameter EMA)
    std::vector<std::string> names;
    for (const auto& [name, p] : trainable_) names.push_back(name);
    ema_ = std::make_unique<Ema>(*opt_, names, cfg_.ema_decay);
  } else {
    ema_ = std::make_unique<Ema>(trainable_, cfg_.ema_decay);
  }
  log::info("train: {} trainable parameters in {} tensors; rank {}/{}; device {}", n, trainable_.size(), rank_, world_,
            device_.str());
}

StepMetrics Trainer::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  model_->train();
  seed_lora_dropout();
#ifdef SGT_WITH_CUDA
  if (device_.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device_.index());
#endif
  // Build every micro-batch first: the loss normalisers are global token counts.
  std::vector<MicroBatch> mbs;
  std::vector<TrainBatch> batches;
  BatchOptions bo;
  bo.timestep_shift = cfg_.timestep_shift;
  bo.device = device_;
  bo.checkpoint = cfg_.checkpoint_activations;
  bo.attention = cfg_.attention;
  const int64_t G = world_ * cfg_.grad_accum;
  double local_ce = 0, local_mse = 0, local_tokens = 0, local_samples = 0;
  for (int64_t m = 0; m < cfg_.grad_accum; ++m) {
    mbs.push_back(mixers_[m]->next());
    std::vector<const TrainSample*> ptrs;
    for (const auto& s : mbs.back().samples) ptrs.push_back(s.get());
    const int64_t consumer = rank_ * cfg_.grad_accum + m;
    // eps for the noisy latents: a function of (seed, step, consumer) only, so runs split differently agree.
    auto gen = make_generator(Rng::derive(cfg_.seed, static_cast<uint64_t>(step_) * G + consumer).next_u64());
    batches.push_back(build_batch(mbs.back().pack, ptrs, model_cfg_, ae_, gen, bo));
    local_ce += batches.back().ce_tokens;
    local_mse += batches.back().mse_tokens;
    local_tokens += batches.back().num_tokens;
    local_samples += batches.back().num_samples;
  }
  const auto t_data = std::chrono::steady_clock::now();
  const double n_ce = global_sum(dist_, local_ce), n_mse = global_sum(dist_, local_mse);
  const bool inject_nan =
      std::find(cfg_.debug_nan_steps.begin(), cfg_.debug_nan_steps.end(), step_ + 1) != cfg_.debug_nan_steps.end();
  double ce_sum = 0, mse_sum = 0;
  const bool autocast = cfg_.precision == Precision::kBf16 && device_.is_cuda();
  for (auto& b : batches) {
    LossTerms terms;
    {
      model::AutocastGuard guard(at::kCUDA, autocast, at::kBFloat16);  // off again when the forward throws
      auto hidden = model_->forward(b.inputs);
      terms = compute_losses(model_, hidden, b);
    }
    auto loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
    if (b.ce_tokens > 0) loss = loss + cfg_.ce_weight * terms.ce_sum / n_ce;
    if (b.mse_tokens > 0) loss = loss + cfg_.mse_weight * terms.mse_sum / n_mse;
    if (inject_nan) loss = loss * std::numeric_limits<double>::quiet_NaN();
    loss.backward();
    opt_->finish_backward();  // reduce_in_backward: buckets of params this micro-batch did not use
    ce_sum += b.ce_tokens > 0 ? terms.ce_sum.item<double>() : 0;
    mse_sum += b.mse_tokens > 0 ? terms.mse_sum.item<double>() : 0;
  }
  ce_sum = global_sum(dist_, ce_sum);
  mse_sum = global_sum(dist_, mse_sum);
  const double lr = cfg_.lr.at(step_);
  const auto t_compute = std::chrono::steady_clock::now();
  const StepResult r = opt_->step(lr, cfg_.max_grad_norm);
  StepMetrics m;
  m.data_s = std::chrono::duration<double>(t_data - t0).count();
  m.compute_s = std::chrono::duration<double>(t_compute - t_data).count();
  m.optimizer_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_compute).count();
  m.skipped = r.skipped || inject_nan;
  if (!m.skipped) {
    ema_->update();
    nonfinite_in_row_ = 0;
  } else {
    ++nonfinite_in_row_;
    log::warn("train: step {}: non-finite loss or gradient (grad norm {}); update skipped ({} in a row)", step_ + 1,
              r.grad_norm, nonfinite_in_row_);
    SGT_CHECK(nonfinite_in_row_ < cfg_.max_nonfinite_in_row, kC,
              "{} non-finite losses in a row (last at step {}): stopping; lower the learning rate or check the data",
              nonfinite_in_row_, step_ + 1);
  }
  ++step_;
  m.step = step_;
  m.ce = n_ce > 0 ? ce_sum / n_ce : 0;
  m.mse = n_mse > 0 ? mse_sum / n_mse : 0;
  m.loss = (n_ce > 0 ? cfg_.ce_weight * m.ce : 0) + (n_mse > 0 ? cfg_.mse_weight * m.mse : 0);
  if (inject_nan) m.loss = std::numeric_limits<double>::quiet_NaN();
  m.lr = lr;
  m.grad_norm = r.grad_norm;
  m.ce_tokens = static_cast<int64_t>(n_ce);
  m.mse_tokens = static_cast<int64_t>(n_mse);
  m.tokens = static_cast<int64_t>(global_sum(dist_, local_tokens));
  m.samples = static_cast<int64_t>(global_sum(dist_, local_samples));
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.tokens_per_s = m.seconds > 0 ? m.tokens / m.seconds : 0;
  m.rss_mb = rss_mb();
#ifdef SGT_WITH_CUDA
  // The step's peak of memory held by live tensors on this rank's GPU (the caching allocator's statistic, which
  // torch.cuda.max_memory_allocated reads); the peak is reset at the start of every step.
  if (device_.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index());
    m.device_mb = static_cast<double>(
                      stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak) /
                  1e6;
  }
#endif
  history_.push_back(m);
  write_metrics(m);
  return m;
}

void Trainer::run(int64_t max_steps, const std::function<void(const StepMetrics&)>& on_step) {
  const int64_t end = max_steps >= 0 ? std::min(cfg_.steps, step_ + max_steps) : cfg_.steps;
  Progress progress("tune", end - step_, "step");
  StopSignals stop;  // SIGINT / SIGTERM: checkpoint at the next step boundary, then sgt::Interrupted
  int64_t saved_at = -1;
  while (step_ < end) {
    int signal = StopSignals::pending();
    // Every rank stops at the same step (a rank the signal missed takes SIGTERM's meaning: asked to stop).
    if (dist_ && global_sum(dist_, signal != 0 ? 1.0 : 0.0) > 0 && signal == 0) signal = SIGTERM;
    if (signal != 0) {
      progress.finish();
      if (saved_at != step_ && step_ > 0) save_checkpoint();
      StopSignals::clear();
      throw Interrupted(kC,
                        fmt::format("stopped by signal {} ({}) at step {}; checkpoint saved in {}/checkpoints, run the "
                                    "same command again{} to resume",
                                    signal, signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal",
                                    step_, cfg_.run_dir, cfg_.restart ? " without --restart" : ""),
                        signal);
    }
    const auto m = train_step();
    progress.advance();
    if (m.step % cfg_.log_every == 0 || m.step == end) {
      progress.set_postfix(fmt::format("loss {:.4f} ce {:.3f} mse {:.4f} lr {:.2e} {:.0f} tok/s", m.loss, m.ce, m.mse,
                                       m.lr, m.tokens_per_s));
    }
    if (on_step) on_step(m);
    if (cfg_.save_every > 0 && (m.step % cfg_.save_every == 0 || m.step == cfg_.steps)) {
      save_checkpoint();
      saved_at = step_;
    }
  }
  progress.finish();
  if (step_ == cfg_.steps) write_lora_outputs();
}

void Trainer::write_metrics(const StepMetrics& m) {
  if (rank_ != 0) return;
  // Checked: on a full disk the run stops with one error line instead of training on with a metrics file losing or
  // tearing lines.
  io::append_text(cfg_.run_dir + "/metrics.jsonl", m.to_json() + "\n");
}

model::Bagel Trainer::ema_model() const {
  model::Bagel copy(model_cfg_);
  copy->to(device_);
  if (cfg_.lora.enabled) model::add_lora(*copy, cfg_.lora);  // same modules; values copied below
  std::vector<std::pair<std::string, torch::Tensor>> named;
  auto params = copy->named_parameters();
  for (const auto& [name, p] : trainable_) named.emplace_back(name, params[name]);
  {
    torch::NoGradGuard g;
    for (auto& item : model_->named_parameters()) params[item.key()].copy_(item.value());
  }
  ema_->copy_to(named);
  copy->eval();
  return copy;
}

std::string Trainer::bad_sample_summary() const {
  std::string out;
  for (const auto& m : mixers_) out += (out.empty() ? "" : " | ") + m->bad_sample_summary();
  return out;
}

}  // namespace sgt::train
