// `sgt eval loss` end to end on a random tiny BAGEL (configs/model/tiny-bagel.json, pixel VAE) and a tiny rendered
// world: the CE of a VQA sample and the MSE of a proxy segmentation sample equal those of tools/bagel_loss_ref.py,
// a plain-torch forward written from BAGEL's Bagel.forward that reads the --save-inputs file (BAGEL's key names),
// the --save-noise file and the weights. Tolerance: 1e-5 relative (fp32 on both sides, different summation
// orders). Also: --noise reproduces a run exactly, the same seed gives the same numbers, bad noise files are one
// clear error each, and the samples are the trainer's decodes.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "data/world.h"
#include "eval/sample_loss.h"
#include "infer/infer_testing.h"
#include "io/torch_tensors.h"
#include "train/mixer.h"
#include "train/trainer.h"
#include "train/world_recipe.h"

namespace sgt::eval {
namespace {
using infer_testing::q;
using infer_testing::sgt_run;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.front() == '{') out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class EvalLoss : public ::testing::Test {
 protected:
  void SetUp() override {
    data::WorldConfig w;  // 4 scenes of 48 x 48 with up to 2 objects, one shard
    w.seed = 5;
    w.train = 4;
    w.heldout = 1;
    w.min_side = 48;
    w.max_side = 48;
    w.max_objects = 2;
    w.samples_per_shard = 4;
    data::write_world(dir_.file("world"), w, 1);
    auto c = train::world_tune_config(dir_.file("run"), dir_.file("world"), infer_testing::tiny_config_path());
    for (auto& s : c.data.sources) s.shards = {dir_.file("world/train/world-train-000000.tar")};
    c.data.sizes.vit_side = 42;  // 3 x 3 ViT patches
    c.data.sizes.vae_side = 48;  // 3 x 3 latent tokens of 768 (pixel AE patch 8 x latent patch 2)
    c.data.sizes.vae_stride = 16;
    c.data.packing.expected_num_tokens = 200;
    c.data.packing.max_num_tokens = 320;
    c.data.packing.max_num_tokens_per_sample = 320;
    c.data.packing.prefer_buffer_before = 200;
    std::ofstream(dir_.file("train.json")) << config::to_json(c).dump(2);
    {
      auto m = infer_testing::tiny_model(4);
      torch::NoGradGuard g;
      m->llm2vae->weight.mul_(0.05);  // keep the random model's MSE in a readable range
      infer_testing::save_model(m, dir_.file("tiny.safetensors"));
    }
    args_ = "eval loss --config " + q(infer_testing::tiny_config_path()) + " --weights " +
            q(dir_.file("tiny.safetensors")) + " --tokenizer " + q(infer_testing::tokenizer_path()) +
            " --no-progress --train-config " + q(dir_.file("train.json")) + " --samples 1 ";
  }
  testing::TempDir dir_{"eval-loss"};
  std::string args_;
};

TEST_F(EvalLoss, EqualsBagelForwardReferenceAndReproducesGivenNoise) {
  auto r = sgt_run(args_ + "--seed 7 --save-noise " + q(dir_.file("noise.safetensors")) + " --save-inputs " +
                   q(dir_.file("inputs.safetensors")) + " --out " + q(dir_.file("loss.jsonl")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ours = json_lines(read_text(dir_.file("loss.jsonl")));
  ASSERT_EQ(ours.size(), 3u);  // segment sample, vqa sample, total
  EXPECT_EQ(ours[0]["source"], "segment");
  EXPECT_EQ(ours[0]["mse_tokens"], 9);
  EXPECT_EQ(ours[0]["ce_tokens"], 0);
  EXPECT_EQ(ours[1]["source"], "vqa");
  EXPECT_GT(ours[1]["ce_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(ours[1]["mse_tokens"], 0);
  EXPECT_EQ(ours[2]["total"], true);
  EXPECT_DOUBLE_EQ(ours[2]["ce_sum"].get<double>(), ours[1]["ce_sum"].get<double>());

  auto py = testing::run_python_tool("bagel_loss_ref.py", {"--inputs", dir_.file("inputs.safetensors"), "--noise",
                                                           dir_.file("noise.safetensors"), "--weights",
                                                           dir_.file("tiny.safetensors")});
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto ref = json_lines(py.output);
  ASSERT_EQ(ref.size(), 2u) << py.output;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(ref[i]["index"], ours[i]["index"]);
    EXPECT_EQ(ref[i]["ce_tokens"], ours[i]["ce_tokens"]) << i;
    EXPECT_EQ(ref[i]["mse_tokens"], ours[i]["mse_tokens"]) << i;
    for (const char* k : {"ce_sum", "mse_sum"}) {
      const double a = ours[i][k].get<double>(), b = ref[i][k].get<double>();
      EXPECT_NEAR(a, b, 1e-5 * std::max(std::abs(b), 1e-3)) << "sample " << i << " " << k << "\n" << py.output;
    }
  }
  EXPECT_GT(ours[0]["mse_sum"].get<double>(), 0);
  EXPECT_GT(ours[1]["ce_sum"].get<double>(), 0);

  // The saved noise fed back (another --seed, which it overrides) gives the same numbers exactly; the same seed
  // again too; another seed other timesteps and noise.
  auto given = sgt_run(args_ + "--seed 99 --noise " + q(dir_.file("noise.safetensors")));
  ASSERT_EQ(given.exit_code, 0) << given.output;
  auto again = sgt_run(args_ + "--seed 7");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto other = sgt_run(args_ + "--seed 8");
  ASSERT_EQ(other.exit_code, 0) << other.output;
  const auto g = json_lines(given.output), s = json_lines(again.output), o = json_lines(other.output);
  ASSERT_EQ(g.size(), 3u);
  ASSERT_EQ(s.size(), 3u);
  ASSERT_EQ(o.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g[i], ours[i]) << i;
    EXPECT_EQ(s[i], ours[i]) << i;
  }
  EXPECT_NE(o[0]["mse_sum"], ours[0]["mse_sum"]);
  EXPECT_EQ(o[1], ours[1]);  // the VQA sample has no noise
}

// The samples measured are the trainer's: the same key of the same source decodes to the same text, answer and
// pixels as in the trainer's mixer (its per-sample colour / instruction / question stream).
TEST_F(EvalLoss, SamplesAreTheTrainersDecodes) {
  const auto tc = config::load_file<train::TrainConfig>(dir_.file("train.json"));
  auto tok = std::make_shared<const text::Tokenizer>(text::Tokenizer::load(infer_testing::tokenizer_path()));
  data::BadSampleCounter bad;
  const auto ours = read_first_samples(tc.data, {}, 4, tok, tc.data_seed, bad);
  ASSERT_EQ(ours.size(), 8u);  // 4 segment, then 4 vqa
  train::Mixer mixer(tc.data, tok, tc.data_seed, 0, 1);
  std::map<std::pair<int64_t, std::string>, std::shared_ptr<const train::TrainSample>> seen;
  for (int mb = 0; mb < 12 && seen.size() < 8; ++mb)
    for (const auto& smp : mixer.next().samples) seen[{smp->source, smp->key}] = smp;
  ASSERT_EQ(seen.size(), 8u);
  for (const auto& s : ours) {
    const auto& t = *seen.at({s.source, s.key});
    EXPECT_EQ(s.text, t.text) << s.key;
    EXPECT_EQ(s.answer, t.answer) << s.key;
    ASSERT_EQ(s.images.size(), t.images.size()) << s.key;
    for (size_t k = 0; k < s.images.size(); ++k) EXPECT_EQ(s.images[k].pixels, t.images[k].pixels) << s.key << " " << k;
  }
}

TEST_F(EvalLoss, BadNoiseFilesAndSourcesAreOneClearError) {
  auto r = sgt_run(args_ + "--source segment --save-noise " + q(dir_.file("noise.safetensors")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_lines(r.output).size(), 2u) << r.output;  // one segment sample and the total
  const auto good = io::load_tensors(dir_.file("noise.safetensors"));
  ASSERT_TRUE(good.count("0.0.timestep") && good.count("0.0.noise"));
  EXPECT_EQ(good.at("0.0.noise").sizes().vec(), (std::vector<int64_t>{9, 768}));

  auto wrong = good;
  wrong["0.0.noise"] = torch::zeros({3, 768});
  io::save_tensors(dir_.file("wrong.safetensors"), wrong);
  auto missing = good;
  missing.erase("0.0.timestep");
  io::save_tensors(dir_.file("missing.safetensors"), missing);
  auto infinite = good;
  infinite["0.0.timestep"] = torch::tensor({std::numeric_limits<double>::infinity()}, torch::kFloat64);
  io::save_tensors(dir_.file("infinite.safetensors"), infinite);
  struct Case {
    std::string args;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"--noise " + q(dir_.file("wrong.safetensors")), {"'0.0.noise'", "[3, 768]", "[9, 768]", "wrong.safetensors"}},
      {"--noise " + q(dir_.file("missing.safetensors")), {"'0.0.timestep'", "missing.safetensors"}},
      {"--noise " + q(dir_.file("infinite.safetensors")), {"'0.0.timestep'", "inf", "finite"}},
      {"--noise " + q(dir_.file("good.safetensors")) + " --save-noise " + q(dir_.file("good.safetensors")),
       {"--noise and --save-noise", "good.safetensors"}},
      {"--source nope", {"'nope'", "segment, vqa"}},
  };
  for (const auto& c : cases) {
    auto bad = sgt_run(args_ + "--source segment " + c.args);
    EXPECT_EQ(bad.exit_code, 1) << c.args << "\n" << bad.output;
    const auto lines = testing::error_lines(bad.output);
    ASSERT_EQ(lines.size(), 1u) << bad.output;
    for (const auto& n : c.needles) EXPECT_NE(lines[0].find(n), std::string::npos) << n << "\n" << lines[0];
  }
}

}  // namespace
}  // namespace sgt::eval
