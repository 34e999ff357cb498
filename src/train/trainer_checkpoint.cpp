// Trainer checkpoints: model, EMA, optimizer shards, LR/step, RNG-free data state (mixers) per rank.
//
//   <run>/checkpoints/step_N/model.safetensors        current weights (rank 0; parameters are replicated)
//                            ema.safetensors          the model with fp32 EMA values of the trainable parameters
//                                                     (frozen ones as they are; loadable on its own) (rank 0)
//                            optimizer.rank{r}.safetensors   this rank's AdamW state (its shard when sharded)
//                            state.rank{r}.json       step, mixer (data-loader) states, world size
// Ranks > 0 stage their files in <run>/checkpoints/.stage-step_N; rank 0 moves them into its partial folder and
// publishes the folder atomically (io/checkpoint.h), so a crash at any moment leaves LATEST loadable.
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "train/ema.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace sgt::train {
namespace {

std::map<std::string, torch::Tensor> on_cpu(const std::map<std::string, torch::Tensor>& in) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : in) out[k] = v.detach().to(torch::kCPU).contiguous();
  return out;
}

}  // namespace

void Trainer::save_checkpoint() {
  const std::string root = cfg_.run_dir + "/checkpoints";
  const std::string stage = root + "/.stage-" + io::checkpoint_dir_name(step_);
  TrainerState st;
  st.step = step_;
  st.world_size = world_;
  st.grad_accum = cfg_.grad_accum;
  st.nonfinite_in_row = nonfinite_in_row_;
  st.bad_samples = config::Json::array();  // per micro-batch slot, per source: kept across resume
  for (const auto& m : mixers_) {
    st.mixers.push_back(m->state());
    st.bad_samples->push_back(m->bad_samples_json());
  }
  const config::Json state = config::to_json(st);
  const std::string opt_name = fmt::format("optimizer.rank{}.safetensors", rank_);
  const std::string ema_name = fmt::format("ema.rank{}.safetensors", rank_);  // the EMA's resumable state
  const auto ema_full = on_cpu(ema_->named_tensors());  // collective when the EMA is sharded
  const std::string state_name = fmt::format("state.rank{}.json", rank_);
  if (rank_ != 0) {
    fs::create_directories(stage);
    io::save_tensors(stage + "/" + opt_name, on_cpu(opt_->state_dict()));
    if (cfg_.shard_optimizer) io::save_tensors(stage + "/" + ema_name, on_cpu(ema_->state_dict()));
    io::atomic_write_text(stage + "/" + state_name, state.dump(2) + "\n");
  }
  if (dist_) dist_->barrier();
  if (rank_ == 0) {
    io::CheckpointWriter w(root, step_);
    io::save_tensors(w.file_path("model.safetensors"), on_cpu(io::state_dict(*model_)));
    // A whole model (loadable like BAGEL's ema.safetensors): EMA values of the trainable tensors, the frozen
    // tensors and buffers as they are.
    auto ema_file = on_cpu(io::state_dict(*model_));
    for (const auto& [k, v] : ema_full) ema_file[k] = v;
    io::save_tensors(w.file_path("ema.safetensors"), ema_file);
    io::save_tensors(w.file_path(opt_name), on_cpu(opt_->state_dict()));
    if (cfg_.shard_optimizer) io::save_tensors(w.file_path(ema_name), on_cpu(ema_->state_dict()));
    w.write_json(state_name, state);
    for (int64_t r = 1; r < world_; ++r) {
      std::vector<std::string> names = {fmt::format("optimizer.rank{}.safetensors", r),
                                        fmt::format("state.rank{}.json", r)};
      if (cfg_.shard_optimizer) names.push_back(fmt::format("ema.rank{}.safetensors", r));
      for (const auto& name : names) {
        SGT_CHECK(fs::exists(stage + "/" + name), "train.checkpoint", "rank {} did not stage {}", r, name);
        fs::rename(stage + "/" + name, w.file_path(name));
      }
    }
    w.set_config(config::to_json(cfg_));
    w.commit(static_cast<int>(cfg_.keep_last));
    std::error_code ec;
    fs::remove_all(stage, ec);
    log::info("train: checkpoint step {} written to {}", step_, root);
  }
  if (dist_) dist_->barrier();
}

void TrainerState::validate() const {
  SGT_CHECK(step >= 0, "train.checkpoint", "'step' is missing or negative ({})", step);
  SGT_CHECK(world_size >= 1 && grad_accum >= 1, "train.checkpoint",
            "'world_size' ({}) and 'grad_accum' ({}) must be present and >= 1", world_size, grad_accum);
  SGT_CHECK(static_cast<int64_t>(mixers.size()) == grad_accum, "train.checkpoint",
            "'mixers' must be an array of grad_accum ({}) data-loader states", grad_accum);
  if (bad_samples)
    SGT_CHECK(bad_samples->is_array() && bad_samples->size() == mixers.size(), "train.checkpoint",
              "'bad_samples' must be an array beside 'mixers'");
}

TrainerState Trainer::read_state(const io::CheckpointInfo& ck) const {
  // Through the visitor, where the file is known: every error names it.
  const std::string path = ck.file(fmt::format("state.rank{}.json", rank_));
  return config::load_file<TrainerState>(path);
}

void Trainer::check_checkpoint_layout(const TrainerState& state, const std::string& path) const {
  SGT_CHECK(state.world_size == world_ && state.grad_accum == cfg_.grad_accum, "train.checkpoint",
            "{} was written by {} ranks x {} micro-batches; this run has {} x {} (data order and optimizer shards "
            "depend on both)",
            path, state.world_size, state.grad_accum, world_, cfg_.grad_accum);
}

void Trainer::load_checkpoint(const io::CheckpointInfo& ck, const TrainerState& state) {
  io::load_state_dict(*model_, io::TensorSource::open(ck.file("model.safetensors")));
  if (cfg_.shard_optimizer) {
    ema_->load_state_dict(io::load_tensors(ck.file(fmt::format("ema.rank{}.safetensors", rank_))));
  } else {  // ema.safetensors is a whole model: the EMA takes its trainable entries (missing ones are reported)
    auto all = io::load_tensors(ck.file("ema.safetensors"));
    std::map<std::string, torch::Tensor> mine;
    for (const auto& [name, p] : trainable_)
      if (auto it = all.find(name); it != all.end()) mine.emplace(name, it->second);
    ema_->load_state_dict(mine);
  }
  opt_->load_state_dict(io::load_tensors(ck.file(fmt::format("optimizer.rank{}.safetensors", rank_))));
  step_ = state.step;
  nonfinite_in_row_ = state.nonfinite_in_row.value_or(0);
  resumed_from_ = step_;
  if (rank_ == 0) {  // drop metrics of steps after the checkpoint (they will be redone)
    const std::string path = cfg_.run_dir + "/metrics.jsonl";
    std::string kept;
    if (fs::exists(path))
      config::for_each_jsonl(
          path,
          [&](const config::Json& j, const std::string&) {
            if (j.value("step", std::numeric_limits<int64_t>::max()) <= step_) kept += j.dump() + "\n";
          },
          /*skip_malformed=*/true);  // a torn last line of a killed run
    io::atomic_write_text(path, kept);
  }
  log::info("train: resumed from {} (step {})", ck.path, step_);
}

}  // namespace sgt::train
