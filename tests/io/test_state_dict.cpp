// Strict state-dict loading: every missing, unexpected and mis-shaped tensor is reported by name.
#include <gtest/gtest.h>

#include "core/error.h"

#include <torch/torch.h>

#include "io/state_dict.h"
#include "io/torch_tensors.h"
#include "testing/testing.h"

namespace {

struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t in, int64_t out) {
    proj = register_module("proj", torch::nn::Linear(in, out));
    norm = register_parameter("norm_weight", torch::ones({out}));
    register_buffer("running", torch::zeros({out}));
  }
  torch::nn::Linear proj{nullptr};
  torch::Tensor norm;
};
TORCH_MODULE(Block);

struct TinyImpl : torch::nn::Module {
  explicit TinyImpl(int64_t width = 4) {
    a = register_module("a", Block(3, width));
    b = register_module("b", Block(width, 2));
  }
  Block a{nullptr}, b{nullptr};
};
TORCH_MODULE(Tiny);

TEST(StateDict, RoundTripLoadsEveryTensorExactly) {
  sgt::testing::TempDir dir("sd");
  torch::manual_seed(0);
  Tiny src;
  sgt::io::save_tensors(dir.file("m.safetensors"), sgt::io::state_dict(*src));
  Tiny dst;
  auto source = sgt::io::TensorSource::open(dir.file("m.safetensors"));
  auto report = sgt::io::load_state_dict(*dst, source);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.loaded, 8);
  auto a = sgt::io::state_dict(*src), b = sgt::io::state_dict(*dst);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
}

TEST(StateDict, ReportsMissingUnexpectedAndMisshapedByName) {
  sgt::testing::TempDir dir("sd-bad");
  Tiny wide(5);
  auto sd = sgt::io::state_dict(*wide);
  sd.erase("b.proj.bias");
  sd["extra.weight"] = torch::zeros({1});
  sgt::io::save_tensors(dir.file("m.safetensors"), sd);
  auto source = sgt::io::TensorSource::open(dir.file("m.safetensors"));
  Tiny dst(4);
  auto before = dst->a->proj->weight.clone();
  try {
    sgt::io::load_state_dict(*dst, source);
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("b.proj.bias"), std::string::npos) << m;
    EXPECT_NE(m.find("extra.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("a.proj.weight: module [4, 3] vs file [5, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("m.safetensors"), std::string::npos) << m;
  }
  EXPECT_TRUE(torch::equal(before, dst->a->proj->weight));  // nothing modified on failure
  auto report = sgt::io::check_state_dict(*dst, source, {});
  EXPECT_EQ(report.missing, std::vector<std::string>{"b.proj.bias"});
  EXPECT_EQ(report.unexpected, std::vector<std::string>{"extra.weight"});
  EXPECT_EQ(report.mismatched.size(), 5u);  // a.proj.weight/bias, a.norm_weight, a.running, b.proj.weight
}

TEST(StateDict, OptionalIgnoredPrefixAndDtypeConversion) {
  sgt::testing::TempDir dir("sd-opt");
  torch::manual_seed(1);
  Tiny src;
  std::map<std::string, torch::Tensor> sd;
  for (auto& [k, v] : sgt::io::state_dict(*src)) sd["model." + k] = v.to(torch::kBFloat16);
  sd.erase("model.a.running");
  sd["model.pos_embed"] = torch::zeros({3});
  sgt::io::save_tensors(dir.file("m.safetensors"), sd);
  auto source = sgt::io::TensorSource::open(dir.file("m.safetensors"));
  Tiny dst;
  sgt::io::LoadOptions opts;
  opts.source_prefix = "model.";
  opts.optional = {"*.running"};
  opts.ignored = {"model.pos_*"};
  auto report = sgt::io::load_state_dict(*dst, source, opts);
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.absent_optional, std::vector<std::string>{"a.running"});
  EXPECT_EQ(dst->a->proj->weight.scalar_type(), torch::kFloat32);  // converted into the module's dtype
  EXPECT_TRUE(torch::equal(dst->a->proj->weight, src->a->proj->weight.to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST(StateDict, ZeroCopySharesTheMapping) {
  sgt::testing::TempDir dir("sd-zc");
  Tiny src;
  sgt::io::save_tensors(dir.file("m.safetensors"), sgt::io::state_dict(*src));
  auto source = sgt::io::TensorSource::open(dir.file("m.safetensors"));
  Tiny dst;
  sgt::io::LoadOptions opts;
  opts.zero_copy = true;
  sgt::io::load_state_dict(*dst, source, opts);
  const auto& ref = source.at("a.proj.weight");
  EXPECT_EQ(dst->a->proj->weight.data_ptr(), static_cast<const void*>(ref.file->bytes(*ref.info).data()));
  EXPECT_TRUE(torch::equal(dst->a->proj->weight, src->a->proj->weight));
}

TEST(StateDict, GlobMatch) {
  EXPECT_TRUE(sgt::io::glob_match("*", ""));
  EXPECT_TRUE(sgt::io::glob_match("a.*.weight", "a.b.c.weight"));
  EXPECT_FALSE(sgt::io::glob_match("a.*.weight", "a.b.bias"));
  EXPECT_TRUE(sgt::io::glob_match("*_moe_gen*", "x.q_proj_moe_gen.weight"));
  EXPECT_FALSE(sgt::io::glob_match("abc", "abcd"));
}

}  // namespace
