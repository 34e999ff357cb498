// Loading in bounded memory (#17): the parameter layers equal libtorch's own (names, draws, outputs); a module
// built in a ParamScope without initialisation costs no host memory; the real 7B release (its 1223 names and
// shapes from the model's own schema, bf16, real-form configs) opens zero-copy from a sparse file whose data
// section is a hole, with the generation expert skipped for understanding; transformers' config keys are
// accepted or refused by name; an HF-style config.json is read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "io/state_dict.h"
#include "model/embeddings.h"
#include "model/layers.h"
#include "model/registry.h"
#include "model/schema.h"
#include "model_test_util.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::model;

namespace {

// Anonymous (non-file) resident memory of this process, from /proc/self/status (bytes).
int64_t rss_anon() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "RssAnon:") {
      int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::getline(in, key);
  }
  return -1;
}
constexpr int64_t kGiB = int64_t{1} << 30;

// llm_config.json and vit_config.json as the BAGEL-7B-MoT release ships them (Qwen2.5-7B-Instruct's config as
// transformers writes it; the 205-byte SigLIP config).
const char* kLlmConfig = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
  "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2",
  "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 152064})";
const char* kVitConfig = R"({"hidden_size": 1152, "image_size": 980, "intermediate_size": 4304,
  "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14})";

// A safetensors file of the given tensors (bf16) whose data section is a hole (truncate), except the two sin-cos
// tables, which are written (the loader checks them against the formula).
void write_sparse_checkpoint(const std::string& path, const std::vector<TensorSpec>& specs) {
  config::Json header = config::Json::object();
  uint64_t off = 0;
  std::map<std::string, std::pair<uint64_t, TensorSpec>> at;
  for (const auto& s : specs) {
    const uint64_t n = static_cast<uint64_t>(s.numel()) * 2;
    header[s.name] = {{"dtype", "BF16"}, {"shape", s.shape}, {"data_offsets", {off, off + n}}};
    at.emplace(s.name, std::make_pair(off, s));
    off += n;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h += ' ';
  {
    std::ofstream f(path, std::ios::binary);
    const uint64_t len = h.size();
    f.write(reinterpret_cast<const char*>(&len), 8);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
  }
  const uint64_t data0 = 8 + h.size();
  std::filesystem::resize_file(path, data0 + off);  // the hole
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (const char* name : {"latent_pos_embed.pos_embed", "vit_pos_embed.pos_embed"}) {
    auto it = at.find(name);
    if (it == at.end()) continue;
    const auto& [o, spec] = it->second;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(spec.shape[0]))));
    auto table = sincos_2d_table(side, spec.shape[1]).to(torch::kBFloat16).contiguous();
    ASSERT_EQ(::pwrite(fd, table.data_ptr(), table.numel() * 2, static_cast<off_t>(data0 + o)),
              table.numel() * 2);
  }
  ::close(fd);
}

// A BAGEL-7B-MoT folder on disk: real configs, the 7B schema's ema.safetensors as a sparse file.
void write_sparse_release(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/llm_config.json") << kLlmConfig;
  std::ofstream(dir + "/vit_config.json") << kVitConfig;
  write_sparse_checkpoint(dir + "/ema.safetensors", bagel_tensor_schema(bagel_7b_config()));
}

}  // namespace

