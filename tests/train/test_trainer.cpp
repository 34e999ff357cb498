// The SGT trainer end to end on a tiny world: exact resume, 2 ranks under Gloo == 1 rank with 2 micro-batches
// (unsharded and sharded), non-finite losses, SIGKILL during checkpoint writes, the mixer's groups / interleave /
// resume, the flow-matching batch, and `sgt tune` (the main job) in miniature.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "data/world.h"
#include "io/checkpoint.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "model/image_tokens.h"
#include "model/registry.h"
#include "testing/testing.h"
#include "train/batch.h"
#include "train/mixer.h"
#include "train/trainer.h"
#include "train/world_recipe.h"
#include "train_test_util.h"

using namespace sgt;
using sgt::testing::shell_quote;
namespace fs = std::filesystem;

namespace {

std::string sgt_bin() { return sgt::testing::binary_dir() + "/bin/sgt"; }

std::vector<config::Json> read_metrics(const std::string& run_dir) {
  std::vector<config::Json> out;
  config::for_each_jsonl(run_dir + "/metrics.jsonl", [&](const config::Json& j, const std::string&) { out.push_back(j); });
  return out;
}

class Trainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sgt::testing::TempDir("trainer");
    train::test::write_tiny_world(dir_->file("world"), 48);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static train::TrainConfig tiny(const std::string& run) {
    return train::test::tiny_config(dir_->file(run), dir_->file("world"), "world-train-{000000..000002}.tar", 6, 3);
  }
  static sgt::testing::TempDir* dir_;
};
sgt::testing::TempDir* Trainer::dir_ = nullptr;

}  // namespace

TEST_F(Trainer, ResumeReproducesTheUninterruptedRunExactly) {
  auto cfg = tiny("straight");
  {
    train::Trainer t(cfg);
    t.run();
  }
  const auto straight = read_metrics(cfg.run_dir);
  ASSERT_EQ(straight.size(), 6u);
  int64_t mse_tokens = 0;
  for (const auto& m : straight) {
    EXPECT_TRUE(m["loss"].is_number()) << m.dump();
    EXPECT_GT(m["ce_tokens"].get<int64_t>(), 0);  // the VQA source is mandatory in every micro-batch
    mse_tokens += m["mse_tokens"].get<int64_t>();
  }
  EXPECT_GT(mse_tokens, 0);
  auto cfg2 = tiny("resumed");
  {
    train::Trainer t(cfg2);
    t.run(3);  // checkpoint at step 3, then "crash"
    EXPECT_EQ(t.step(), 3);
  }
  {
    train::Trainer t(cfg2);
    EXPECT_EQ(t.resumed_from(), 3);
    t.run();
  }
  const auto resumed = read_metrics(cfg2.run_dir);
  ASSERT_EQ(resumed.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(resumed[i]["loss"].get<double>(), straight[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(resumed[i]["grad_norm"].get<double>(), straight[i]["grad_norm"].get<double>()) << "step " << i + 1;
  }
  // The losses are not constant (so equality above is not vacuous) and the checkpoints are complete.
  EXPECT_NE(straight[0]["loss"].get<double>(), straight[5]["loss"].get<double>());
  const auto latest = io::latest_checkpoint(cfg.run_dir + "/checkpoints");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 6);
  for (const char* f : {"model.safetensors", "ema.safetensors", "optimizer.rank0.safetensors", "state.rank0.json"})
    EXPECT_TRUE(fs::exists(latest->file(f))) << f;
  // A checkpoint written by another layout is refused with a clear message.
  auto cfg3 = cfg2;
  cfg3.grad_accum = 2;
  EXPECT_THROW(train::Trainer{cfg3}, sgt::Error);
}

TEST_F(Trainer, TwoGlooRanksEqualOneRankWithTwoMicroBatches) {
  auto single = tiny("accum2");
  single.grad_accum = 2;
  single.steps = 3;
  single.save_every = 0;
  // A frozen tensor in every mode: sharding and bucketing then cover only the trainable ones.
  single.freeze_params = {"language_model.lm_head."};
  {
    train::Trainer t(single);
    t.run();
  }
  const auto ref = read_metrics(single.run_dir);
  ASSERT_EQ(ref.size(), 3u);
  // Unsharded, sharded (ZeRO-1), sharded with reduction during backward (ZeRO-2).
  for (int mode : {0, 1, 2}) {
    const bool shard = mode >= 1;
    const std::string name = std::vector<std::string>{"ranks2", "ranks2_sharded", "ranks2_zero2"}[mode];
    auto two = tiny(name);
    two.steps = 3;
    two.save_every = 3;
    two.shard_optimizer = shard;
    two.freeze_params = single.freeze_params;
    two.reduce_in_backward = mode == 2;
    two.checkpoint_activations = mode == 2;  // the hooks also fire inside the recomputation's inner backward
    two.dist_timeout_s = 60;
    const std::string cfg_path = dir_->file(name + ".json");
    std::ofstream(cfg_path) << config::to_json(two).dump(2);
    auto res = sgt::testing::run_command(fmt::format(
        "{} --no-python --nproc-per-node 2 --master-addr 127.0.0.1 --master-port {} {} tune --config {} 2>&1",
        shell_quote(sgt::testing::source_dir() + "/.venv/bin/torchrun"), sgt::testing::free_port(), shell_quote(sgt_bin()),
        shell_quote(cfg_path)));
    ASSERT_EQ(res.exit_code, 0) << res.output;
    const auto got = read_metrics(two.run_dir);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      const double a = ref[i]["loss"].get<double>(), b = got[i]["loss"].get<double>();
      EXPECT_NEAR(b, a, 1e-5 * std::abs(a)) << "step " << i + 1 << " " << name;
      EXPECT_EQ(got[i]["tokens"].get<int64_t>(), ref[i]["tokens"].get<int64_t>());
      EXPECT_NEAR(got[i]["grad_norm"].get<double>(), ref[i]["grad_norm"].get<double>(),
                  1e-4 * ref[i]["grad_norm"].get<double>());
    }
    // Both ranks' optimizer states are in the published checkpoint.
    const auto latest = io::latest_checkpoint(two.run_dir + "/checkpoints");
    ASSERT_TRUE(latest.has_value());
    EXPECT_TRUE(fs::exists(latest->file("optimizer.rank1.safetensors")));
    EXPECT_TRUE(fs::exists(latest->file("state.rank1.json")));
  }
}

