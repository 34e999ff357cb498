// safetensors parity with the Python `safetensors` package, both directions, bit-exact.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "io/torch_tensors.h"
#include "testing/testing.h"

namespace {

using sgt::testing::TempDir;

std::string to_hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(sgt::io::read_text_file(path)); }

void expect_matches(const sgt::io::TensorSource& src, const nlohmann::json& expected) {
  ASSERT_EQ(src.size(), expected.size());
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    const auto& ref = src.at(it.key());
    EXPECT_EQ(sgt::io::dtype_name(ref.info->dtype), it.value()["dtype"].get<std::string>()) << it.key();
    EXPECT_EQ(ref.info->shape, it.value()["shape"].get<std::vector<int64_t>>()) << it.key();
    EXPECT_EQ(to_hex(ref.file->bytes(*ref.info)), it.value()["hex"].get<std::string>()) << it.key();
  }
}

class SafetensorsParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("st-parity");
    auto r = sgt::testing::run_python_tool("safetensors_ref.py", {"write", dir_->path()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* SafetensorsParity::dir_ = nullptr;

TEST_F(SafetensorsParity, PythonFileOfEveryDtypeLoadsBitExact) {
  auto expected = read_json(dir_->file("expected.json"));
  auto src = sgt::io::TensorSource::open(dir_->file("all_dtypes.safetensors"));
  expect_matches(src, expected["tensors"]);
  auto meta = src.files()[0].metadata();
  for (auto it = expected["metadata"].begin(); it != expected["metadata"].end(); ++it)
    EXPECT_EQ(meta.at(it.key()), it.value().get<std::string>());
}

TEST_F(SafetensorsParity, ShardedIndexLoadsBitExactByIndexFileAndFolder) {
  auto expected = read_json(dir_->file("expected.json"));
  auto by_index = sgt::io::TensorSource::open(dir_->file("sharded/model.safetensors.index.json"));
  expect_matches(by_index, expected["sharded"]);
  EXPECT_EQ(by_index.files().size(), 2u);
  auto by_folder = sgt::io::TensorSource::open(dir_->file("sharded"));
  expect_matches(by_folder, expected["sharded"]);
}

TEST_F(SafetensorsParity, TorchTensorsMatchBytesAndAreZeroCopy) {
  auto src = sgt::io::TensorSource::open(dir_->file("all_dtypes.safetensors"));
  for (const auto& name : src.names()) {
    const auto& ref = src.at(name);
    torch::Tensor t = sgt::io::to_tensor(ref);
    EXPECT_EQ(t.scalar_type(), sgt::io::to_torch_dtype(ref.info->dtype)) << name;
    EXPECT_EQ(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), ref.info->shape) << name;
    auto bytes = ref.file->bytes(*ref.info);
    ASSERT_EQ(static_cast<size_t>(t.nbytes()), bytes.size()) << name;
    if (t.numel() > 0) {
      EXPECT_EQ(std::memcmp(t.data_ptr(), bytes.data(), bytes.size()), 0) << name;
      // Python aligns every tensor to 8 bytes, so nothing should have been copied.
      EXPECT_EQ(t.data_ptr(), static_cast<const void*>(bytes.data())) << name;
    }
  }
  // Conversion happens in one place and gives the value torch would give.
  torch::Tensor bf = sgt::io::to_tensor(src.at("t.bf16"), torch::kFloat32);
  EXPECT_TRUE(torch::equal(bf, sgt::io::to_tensor(src.at("t.bf16")).to(torch::kFloat32)));
}

// Zero-copy tensors are the file's read-only mapping (a private writable one of a 29 GB checkpoint is refused by
// the kernel's commit limit): they share the mapped bytes, a copy is writable, and a write into the mapping itself
// faults instead of reaching the file.
TEST_F(SafetensorsParity, ZeroCopyTensorsAreTheReadOnlyMapping) {
  const std::string path = dir_->file("all_dtypes.safetensors");
  auto before = sgt::io::read_text_file(path);
  {
    auto file = sgt::io::SafetensorsFile::open(path);
    const auto& info = file.at("t.f32");
    auto t = sgt::io::to_tensor(file, info);
    EXPECT_EQ(static_cast<const void*>(t.data_ptr()), static_cast<const void*>(file.bytes(info).data()));
    auto copy = t.clone();
    copy.fill_(7.0f);
    EXPECT_EQ(copy[0].item<float>(), 7.0f);
    EXPECT_DEATH(t.fill_(7.0f), "");
  }
  EXPECT_EQ(sgt::io::read_text_file(path), before);
}

TEST(SafetensorsWrite, CppFileLoadsBitExactInPython) {
  TempDir dir("st-write");
  sgt::Rng rng(99);
  std::map<std::string, torch::Tensor> tensors;
  auto gen = [&](std::vector<int64_t> shape) {
    auto t = torch::empty(shape, torch::kFloat64);
    auto* p = t.data_ptr<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.normal() * 4;
    return t;
  };
  const std::vector<torch::ScalarType> types = {
      torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64, torch::kInt32,
      torch::kInt16,   torch::kInt8,    torch::kUInt8,   torch::kBool,     torch::kFloat8_e4m3fn, torch::kFloat8_e5m2,
      torch::kUInt16,  torch::kUInt32,  torch::kUInt64};
  for (size_t i = 0; i < types.size(); ++i) {
    auto base = gen({static_cast<int64_t>(2 + i % 3), 3});
    if (types[i] == torch::kUInt16 || types[i] == torch::kUInt32 || types[i] == torch::kUInt64 ||
        types[i] == torch::kUInt8)
      base = base.abs();
    tensors["w." + std::to_string(i)] = base.to(types[i]);
  }
  tensors["nested.name.with.dots"] = gen({1, 1, 5}).to(torch::kFloat32).transpose(0, 2);  // non-contiguous input
  tensors["empty"] = torch::zeros({0}, torch::kFloat32);
  std::map<std::string, std::string> meta{{"format", "pt"}, {"writer", "sgt"}};
  sgt::io::save_tensors(dir.file("cpp.safetensors"), tensors, meta);

  nlohmann::json expected;
  expected["metadata"] = meta;
  for (const auto& [k, v] : tensors) {
    auto c = v.contiguous();
    expected["tensors"][k] = {
        {"dtype", sgt::io::dtype_name(sgt::io::from_torch_dtype(c.scalar_type()))},
        {"shape", std::vector<int64_t>(c.sizes().begin(), c.sizes().end())},
        {"hex", to_hex({static_cast<const uint8_t*>(c.data_ptr()), static_cast<size_t>(c.nbytes())})}};
  }
  std::ofstream(dir.file("expected.json")) << expected.dump();
  auto r = sgt::testing::run_python_tool("safetensors_ref.py",
                                         {"check", dir.file("cpp.safetensors"), dir.file("expected.json")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // And back through our reader.
  auto again = sgt::io::load_tensors(dir.file("cpp.safetensors"));
  for (const auto& [k, v] : tensors) EXPECT_TRUE(torch::equal(again.at(k), v.contiguous())) << k;
}

TEST(SafetensorsWrite, RejectsBadInputWithoutTouchingTheTarget) {
  TempDir dir("st-bad");
  const std::string path = dir.file("x.safetensors");
  sgt::io::save_tensors(path, {{"a", torch::ones({2})}});
  auto before = sgt::io::read_text_file(path);
  std::vector<uint8_t> bytes(3);
  EXPECT_THROW(sgt::io::write_safetensors(path, {{"a", sgt::io::DType::kF32, {2}, bytes}}), sgt::Error);
  EXPECT_THROW(sgt::io::write_safetensors(path, {{"a", sgt::io::DType::kU8, {3}, bytes}, {"a", sgt::io::DType::kU8, {3}, bytes}}),
               sgt::Error);
  EXPECT_EQ(sgt::io::read_text_file(path), before);
  EXPECT_THROW(sgt::io::save_tensors(path, {{"c", torch::ones({2}, torch::kComplexFloat)}}), sgt::Error);
  EXPECT_EQ(sgt::io::read_text_file(path), before);
  // No temporary files left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

}  // namespace