// Our layers against libtorch's: same seed -> identical tensors, identical outputs.
TEST(ModelLayers, EqualLibtorchLayersDrawForDraw) {
  for (bool bias : {true, false}) {
    torch::manual_seed(11);
    torch::nn::Linear theirs(torch::nn::LinearOptions(7, 5).bias(bias));
    torch::manual_seed(11);
    Linear ours(7, 5, bias);
    EXPECT_TRUE(torch::equal(theirs->weight, ours->weight));
    EXPECT_EQ(ours->bias.defined(), bias);
    if (bias) EXPECT_TRUE(torch::equal(theirs->bias, ours->bias));
    auto x = torch::randn({3, 7});
    EXPECT_TRUE(torch::equal(theirs(x), ours(x)));
  }
  torch::manual_seed(5);
  torch::nn::Embedding te(10, 4);
  torch::manual_seed(5);
  Embedding oe(10, 4);
  EXPECT_TRUE(torch::equal(te->weight, oe->weight));
  auto ids = torch::tensor({3, 0, 9}, torch::kInt64);
  EXPECT_TRUE(torch::equal(te(ids), oe(ids)));
  torch::nn::LayerNorm tl(torch::nn::LayerNormOptions({6}).eps(1e-6));
  LayerNorm ol(6, 1e-6);
  auto y = torch::randn({2, 6}) * 3 + 1;
  EXPECT_TRUE(torch::equal(tl(y), ol(y)));
  std::vector<std::string> names;
  for (auto& p : Linear(2, 3)->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias"}));
}

// In a ParamScope without initialisation, the whole 7B module (14.6 B parameters, 29 GB in bf16) is built in
// bf16 without touching its pages: no fp32 host copy, almost no resident memory.
TEST(ModelLayers, SevenBBuildsUntouchedInTheScopesDtype) {
  const auto before = rss_anon();
  ASSERT_GT(before, 0);
  const BagelConfig c = bagel_7b_config();
  Bagel m{nullptr};
  {
    ParamScope scope({torch::TensorOptions().dtype(torch::kBFloat16), /*initialise=*/false});
    m = Bagel(c);
  }
  int64_t n = 0;
  for (auto& p : m->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
    n += p.numel();
  }
  EXPECT_EQ(n, total_numel(bagel_tensor_schema(c)));
  EXPECT_GT(n, 14'000'000'000);
  EXPECT_LT(rss_anon() - before, kGiB) << "resident growth building 7B untouched";
  // outside the scope the defaults are back: fp32, initialised
  EXPECT_EQ(Linear(2, 2)->weight.scalar_type(), torch::kFloat32);
}

// The real 7B release, zero-copy from a sparse file: understanding-only skips the generation expert (it is not
// built: about half the tensors), both forms stay within 2 GB of anonymous memory.
TEST(ModelLoading, SevenBReleaseOpensZeroCopyInBoundedMemory) {
  const char* keep = std::getenv("SGT_SPARSE_RELEASE_DIR");  // set: leave the folder there (docs/benchmarks.md)
  sgt::testing::TempDir tmp("sparse7b");
  const std::string dir = keep ? std::string(keep) : tmp.path() + "/BAGEL-7B-MoT";
  write_sparse_release(dir);
  const auto schema = bagel_tensor_schema(bagel_7b_config());
  EXPECT_EQ(schema.size(), 1223u);
  const auto before = rss_anon();
  {
    OpenOptions o;
    o.dtype = torch::kBFloat16;
    o.zero_copy = true;
    o.generation = false;
    auto l = open(ModelSource{dir, "", ""}, o);
    EXPECT_FALSE(l.config.visual_gen);
    EXPECT_FALSE(l.config.llm.mot());
    int64_t tensors = 0;
    for (auto& p : l.model->parameters()) {
      (void)p;
      ++tensors;
    }
    int64_t gen = 0;
    for (const auto& s : schema) {
      for (const auto& pat : generation_tensor_patterns()) {
        if (io::glob_match(pat, s.name)) {
          ++gen;
          break;
        }
      }
    }
    EXPECT_EQ(tensors, static_cast<int64_t>(schema.size()) - gen);
    EXPECT_GT(gen, 400);
    auto w = l.model->language_model->model->embed_tokens->weight;
    EXPECT_EQ(w.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(w.abs().sum().item<double>(), 0.0);  // the hole reads as zeros
    EXPECT_LT(rss_anon() - before, 2 * kGiB);
  }
  {
    OpenOptions o;
    o.dtype = torch::kBFloat16;
    o.zero_copy = true;
    auto l = open(ModelSource{dir, "", ""}, o);
    EXPECT_TRUE(l.config.llm.mot());
    EXPECT_EQ(static_cast<int64_t>(l.model->parameters().size()), static_cast<int64_t>(schema.size()));
    EXPECT_LT(rss_anon() - before, 2 * kGiB);
  }
}

// A too-small file (the header promises more bytes than there are) is one clear error naming the file.
TEST(ModelLoading, TruncatedReleaseIsOneClearError) {
  sgt::testing::TempDir tmp("trunc7b");
  const std::string dir = tmp.path() + "/B";
  write_sparse_release(dir);
  std::filesystem::resize_file(dir + "/ema.safetensors", 1 << 20);
  const auto msg = sgt::testing::error_message([&] { open(ModelSource{dir, "", ""}, OpenOptions{}); });
  EXPECT_NE(msg.find("ema.safetensors"), std::string::npos) << msg;
}

// From the command line: running out of memory (here a 6 GiB address-space limit, far below what 7B needs), weights
// that are a pipe (opening one must not wait for a writer) or a directory: one "sgt: error:" line each, exit 1.
TEST(ModelLoading, CliOutOfMemoryAndUnmappableWeightsAreOneLine) {
  sgt::testing::TempDir tmp("cli7b");
  const std::string dir = tmp.path() + "/B";
  write_sparse_release(dir);
  const std::string sgt = sgt::testing::shell_quote(sgt::testing::binary_dir() + "/bin/sgt");
  auto chat = [&](const std::string& prefix) {
    return sgt::testing::run_command(prefix + "timeout 120 " + sgt + " --log-level error chat --model " +
                                     sgt::testing::shell_quote(dir) + " -q hi --max-length 2 --dtype bfloat16 2>&1");
  };
  auto expect_one_line = [](const sgt::testing::ProcessResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(sgt::testing::error_lines(r.output).size(), 1u) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect_one_line(chat("ulimit -v " + std::to_string(6 << 20) + "; "), "memory");
  std::filesystem::remove(dir + "/ema.safetensors");
  ASSERT_EQ(::mkfifo((dir + "/ema.safetensors").c_str(), 0600), 0);
  expect_one_line(chat(""), "not a regular file (a pipe)");
  std::filesystem::remove(dir + "/ema.safetensors");
  std::filesystem::create_directory(dir + "/ema.safetensors");
  expect_one_line(chat(""), "ema.safetensors");
}

// transformers' keys: the math-free ones are accepted, the others named.
TEST(ModelConfig, TransformersKeysAcceptedOrNamed) {
  auto base = config::parse(kLlmConfig, "llm");
  auto c = llm_config_from_json(base, "llm");
  EXPECT_EQ(c.hidden_size, 3584);
  auto j = base;
  j["dtype"] = "bfloat16";
  j["pad_token_id"] = nullptr;
  j["_attn_implementation"] = "sdpa";
  j["layer_types"] = config::Json::array({"full_attention", "full_attention"});
  j["is_causal"] = true;
  j["use_moe"] = false;
  j["sliding_window"] = nullptr;
  j["eos_token_id"] = {151645, 151643};
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
  EXPECT_EQ(llm_config_from_json(j, "llm").rope_theta, 5e5);
  auto refused = [&](const char* key, config::Json value) {
    auto k = base;
    k[key] = value;
    const auto msg = sgt::testing::error_message([&] { llm_config_from_json(k, "llm_config.json"); });
    EXPECT_NE(msg.find(std::string("\"") + key + "\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("llm_config.json"), std::string::npos) << msg;
  };
  refused("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}});
  refused("rope_parameters", {{"rope_type", "linear"}, {"factor", 2.0}});
  refused("use_sliding_window", true);
  refused("layer_types", config::Json::array({"sliding_attention"}));
  refused("use_moe", true);
  auto v = config::parse(kVitConfig, "vit");
  v["rope"] = true;  // BAGEL's code sets rope = False itself
  v["torch_dtype"] = "bfloat16";
  v["dtype"] = "bfloat16";
  EXPECT_EQ(vit_config_from_json(v, "vit").num_hidden_layers, 27);
  v["num_experts"] = 2;  // unknown: named
  EXPECT_NE(sgt::testing::error_message([&] { vit_config_from_json(v, "vit"); }).find("num_experts"),
            std::string::npos);
}

// The HF-style top-level config.json (llm_config / vit_config objects) is a release folder as well.
TEST(ModelConfig, TopLevelConfigJsonIsAFolderConfig) {
  sgt::testing::TempDir tmp("topcfg");
  config::Json j = {{"architectures", {"BagelForConditionalGeneration"}}, {"model_type", "bagel"},
                    {"llm_config", config::parse(kLlmConfig, "llm")},
                    {"vit_config", config::parse(kVitConfig, "vit")}, {"max_latent_size", 64},
                    {"vae_config", {{"z_channels", 16}, {"downsample", 8}}}, {"timestep_shift", 1.0},
                    {"torch_dtype", "bfloat16"}};
  std::ofstream(tmp.file("config.json")) << j.dump();
  EXPECT_TRUE(has_bagel_config(tmp.path()));
  const auto c = bagel_config_from_folder(tmp.path());
  const auto ref = bagel_7b_config();
  EXPECT_EQ(bagel_tensor_schema(c).size(), bagel_tensor_schema(ref).size());
  EXPECT_EQ(total_numel(bagel_tensor_schema(c)), total_numel(bagel_tensor_schema(ref)));
  EXPECT_EQ(c.vit.num_hidden_layers, 26);
  EXPECT_EQ(c.llm.eos_token_id, 151645);
  j["vae_config"]["z_channels"] = 32;
  std::ofstream(tmp.file("config.json")) << j.dump();
  EXPECT_NE(sgt::testing::error_message([&] { bagel_config_from_folder(tmp.path()); }).find("vae_config"),
            std::string::npos);
  j["vae_config"]["z_channels"] = 16;
  j["mystery"] = 1;
  std::ofstream(tmp.file("config.json")) << j.dump();
  EXPECT_NE(sgt::testing::error_message([&] { bagel_config_from_folder(tmp.path()); }).find("mystery"),
            std::string::npos);
}
