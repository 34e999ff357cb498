// The inference subcommands on CUDA against the CPU (docs/gpu.md), on a random tiny model written to disk. Skipped
// on a machine without a CUDA device (CI); scripts/gpu_run.sh runs it on a GPU machine.
// - chat (greedy): the same answer on cuda and cpu in float32;
// - generate and segment: the same image within a few grey levels in float32 (the initial noise is drawn on the
//   CPU, so only float rounding differs); bfloat16 weights on cuda stay close.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/image.h"
#include "infer_testing.h"

using namespace sgt;
using infer_testing::q;
using infer_testing::sgt_run;

namespace {

struct Diff {
  double mean = 0;
  int max = 0;
};

Diff image_diff(const data::Image& a, const data::Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  Diff d;
  if (a.pixels.size() != b.pixels.size() || a.pixels.empty()) return {255, 255};
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int e = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    d.mean += e;
    d.max = std::max(d.max, e);
  }
  d.mean /= static_cast<double>(a.pixels.size());
  return d;
}

}  // namespace

TEST(CudaInfer, ChatGenerateAndSegmentMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (run on a GPU machine: docs/gpu.md)";
  sgt::testing::TempDir dir("cuda-infer");
  const std::string model = infer_testing::write_tiny_model_and_image(dir);
  auto on = [&](const std::string& dev, const std::string& dtype) {
    return " --device " + dev + " --dtype " + dtype + " ";
  };
  const std::string chat = "chat " + model + "--image " + q(dir.file("in.png")) + " -q 'What is shown?' --max-length 6";
  auto c_cpu = sgt_run(chat + on("cpu", "float32"));
  auto c_gpu = sgt_run(chat + on("cuda", "float32"));
  ASSERT_EQ(c_cpu.exit_code, 0) << c_cpu.output;
  ASSERT_EQ(c_gpu.exit_code, 0) << c_gpu.output;
  EXPECT_EQ(c_gpu.output, c_cpu.output);
  auto c_bf16 = sgt_run(chat + on("cuda", "bfloat16"));
  ASSERT_EQ(c_bf16.exit_code, 0) << c_bf16.output;  // random weights: bf16 may pick other tokens; it must run
  std::printf("[cuda] chat cpu: %s[cuda] chat cuda bf16: %s", c_cpu.output.c_str(), c_bf16.output.c_str());

  for (const std::string task : {"generate", "segment"}) {
    auto cmd = [&](const std::string& out, const std::string& dev, const std::string& dtype) {
      const std::string common = " -o " + q(dir.file(out)) + " --steps 4 --seed 3 --width 48 --height 32" + on(dev, dtype);
      if (task == "generate") return "generate " + model + "-p 'a red square'" + common;
      return "segment " + model + "-i " + q(dir.file("in.png")) +
             " --instruction 'Segment instances with different colors.' --vit-width 28 --vit-height 28" + common;
    };
    auto r_cpu = sgt_run(cmd(task + "_cpu.png", "cpu", "float32"));
    auto r_gpu = sgt_run(cmd(task + "_cuda.png", "cuda", "float32"));
    auto r_bf16 = sgt_run(cmd(task + "_bf16.png", "cuda", "bfloat16"));
    ASSERT_EQ(r_cpu.exit_code, 0) << r_cpu.output;
    ASSERT_EQ(r_gpu.exit_code, 0) << r_gpu.output;
    ASSERT_EQ(r_bf16.exit_code, 0) << r_bf16.output;
    const auto ref = data::read_image(dir.file(task + "_cpu.png"));
    const auto f32 = image_diff(data::read_image(dir.file(task + "_cuda.png")), ref);
    const auto b16 = image_diff(data::read_image(dir.file(task + "_bf16.png")), ref);
    std::printf("[cuda] %s: cuda fp32 vs cpu mean %.3f max %d; cuda bf16 vs cpu mean %.3f max %d grey levels\n",
                task.c_str(), f32.mean, f32.max, b16.mean, b16.max);
    EXPECT_LE(f32.max, 2) << task;  // float rounding can flip a rounding to 8 bits, no more
    EXPECT_LT(b16.mean, 8.0) << task;
  }
}