TEST_F(Trainer, NonFiniteLossesAreSkippedThenStopTheRun) {
  auto cfg = tiny("nan");
  cfg.steps = 3;
  cfg.save_every = 0;
  cfg.debug_nan_steps = {2};
  {
    train::Trainer t(cfg);
    model::Bagel& m = t.model();
    t.run(1);
    std::map<std::string, torch::Tensor> before;
    for (auto& p : m->named_parameters()) before[p.key()] = p.value().clone();
    const auto s2 = t.train_step();  // NaN: skipped, weights untouched
    EXPECT_TRUE(s2.skipped);
    for (auto& p : m->named_parameters()) EXPECT_TRUE(torch::equal(before[p.key()], p.value())) << p.key();
    const auto s3 = t.train_step();
    EXPECT_FALSE(s3.skipped);
    EXPECT_TRUE(std::isfinite(s3.loss));
  }
  const auto metrics = read_metrics(cfg.run_dir);
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_TRUE(metrics[1]["skipped"].get<bool>());
  EXPECT_EQ(metrics[1]["loss"], "nan");
  auto bad = tiny("nan_stop");
  bad.debug_nan_steps = {1, 2, 3};
  bad.max_nonfinite_in_row = 3;
  train::Trainer t(bad);
  try {
    t.run();
    FAIL() << "three non-finite steps in a row must stop the run";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 non-finite losses in a row"), std::string::npos) << e.what();
  }
}

