// The inference subcommands end to end on a random tiny model written to disk (configs/model/tiny-bagel.json +
// safetensors, pixel VAE, the real Qwen tokenizer): outputs exist with the right sizes, runs are reproducible,
// and bad arguments give one clear error line and a non-zero exit.
#include <algorithm>
#include <fstream>

#include <filesystem>

#include <gtest/gtest.h>

#include "data/image.h"
#include "data/proxy_tasks.h"
#include "data/resize.h"
#include "infer_testing.h"

using namespace sgt;

namespace {

using infer_testing::q;
using infer_testing::sgt_run;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(InferCli, ChatGenerateEditSegmentAndBatch) {
  sgt::testing::TempDir dir("infer-cli");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  const data::Image in = data::read_image(dir.file("in.png"));
  data::write_png(dir.file("sq.png"), data::resize_bicubic(in, 40, 40));  // square: 512 x 512 = the tiny model's
                                                                          // 32 x 32 latent limit under BAGEL's rule

  auto chat = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) + " -q 'What is shown?' --max-length 4");
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_GE(lines(chat.output), 1) << chat.output;  // the answer (random weights: any text) and a newline
  auto chat2 = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) + " -q 'What is shown?' --max-length 4");
  EXPECT_EQ(chat.output, chat2.output);
  // The default --resize bagel is Bagel.chat's VLM rule: the same answer as giving those sizes by hand.
  data::ImageTransformConfig vlm;
  vlm.stride = 14, vlm.min_size = 378, vlm.max_size = 980, vlm.max_pixels = 2007040;
  const auto [vw, vh] = data::transform_size(50, 37, vlm);
  auto chat3 = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) + " -q 'What is shown?' --max-length 4" +
                       " --vit-width " + std::to_string(vw) + " --vit-height " + std::to_string(vh));
  EXPECT_EQ(chat3.output, chat.output);
  auto chat4 = sgt_run("chat " + model + "--image " + q(dir.file("in.png")) + " -q 'What is shown?' --max-length 4" +
                       " --resize keep");
  ASSERT_EQ(chat4.exit_code, 0) << chat4.output;
  // An unknown resize rule is one clear error line and a non-zero exit, for every command that takes it.
  for (const std::string& cmd : {"chat " + model + "--image " + q(dir.file("in.png")) + " -q 'x' --max-length 2",
                                "edit " + model + "-i " + q(dir.file("in.png")) + " --instruction x -o " +
                                    q(dir.file("bad.png")) + " --steps 2"}) {
    auto bad = sgt_run(cmd + " --resize stretch");
    EXPECT_NE(bad.exit_code, 0) << cmd;
    EXPECT_NE(bad.output.find("stretch"), std::string::npos) << bad.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad.png")));

  auto gen = sgt_run("generate " + model + "-p 'a cat' -o " + q(dir.file("t2i.png")) +
                     " --width 48 --height 32 --steps 3 --seed 1");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  auto t2i = data::read_image(dir.file("t2i.png"));
  EXPECT_EQ(t2i.width, 48);
  EXPECT_EQ(t2i.height, 32);

  auto edit = sgt_run("edit " + model + "-i " + q(dir.file("in.png")) + " --instruction 'make it blue' -o " +
                      q(dir.file("edit.png")) + " --steps 3 --resize keep");
  ASSERT_EQ(edit.exit_code, 0) << edit.output;
  auto e = data::read_image(dir.file("edit.png"));
  EXPECT_EQ(e.width, 48);  // 50 x 37 rounded down to multiples of 16
  EXPECT_EQ(e.height, 32);
  // BAGEL's rule (the default): the VAE transform (512-1024, stride 16) sets the edited output's size.
  auto edit_b = sgt_run("edit " + model + "-i " + q(dir.file("sq.png")) + " --instruction 'make it blue' -o " +
                        q(dir.file("edit_b.png")) + " --steps 2");
  ASSERT_EQ(edit_b.exit_code, 0) << edit_b.output;
  data::ImageTransformConfig vae;  // stride 16, sides 512-1024
  const auto [bw, bh] = data::transform_size(40, 40, vae);
  const auto eb = data::read_image(dir.file("edit_b.png"));
  EXPECT_EQ(eb.width, bw);
  EXPECT_EQ(eb.height, bh);
  EXPECT_GE(std::min(eb.width, eb.height), 512 - 16);
  // Think mode prints the plan (a bounded decode here) and still writes the image.
  auto think = sgt_run("generate " + model + "-p 'a cat' -o " + q(dir.file("think.png")) +
                       " --width 32 --height 32 --steps 2 --think --think-max-length 3");
  ASSERT_EQ(think.exit_code, 0) << think.output;
  EXPECT_EQ(data::read_image(dir.file("think.png")).width, 32);

  auto seg = sgt_run("segment " + model + "-i " + q(dir.file("in.png")) +
                     " --instruction 'Segment all instances.' -o " + q(dir.file("seg.png")) +
                     " --steps 3 --seed 7 --vit-width 28 --vit-height 28 --width 32 --height 32");
  ASSERT_EQ(seg.exit_code, 0) << seg.output;
  auto s = data::read_image(dir.file("seg.png"));
  EXPECT_EQ(s.width, 32);
  EXPECT_EQ(s.height, 32);

  // Batch: the first request repeats the single run (same seed), the second reuses the cached image context.
  {
    std::ofstream f(dir.file("req.jsonl"));
    f << R"({"image": ")" << dir.file("in.png") << R"(", "instruction": "Segment all instances.", "output": ")"
      << dir.file("b0.png") << R"(", "seed": 7, "width": 32, "height": 32, "vit_width": 28, "vit_height": 28})"
      << "\n\n";
    f << R"({"image": ")" << dir.file("in.png") << R"(", "instruction": "Draw the edges.", "output": ")"
      << dir.file("b1.png") << R"(", "width": 16, "height": 32, "vit_width": 28, "vit_height": 28})" << "\n";
  }
  auto batch = sgt_run("segment " + model + "--batch " + q(dir.file("req.jsonl")) + " --steps 3", "info");
  ASSERT_EQ(batch.exit_code, 0) << batch.output;
  EXPECT_NE(batch.output.find("1 reused"), std::string::npos) << batch.output;
  EXPECT_EQ(data::read_image(dir.file("b0.png")).pixels, s.pixels);
  EXPECT_EQ(data::read_image(dir.file("b1.png")).width, 16);

  // Bad arguments: one line "sgt: error: ...", non-zero exit.
  auto bad_size = sgt_run("segment " + model + "-i " + q(dir.file("in.png")) + " --instruction x -o " +
                          q(dir.file("x.png")) + " --width 40 --height 32 --steps 3");
  EXPECT_EQ(bad_size.exit_code, 1);
  EXPECT_EQ(bad_size.output.rfind("sgt: error: [infer.", 0), 0u) << bad_size.output;
  EXPECT_NE(bad_size.output.find("multiples of 16"), std::string::npos) << bad_size.output;
  EXPECT_EQ(lines(bad_size.output), 1) << bad_size.output;
  auto bad_renorm = sgt_run("generate " + model + "-p x -o " + q(dir.file("x.png")) +
                            " --width 32 --height 32 --cfg-renorm-type local");
  EXPECT_EQ(bad_renorm.exit_code, 1);
  EXPECT_NE(bad_renorm.output.find("cfg_renorm_type"), std::string::npos) << bad_renorm.output;
  EXPECT_EQ(lines(bad_renorm.output), 1) << bad_renorm.output;
  auto no_image = sgt_run("segment " + model + "-i " + q(dir.file("missing.png")) + " --instruction x -o " +
                          q(dir.file("x.png")));
  EXPECT_EQ(no_image.exit_code, 1);
  EXPECT_EQ(lines(no_image.output), 1) << no_image.output;
  {
    std::ofstream f(dir.file("bad.jsonl"));
    f << R"({"image": "a.png", "instruction": "x", "output": "o.png", "colour": 1})" << "\n";
  }
  auto bad_batch = sgt_run("segment " + model + "--batch " + q(dir.file("bad.jsonl")));
  EXPECT_EQ(bad_batch.exit_code, 1);
  EXPECT_NE(bad_batch.output.find("bad.jsonl:1: unknown key \"colour\""), std::string::npos) << bad_batch.output;
  auto no_weights = sgt_run("chat --config " + q(infer_testing::tiny_config_path()) + " --tokenizer " +
                            q(infer_testing::tokenizer_path()) + " -q hi");
  EXPECT_EQ(no_weights.exit_code, 1);
  EXPECT_NE(no_weights.output.find("needs --weights"), std::string::npos) << no_weights.output;
  EXPECT_FALSE(std::ifstream(dir.file("x.png")).good());
}
