// A corpus of malformed safetensors files: each one gives a clear sgt::Error, never a crash or an
// out-of-bounds read (the fuzz target in fuzz/ explores the rest).
#include <gtest/gtest.h>

#include "core/error.h"

#include <cstring>
#include <fstream>

#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "testing/testing.h"

namespace {

std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, uint64_t declared_len = ~0ULL) {
  uint64_t n = declared_len == ~0ULL ? header.size() : declared_len;
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0xAB);
  return out;
}

struct Case {
  const char* label;
  std::vector<uint8_t> bytes;
  const char* expect;  // substring of the error message
};

std::vector<Case> corpus() {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<Case> c;
  c.push_back({"empty file", {}, "fewer than the 8-byte header"});
  c.push_back({"short file", {1, 2, 3}, "fewer than the 8-byte header"});
  c.push_back({"header past end", make_file(ok, 8, 4096), "runs past the end"});
  c.push_back({"huge header length", make_file(ok, 8, 1ULL << 62), "runs past the end"});
  {
    auto big = make_file(std::string(100'000'008, ' '), 0);
    c.push_back({"header over limit", big, "exceeds"});
  }
  c.push_back({"truncated data", make_file(ok, 4), "run past the data region"});
  c.push_back({"bad json", make_file(R"({"a":{"dtype":"F32",)", 8), "malformed JSON"});
  c.push_back({"not an object", make_file(R"([1,2,3])", 0), "not a JSON object"});
  c.push_back({"unknown dtype", make_file(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
               "unsupported dtype 'F128'"});
  c.push_back({"offsets past end", make_file(R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]}})", 10),
               "run past the data region"});
  c.push_back({"reversed offsets", make_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 10),
               "reversed"});
  c.push_back({"shape size mismatch", make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "needs 12 bytes but data_offsets span 8"});
  c.push_back({"shape overflow",
               make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
               "data_offsets span 8"});
  c.push_back({"negative dim", make_file(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1),
               "non-negative integer"});
  c.push_back({"negative offset", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
               "non-negative integer"});
  c.push_back({"overlapping spans",
               make_file(R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},)"
                         R"("b":{"dtype":"U8","shape":[6],"data_offsets":[4,10]}})",
                         10),
               "overlap"});
  c.push_back({"missing offsets", make_file(R"({"a":{"dtype":"U8","shape":[1]}})", 1), "data_offsets"});
  c.push_back({"three offsets", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 2),
               "data_offsets"});
  c.push_back({"shape not array", make_file(R"({"a":{"dtype":"U8","shape":3,"data_offsets":[0,3]}})", 3),
               "no shape array"});
  c.push_back({"float offset", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.5]}})", 2),
               "non-negative integer"});
  c.push_back({"unknown field", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
               "unknown field 'x'"});
  c.push_back({"metadata not strings", make_file(R"({"__metadata__":{"k":1}})", 0), "__metadata__[k]"});
  c.push_back({"tensor not object", make_file(R"({"a":5})", 0), "is not an object"});
  return c;
}

TEST(SafetensorsMalformed, EveryCaseGivesItsClearError) {
  for (auto& c : corpus()) {
    SCOPED_TRACE(c.label);
    try {
      sgt::io::SafetensorsFile::from_mapping(sgt::io::MappedFile::from_bytes(c.bytes, std::string("bad/") + c.label));
      ADD_FAILURE() << "no error for " << c.label;
    } catch (const sgt::Error& e) {
      EXPECT_EQ(e.component(), "safetensors");
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::string("bad/") + c.label), std::string::npos) << e.what();
    }
  }
}

TEST(SafetensorsMalformed, SameErrorsFromDiskAndValidFileStillLoads) {
  sgt::testing::TempDir dir("st-malformed");
  for (auto& c : corpus()) {
    if (c.bytes.size() > 1'000'000) continue;
    std::string path = dir.file(std::string("case.safetensors"));
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size());
    EXPECT_THROW(sgt::io::SafetensorsFile::open(path), sgt::Error) << c.label;
  }
  auto good = make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})", 8);
  auto f = sgt::io::SafetensorsFile::from_mapping(sgt::io::MappedFile::from_bytes(good, "good"));
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.at("a").numel(), 2);
  EXPECT_THROW(f.at("missing"), sgt::Error);
  EXPECT_THROW(sgt::io::SafetensorsFile::open(dir.file("does-not-exist")), sgt::Error);
  EXPECT_THROW(sgt::io::SafetensorsFile::open(dir.path()), sgt::Error);  // a folder
}

TEST(TensorSourceErrors, BrokenIndexesAreReported) {
  sgt::testing::TempDir dir("st-index");
  auto good = make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  std::ofstream(dir.file("s1.safetensors"), std::ios::binary).write(reinterpret_cast<const char*>(good.data()), good.size());
  std::ofstream(dir.file("s2.safetensors"), std::ios::binary).write(reinterpret_cast<const char*>(good.data()), good.size());
  // duplicate tensor across shards
  EXPECT_THROW(sgt::io::TensorSource::open(dir.path()), sgt::Error);
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir.file(name)) << text; };
  write("a.index.json", R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  EXPECT_THROW(sgt::io::TensorSource::open(dir.file("a.index.json")), sgt::Error);  // b not in shard
  write("b.index.json", R"({"weight_map": {"a": "../s1.safetensors"}})");
  EXPECT_THROW(sgt::io::TensorSource::open(dir.file("b.index.json")), sgt::Error);  // path escape
  write("c.index.json", R"({"weight_map": [1]})");
  EXPECT_THROW(sgt::io::TensorSource::open(dir.file("c.index.json")), sgt::Error);
  write("d.index.json", R"({"weight_map": {"a": "s1.safetensors"})");
  EXPECT_THROW(sgt::io::TensorSource::open(dir.file("d.index.json")), sgt::Error);  // malformed json
  write("e.index.json", R"({"weight_map": {"a": "s1.safetensors"}})");
  auto ok = sgt::io::TensorSource::open(dir.file("e.index.json"));
  EXPECT_EQ(ok.size(), 1u);
}

}  // namespace