// A process killed at random moments while it writes a checkpoint every step never leaves LATEST unloadable, and
// the run resumes from it.
TEST_F(Trainer, SigkillDuringCheckpointWritesNeverBreaksTheLatest) {
  auto cfg = tiny("killed");
  cfg.steps = 200;
  cfg.save_every = 1;
  cfg.keep_last = 2;
  const std::string cfg_path = dir_->file("killed.json");
  std::ofstream(cfg_path) << config::to_json(cfg).dump(2);
  std::mt19937 rng(11);
  int64_t last_step = 0;
  for (int round = 0; round < 4; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string bin = sgt_bin();
      const std::string log = dir_->file("killed.log");
      FILE* f = std::fopen(log.c_str(), "a");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      execl(bin.c_str(), bin.c_str(), "tune", "--config", cfg_path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Wait until it is inside the every-step checkpoints (a new LATEST), then kill it at a random moment.
    const std::string latest_file = cfg.run_dir + "/checkpoints/LATEST";
    auto stamp = [&] {
      std::error_code ec;
      return fs::exists(latest_file) ? fs::last_write_time(latest_file, ec) : fs::file_time_type{};
    };
    const auto before = stamp();
    for (int i = 0; i < 1200 && stamp() == before; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": the run ended before the kill";
    const auto latest = io::latest_checkpoint(cfg.run_dir + "/checkpoints");
    ASSERT_TRUE(latest.has_value()) << "round " << round;
    const auto info = io::open_checkpoint(latest->path);  // manifest and every file size check out
    EXPECT_GE(info.step, last_step) << "round " << round;
    last_step = info.step;
    // The weights load strictly into the model.
    auto t = train::Trainer(cfg);
    EXPECT_EQ(t.resumed_from(), info.step);
  }
  EXPECT_GT(last_step, 0);
}

TEST_F(Trainer, MixerKeepsMandatoryGroupsInterleaveAndResume) {
  auto cfg = tiny("mixer").data;
  auto tok = std::make_shared<const text::Tokenizer>(text::Tokenizer::load(text::find_tokenizer("")));
  {
    train::Mixer a(cfg, tok, 5, 0, 1);
    for (int i = 0; i < 4; ++i) {
      auto mb = a.next();
      EXPECT_GT(mb.per_source[1], 0) << "the mandatory vqa source is in every micro-batch";
      EXPECT_LE(mb.pack.length(), cfg.packing.max_num_tokens);
      mb.pack.validate();
    }
  }
  // Interleave [segment, segment, vqa]: micro-batch k holds only its pattern's source.
  auto inter = cfg;
  inter.interleave = {"segment", "segment", "vqa"};
  inter.sources[1].mandatory = false;
  train::Mixer b(inter, tok, 5, 0, 1);
  for (int i = 0; i < 6; ++i) {
    auto mb = b.next();
    const bool vqa = i % 3 == 2;
    EXPECT_EQ(mb.per_source[0] > 0, !vqa) << i;
    EXPECT_EQ(mb.per_source[1] > 0, vqa) << i;
  }
  // Resume: 3 micro-batches, save, 3 more == 6 straight (same keys in the same order).
  auto keys = [](const train::MicroBatch& mb) {
    std::vector<std::string> k;
    for (const auto& s : mb.samples) k.push_back(s->key + "/" + std::to_string(s->source));
    return k;
  };
  std::vector<std::vector<std::string>> straight, resumed;
  {
    train::Mixer m(cfg, tok, 9, 1, 2);
    for (int i = 0; i < 6; ++i) straight.push_back(keys(m.next()));
  }
  std::string state;
  {
    train::Mixer m(cfg, tok, 9, 1, 2);
    for (int i = 0; i < 3; ++i) resumed.push_back(keys(m.next()));
    state = m.state().to_json();
  }
  train::Mixer m(cfg, tok, 9, 1, 2, train::MixerState::from_json(state));
  for (int i = 0; i < 3; ++i) resumed.push_back(keys(m.next()));
  EXPECT_EQ(straight, resumed);
  EXPECT_THROW(train::MixerState::from_json("{\"rng\": 1}"), sgt::Error);
  auto bad = cfg;
  bad.interleave = {"nope"};
  EXPECT_THROW(bad.validate(), sgt::Error);
}

// x_t = (1 - t') x0 + t' eps and target eps - x0 with t' the shifted sigmoid of the pack's draw; clean images t = 0.
TEST_F(Trainer, FlowMatchingBatchFollowsTheFormulas) {
  // "auto" attention: packed only on CUDA and while L^2 x heads scores stay under 64 M; a named one is taken as is.
  using AI = model::AttentionImpl;
  const torch::Device gpu(torch::kCUDA, 0);
  EXPECT_EQ(train::pick_attention("auto", 1100, 4, torch::kCPU), AI::kSplitwise);
  EXPECT_EQ(train::pick_attention("auto", 1100, 4, gpu), AI::kPacked);          // the tiny world: 4.8 M scores
  EXPECT_EQ(train::pick_attention("auto", 4096, 28, gpu), AI::kSplitwise);      // BAGEL-7B at 4 K: 470 M
  EXPECT_EQ(train::pick_attention("auto", 1024, 28, gpu), AI::kPacked);         // 29 M
  EXPECT_EQ(train::pick_attention("packed", 100000, 28, torch::kCPU), AI::kPacked);
  EXPECT_THROW(train::pick_attention("flash", 10, 4, torch::kCPU), sgt::Error);
  EXPECT_DOUBLE_EQ(train::shift_timestep(0.5, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(train::shift_timestep(0.5, 3.0), 1.5 / 2.0);
  auto cfg = tiny("batch").data;
  auto tok = std::make_shared<const text::Tokenizer>(text::Tokenizer::load(text::find_tokenizer("")));
  train::Mixer mixer(cfg, tok, 1, 0, 1);
  const auto mb = mixer.next();
  std::vector<const train::TrainSample*> ptrs;
  for (const auto& s : mb.samples) ptrs.push_back(s.get());
  const auto mc = model::find_architecture("bagel-mot").parse(
      config::load_json_file(sgt::testing::source_dir() + "/configs/model/tiny-bagel.json"), "tiny");
  model::AutoEncoder ae(mc.vae);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(77);
  train::BatchOptions bo;
  bo.timestep_shift = 2.0;
  const auto b = train::build_batch(mb.pack, ptrs, mc, ae, gen, bo);
  ASSERT_GT(b.mse_tokens, 0);
  // Recompute every noisy image by hand from the same generator stream.
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(77);
  int64_t row = 0, mse_row = 0;
  for (const auto& img : mb.pack.vae_images) {
    const auto& px = ptrs[img.sample]->images[img.image_slot];
    auto x0 = model::patchify_latent(ae->encode(model::image_to_tensor(px).unsqueeze(0))[0], mc.latent_patch_size);
    const int64_t n = x0.size(0);
    auto xt = b.inputs.packed_vae_tokens.slice(0, row, row + n);
    auto ts = b.inputs.packed_timesteps.slice(0, row, row + n);
    if (img.noisy) {
      const double t = train::shift_timestep(1.0 / (1.0 + std::exp(-img.timestep_raw)), 2.0);
      auto eps = torch::randn(x0.sizes(), gen2, torch::kFloat32);
      EXPECT_LE((xt - ((1 - t) * x0 + t * eps)).abs().max().item<double>(), 1e-6);
      EXPECT_LE((b.mse_targets.slice(0, mse_row, mse_row + n) - (eps - x0)).abs().max().item<double>(), 1e-6);
      EXPECT_NEAR(ts[0].item<double>(), t, 1e-6);
      // What an x0-prediction model inverts: its own input x_t and t, row for row with the targets.
      EXPECT_TRUE(torch::equal(b.mse_inputs.slice(0, mse_row, mse_row + n), xt));
      EXPECT_NEAR(b.mse_timesteps.slice(0, mse_row, mse_row + n).sub(t).abs().max().item<double>(), 0.0, 1e-7);
      mse_row += n;
    } else {
      EXPECT_TRUE(torch::equal(xt, x0));
      EXPECT_EQ(ts.abs().max().item<double>(), 0.0);
    }
    row += n;
  }
  EXPECT_EQ(mse_row, b.mse_tokens);
  EXPECT_EQ(b.ce_tokens, static_cast<int64_t>(mb.pack.ce_loss_indexes.size()));
  // A sample list that does not match the pack is refused.
  ptrs.pop_back();
  EXPECT_THROW(train::build_batch(mb.pack, ptrs, mc, ae, gen, bo), sgt::Error);
}

// The main job in miniature: world, tuning, held-out measurement, grid, curves, summary.
TEST_F(Trainer, TuneRecipeRunsEndToEnd) {
  const std::string run = dir_->file("tune_cli");
  // As a user runs it: no tokenizer named anywhere, from a folder with nothing beside it.
  auto res = sgt::testing::run_command(
      fmt::format("cd {} && env -u SGT_TOKENIZER -u SGT_ASSETS_DIR {} tune --run-dir {} --pretrain-steps 2 --steps 2 "
                  "--eval-samples 2 --eval-steps 3 2>&1",
                  shell_quote(dir_->path()), shell_quote(sgt_bin()), shell_quote(run)));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  // It says which tokenizer it used: the one the checkout ships.
  EXPECT_NE(res.output.find("tokenizer: " + fs::weakly_canonical(sgt::testing::asset("qwen-tokenizer/tokenizer.json"))
                                               .string() +
                            " (the project's assets"),
            std::string::npos)
      << res.output;
  EXPECT_NE(res.output.find("held-out matched-instance IoU"), std::string::npos) << res.output;
  for (const char* f : {"summary.json", "heldout_grid.png", "loss_curves.png", "metrics.jsonl", "model.json",
                        "world/world.json"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  const auto summary = config::load_json_file(run + "/summary.json");
  EXPECT_EQ(summary["end"]["step"].get<int64_t>(), 2);
  // Two stages: reconstruction in stage1/ (its checkpoint is stage 2's init_from), then segmentation.
  EXPECT_EQ(summary["stage1"]["task"].get<std::string>(), "recon");
  EXPECT_EQ(summary["stage1"]["steps"].get<int64_t>(), 2);
  EXPECT_TRUE(fs::exists(run + "/stage1/checkpoints/LATEST"));
  EXPECT_EQ(config::load_json_file(run + "/config.json")["init_from"].get<std::string>(),
            run + "/stage1/checkpoints/step_00000002/model.safetensors");
  for (const char* k : {"start", "end"}) {
    EXPECT_GE(summary[k]["foreground_iou"].get<double>(), 0.0) << k;
    EXPECT_LE(summary[k]["foreground_iou"].get<double>(), 1.0) << k;
  }
  EXPECT_GE(summary["start"]["iou"].get<double>(), 0.0);
  EXPECT_LE(summary["end"]["iou"].get<double>(), 1.0);
  // The recipe: an x0-prediction model, Painter-coloured segmentation targets in stage 2, sampled at shift 1.
  EXPECT_EQ(config::load_json_file(run + "/model.json")["prediction"].get<std::string>(), "x0");
  const auto stage2 = config::load_json_file(run + "/config.json");
  EXPECT_EQ(stage2["data"]["sources"][0]["task"]["color_mode"].get<std::string>(), "position");
  EXPECT_EQ(stage2["timestep_shift"].get<double>(), 8.0);
  EXPECT_EQ(summary["eval"]["timestep_shift"].get<double>(), train::kWorldEvalShift);
  EXPECT_EQ(summary["seg_match"]["min_region_pixels"].get<int64_t>(), train::kWorldSegMinPixels);
  // At step 0 llm2vae is zero (BAGEL's init): the x0 model predicts 0 everywhere, so every generation is the same
  // uniform grey, identical for any input image. The measure must say exactly that.
  EXPECT_EQ(summary["start"]["input_sensitivity"].get<double>(), 0.0);
  EXPECT_GE(summary["end"]["input_sensitivity"].get<double>(), 0.0);
  auto bad = sgt::testing::run_command(fmt::format("{} tune --config /nonexistent.json 2>&1", shell_quote(sgt_bin())));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("nonexistent.json"), std::string::npos) << bad.output;
  // A TrainConfig file with a malformed init_scheme is one clear line before any work.
  {
    std::ofstream f(run + "-bad-init.json");
    f << R"({"model_config": "x.json", "init_scheme": "mimetic+xavier"})";
  }
  auto bad_init = sgt::testing::run_command(
      fmt::format("{} tune --config {} 2>&1", shell_quote(sgt_bin()), shell_quote(run + "-bad-init.json")));
  EXPECT_NE(bad_init.exit_code, 0);
  EXPECT_NE(bad_init.output.find("unknown init scheme part 'xavier'"), std::string::npos) << bad_init.output;
  // --device / --precision reach both stages' configs and are checked before any work.
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"--precision bf16", "precision bf16 needs device cuda"},
           {"--device tpu", "--device"},
           {"--pretrain-steps -3", "--pretrain-steps"},
           {"--eval-shift 0", "--eval-shift"},
           {"--min-region -1", "--min-region"}}) {
    auto r = sgt::testing::run_command(fmt::format("{} tune --run-dir {} --steps 1 --no-eval {} 2>&1",
                                                   shell_quote(sgt_bin()), shell_quote(run + "-bad"), args));
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(says), std::string::npos) << args << ": " << r.output;
  }
}

// freeze_params keeps the named tensors fixed while the rest learns; a prefix that matches nothing, malformed
// TrainConfig JSON and a truncated shard get clear errors or are counted, and never lose the run.
TEST_F(Trainer, FrozenParamsBadConfigsAndTruncatedShards) {
  auto cfg = tiny("frozen");
  cfg.steps = 2;
  cfg.save_every = 2;
  cfg.freeze_params = {"language_model.model.embed_tokens.", "language_model.lm_head."};
  {
    train::Trainer t(cfg);
    std::map<std::string, torch::Tensor> before;
    for (auto& p : t.model()->named_parameters()) before[p.key()] = p.value().detach().clone();
    t.run();
    int64_t changed = 0;
    for (auto& p : t.model()->named_parameters()) {
      const bool same = torch::equal(before.at(p.key()), p.value());
      if (p.key().rfind("language_model.model.embed_tokens.", 0) == 0 || p.key().rfind("language_model.lm_head.", 0) == 0)
        EXPECT_TRUE(same) << p.key();
      else
        changed += !same;
    }
    EXPECT_GT(changed, 10);
    // The EMA file is a whole model (strict load into a fresh module), frozen tensors included.
    const auto latest = io::latest_checkpoint(cfg.run_dir + "/checkpoints");
    ASSERT_TRUE(latest.has_value());
    model::Bagel fresh(t.model()->config());
    io::load_state_dict(*fresh, io::TensorSource::open(latest->file("ema.safetensors")));
    EXPECT_TRUE(torch::equal(fresh->language_model->lm_head->weight, before.at("language_model.lm_head.weight")));
  }
  {  // and a resume reads it back
    auto again = cfg;
    again.steps = 3;
    train::Trainer t(again);
    EXPECT_EQ(t.resumed_from(), 2);
    t.run();
    EXPECT_EQ(t.step(), 3);
  }
  cfg.freeze_params = {"language_model.no_such_module."};
  cfg.run_dir = dir_->file("frozen-bad");
  try {
    train::Trainer t(cfg);
    ADD_FAILURE() << "an unmatched freeze prefix was accepted";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_module"), std::string::npos) << e.what();
  }

  // Malformed configs: unknown key, wrong type, broken JSON. Each message names the file.
  const std::string bad = dir_->file("bad-config.json");
  for (const char* text : {R"({"model_config": "m.json", "stepz": 3})", R"({"model_config": "m.json", "steps": "ten"})",
                           R"({"model_config": "m.json", "steps": 3)"}) {
    std::ofstream(bad) << text;
    try {
      (void)config::load_file<train::TrainConfig>(bad);
      ADD_FAILURE() << "accepted " << text;
    } catch (const sgt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad-config.json"), std::string::npos) << e.what();
    }
  }

  // A shard cut in half (a crashed copy): its tail is counted as bad samples and training goes on.
  const std::string cut = dir_->file("cut");
  fs::create_directories(cut);
  for (int i = 0; i < 3; ++i) {
    const std::string name = fmt::format("world-train-{:06d}.tar", i);
    fs::copy_file(dir_->file("world") + "/train/" + name, cut + "/" + name, fs::copy_options::overwrite_existing);
  }
  fs::resize_file(cut + "/world-train-000000.tar", fs::file_size(cut + "/world-train-000000.tar") / 2 + 100);
  auto c2 = tiny("cut-run");
  for (auto& s : c2.data.sources) s.shards = {cut + "/world-train-{000000..000002}.tar"};
  c2.steps = 3;
  c2.save_every = 0;
  train::Trainer t(c2);
  t.run();
  EXPECT_EQ(t.step(), 3);
  EXPECT_NE(t.bad_sample_summary().find("truncated_tar"), std::string::npos) << t.bad_sample_summary();
}
