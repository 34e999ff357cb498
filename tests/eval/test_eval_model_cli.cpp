// `sgt eval cvbench | geneval | probe | attention` with a model, end to end on random tiny BAGELs saved to disk
// (configs/model/tiny-bagel.json + safetensors, pixel VAE, the Qwen tokenizer) and 2-3 item fixtures in the
// official formats: the outputs exist with the official layout, and the scores equal those computed from the
// written outputs by the file-based paths.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "eval/cvbench.h"
#include "infer/infer_testing.h"
#include "io/torch_tensors.h"

namespace sgt::eval {
namespace {
namespace fs = std::filesystem;
using infer_testing::q;
using infer_testing::sgt_run;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// A w x h RGB pattern, brighter for larger `level`.
void write_image(const std::string& path, int64_t w, int64_t h, int level, int seed) {
  data::Image im(w, h, 3);
  for (size_t i = 0; i < im.pixels.size(); ++i)
    im.pixels[i] = static_cast<uint8_t>(level * 80 + (i * (37 + seed)) % 90);
  fs::create_directories(fs::path(path).parent_path());
  data::write_png(path, im);
}

class EvalModelCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = infer_testing::tiny_model(4);
    infer_testing::save_model(m, dir_.file("base.safetensors"));
    model_ = "--config " + q(infer_testing::tiny_config_path()) + " --weights " + q(dir_.file("base.safetensors")) +
             " --tokenizer " + q(infer_testing::tokenizer_path()) + " --no-progress ";
  }
  testing::TempDir dir_{"eval-model-cli"};
  std::string model_;
};

TEST_F(EvalModelCli, CvBenchAnswersWithTheModelAndScores) {
  const std::string root = dir_.file("cvb");
  std::string lines;
  const char* rows[3][4] = {{"2D", "Count", "ADE20K", "img/2D/count/ade20k_1.png"},
                            {"2D", "Relation", "COCO", "img/2D/relation/coco_2.png"},
                            {"3D", "Depth", "Omni3D", "img/3D/depth/omni3d_3.png"}};
  for (int i = 0; i < 3; ++i) {
    lines += nlohmann::json{{"idx", i}, {"type", rows[i][0]}, {"task", rows[i][1]}, {"source", rows[i][2]},
                            {"question", "Which is closer?"}, {"choices", {"the chair", "the lamp"}},
                            {"answer", i == 1 ? "(B)" : "(A)"}, {"filename", rows[i][3]},
                            {"prompt", "Which is closer? Select from the following choices.\n(A) the chair\n(B) the lamp"},
                            {"source_dataset", "fixture"}}
                 .dump() +
             "\n";
    write_image(root + "/" + rows[i][3], 30 + 14 * i, 28, i, i);
  }
  write_text(root + "/test.jsonl", lines);
  auto r = sgt_run("eval cvbench --questions " + q(root + "/test.jsonl") + " " + model_ + "--max-length 4 --vit-width 28 "
                   "--vit-height 28 --answers-out " + q(dir_.file("answers.jsonl")) + " --out " + q(dir_.file("s.json")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto answers = read_cvbench_answers(dir_.file("answers.jsonl"));
  ASSERT_EQ(answers.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(answers.count(i)) << i;
  const auto scores = read_json(dir_.file("s.json"));
  EXPECT_EQ(scores["all"]["total"], 3);
  EXPECT_EQ(scores["missing_answers"], 0);
  // The scores are those of the written answers (the file path scores them identically).
  const auto expected = cvbench_scores_json(score_cvbench(read_cvbench_jsonl(root + "/test.jsonl"), answers));
  EXPECT_EQ(scores.dump(), nlohmann::json::parse(expected.dump()).dump());
  auto again = sgt_run("eval cvbench --questions " + q(root + "/test.jsonl") + " --answers " +
                       q(dir_.file("answers.jsonl")) + " --out " + q(dir_.file("s2.json")));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_json(dir_.file("s2.json")), scores);
  // An explicit --root without the img/ tree fails with a clear error naming the image.
  auto bad = sgt_run("eval cvbench --questions " + q(root + "/test.jsonl") + " " + model_ + "--root " +
                     q(dir_.path()) + " --answers-out " + q(dir_.file("x.jsonl")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("ade20k_1.png"), std::string::npos) << bad.output;
  auto neither = sgt_run("eval cvbench --questions " + q(root + "/test.jsonl"));
  EXPECT_EQ(neither.exit_code, 1);
  EXPECT_NE(neither.output.find("--answers"), std::string::npos) << neither.output;
}

TEST_F(EvalModelCli, GenEvalGeneratesTheOfficialFolderAndScoresDetections) {
  const std::string meta0 = R"({"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"})";
  const std::string meta1 = R"({"tag": "counting", "include": [{"class": "clock", "count": 2}], "exclude": [{"class": "clock", "count": 3}], "prompt": "a photo of two clocks"})";
  write_text(dir_.file("meta.jsonl"), meta0 + "\n" + meta1 + "\n");
  const std::string out = dir_.file("gen");
  const std::string args = "eval geneval --metadata " + q(dir_.file("meta.jsonl")) + " --generate-out " + q(out) + " " +
                           model_ + "--images-per-prompt 2 --width 32 --height 32 --steps 3 --seed 5";
  auto r = sgt_run(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote 4 images for 2 prompts"), std::string::npos) << r.output;
  const std::string metas[2] = {meta0, meta1};
  for (int p = 0; p < 2; ++p) {
    const std::string folder = out + "/0000" + std::to_string(p);
    EXPECT_EQ(read_json(folder + "/metadata.jsonl"), nlohmann::json::parse(metas[p]));
    for (int k = 0; k < 2; ++k) {
      const auto img = data::read_image(folder + "/samples/000" + std::to_string(k) + ".png");
      EXPECT_EQ(img.width, 32);
      EXPECT_EQ(img.height, 32);
    }
  }
  // Image k uses seed + k with the sampler settings given: sample 0001 of prompt 0 is `sgt generate` at seed 6.
  auto single = sgt_run("generate " + model_ + "-p 'a photo of a dog' -o " + q(dir_.file("one.png")) +
                        " --width 32 --height 32 --steps 3 --seed 6 --cfg-interval-lo 0");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  EXPECT_EQ(data::read_image(dir_.file("one.png")).pixels, data::read_image(out + "/00000/samples/0001.png").pixels);
  // Resumable: nothing is regenerated.
  auto again = sgt_run(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("wrote 0 images"), std::string::npos) << again.output;
  // Scoring the folder: detections in the documented format for the generated files (a stand-in detector).
  auto det = [&](int p, int k, const std::string& dets) {
    return R"({"filename": ")" + out + "/0000" + std::to_string(p) + "/samples/000" + std::to_string(k) +
           R"(.png", "detections": [)" + dets + "]}\n";
  };
  const std::string dog = R"({"class": "dog", "score": 0.9, "box": [0, 0, 10, 10]})";
  const std::string clock1 = R"({"class": "clock", "score": 0.95, "box": [0, 0, 8, 8]})";
  const std::string clock2 = R"({"class": "clock", "score": 0.95, "box": [20, 20, 30, 30]})";
  write_text(dir_.file("det.jsonl"), det(0, 0, dog) + det(0, 1, "") + det(1, 0, clock1 + ", " + clock2) +
                                         det(1, 1, clock1));
  auto s = sgt_run("eval geneval --metadata " + q(dir_.file("meta.jsonl")) + " --detections " + q(dir_.file("det.jsonl")) +
                   " --out " + q(dir_.file("g.json")));
  ASSERT_EQ(s.exit_code, 0) << s.output;
  const auto g = read_json(dir_.file("g.json"));
  EXPECT_EQ(g["images"], 4);
  EXPECT_DOUBLE_EQ(g["tags"]["single_object"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["tags"]["counting"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["overall"].get<double>(), 0.5);
}

TEST_F(EvalModelCli, ProbeExtractsPerLayerFeaturesWithTheModel) {
  std::string list;
  for (int i = 0; i < 10; ++i) {
    const int label = i % 2;
    write_image(dir_.file("probe/img_" + std::to_string(i) + ".png"), 28, 28, label * 1, i);
    list += nlohmann::json{{"image", "img_" + std::to_string(i) + ".png"}, {"label", label}}.dump() + "\n";
  }
  write_text(dir_.file("probe/list.jsonl"), list);
  auto r = sgt_run("eval probe " + model_ + "--images " + q(dir_.file("probe/list.jsonl")) + " --pool image-mean "
                   "--folds 2 --C 0.1 --C 1 --features-out " + q(dir_.file("f.safetensors")) + " --out " +
                   q(dir_.file("probe.json")) + " --plot " + q(dir_.file("probe.png")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto t = io::load_tensors(dir_.file("f.safetensors"));
  ASSERT_EQ(t.at("features").sizes().vec(), (std::vector<int64_t>{10, 2, 64}));  // [N, layers, hidden]
  ASSERT_EQ(t.at("labels").sizes().vec(), (std::vector<int64_t>{10}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(t.at("labels")[i].item<int64_t>(), i % 2);
  EXPECT_TRUE(torch::isfinite(t.at("features")).all().item<bool>());
  const auto j = read_json(dir_.file("probe.json"));
  ASSERT_EQ(j["model"].size(), 2u);
  for (const auto& l : j["model"]) {
    EXPECT_GE(l["test_accuracy"].get<double>(), 0.0);
    EXPECT_LE(l["test_accuracy"].get<double>(), 1.0);
  }
  EXPECT_GT(data::read_image(dir_.file("probe.png")).width, 0);
  // The saved features give the same probe through the features-file path.
  auto f = sgt_run("eval probe --features " + q(dir_.file("f.safetensors")) + " --name model --folds 2 --C 0.1 --C 1 "
                   "--out " + q(dir_.file("probe2.json")));
  ASSERT_EQ(f.exit_code, 0) << f.output;
  EXPECT_EQ(read_json(dir_.file("probe2.json")), j);
}

TEST_F(EvalModelCli, AttentionSharesOfBaseAndTunedModels) {
  {
    auto tuned = infer_testing::tiny_model(5);
    infer_testing::save_model(tuned, dir_.file("tuned.safetensors"));
  }
  write_image(dir_.file("att/a.png"), 28, 28, 0, 1);
  write_image(dir_.file("att/b.png"), 42, 28, 1, 2);
  write_text(dir_.file("att/samples.jsonl"), R"({"image": "a.png", "prompt": "What is in the image?"})" "\n"
                                             R"({"image": "b.png", "prompt": "Segment the objects."})" "\n");
  const std::string cfg = q(infer_testing::tiny_config_path());
  auto r = sgt_run("eval attention --samples " + q(dir_.file("att/samples.jsonl")) + " --base-config " + cfg +
                   " --base-weights " + q(dir_.file("base.safetensors")) + " --tuned-config " + cfg + " --tuned-weights " +
                   q(dir_.file("tuned.safetensors")) + " --tokenizer " + q(infer_testing::tokenizer_path()) +
                   " --no-progress --base-shares-out " + q(dir_.file("b.json")) + " --tuned-shares-out " +
                   q(dir_.file("t.json")) + " --out " + q(dir_.file("change.json")) + " --plot " + q(dir_.file("attn.png")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto b = read_json(dir_.file("b.json")), t = read_json(dir_.file("t.json")), c = read_json(dir_.file("change.json"));
  ASSERT_EQ(b.size(), 2u);
  ASSERT_EQ(t.size(), 2u);
  ASSERT_EQ(c.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    for (const auto* s : {&b[l], &t[l]}) {
      EXPECT_EQ((*s)["vae"].get<double>(), 0.0);  // understanding samples have no VAE keys
      EXPECT_GT((*s)["vit"].get<double>(), 0.0);
      EXPECT_NEAR((*s)["text"].get<double>() + (*s)["vit"].get<double>(), 1.0, 1e-6);  // float32 softmax
    }
    auto ratio = [](const nlohmann::json& s) {  // r = (vit + vae) / (vit + vae + text)
      return s["vit"].get<double>() / (s["vit"].get<double>() + s["text"].get<double>());
    };
    const double rb = ratio(b[l]), rt = ratio(t[l]);
    EXPECT_NEAR(c[l]["change_percent"].get<double>(), 100 * (rt - rb) / rb, 1e-9);
  }
  EXPECT_NE(b, t);  // different weights, different allocation
  EXPECT_GT(data::read_image(dir_.file("attn.png")).width, 0);
  // The written shares reproduce the change through the file path.
  auto f = sgt_run("eval attention --base " + q(dir_.file("b.json")) + " --tuned " + q(dir_.file("t.json")) + " --out " +
                   q(dir_.file("change2.json")));
  ASSERT_EQ(f.exit_code, 0) << f.output;
  EXPECT_EQ(read_json(dir_.file("change2.json")), c);
  auto both = sgt_run("eval attention --base " + q(dir_.file("b.json")) + " --base-config " + cfg);
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.output.find("exactly one of --base"), std::string::npos) << both.output;
}

}  // namespace
}  // namespace sgt::eval
