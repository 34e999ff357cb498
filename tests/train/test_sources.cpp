// Training sources in every layout (docs/data.md, "Sources"), built by tools/sources_ref.py: SAM-SGT file lists,
// the same pairs as tar shards (mask members or a mask folder), extracted SA-1B folders, LLaVA JSON arrays / JSONL
// (multi-turn, several images, text-only) and depth files, each decoded through the loader and mixed by the Mixer.
// SGT targets are checked against PIL (BAGEL data/sam_190k.py), CE positions against BAGEL's vlm_sft packing.
#include <gtest/gtest.h>

#include <algorithm>
#include <any>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "data/image.h"
#include "data/loader.h"
#include "testing/testing.h"
#include "train/mixer.h"
#include "train/samples.h"
#include "train/trainer.h"
#include "model/registry.h"

using namespace sgt;

namespace {

constexpr int64_t kVit = 42, kVae = 48;

const std::string& ref_dir() {
  static sgt::testing::TempDir dir("train_sources");
  static bool made = false;
  if (!made) {
    auto r = sgt::testing::run_python_tool("sources_ref.py", {"write", dir.path(), std::to_string(kVit),
                                                              std::to_string(kVae)});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    made = true;
  }
  return dir.path();
}

std::shared_ptr<const text::Tokenizer> tokenizer() {
  static auto tok = std::make_shared<const text::Tokenizer>(
      text::Tokenizer::load(sgt::testing::asset("qwen-tokenizer/tokenizer.json")));
  return tok;
}

train::ImageSizes sizes() {
  train::ImageSizes s;
  s.vit_side = kVit;
  s.vae_side = kVae;
  return s;
}

struct Decoded {
  std::map<std::string, train::TrainSample> samples;  // by key
  data::BadSampleCounter bad;
  std::vector<std::string> bad_messages;
};

// One pass over a source through the loader and its SampleDecoder; bad samples are collected, not thrown.
void decode_all(const train::SourceConfig& src, Decoded& out) {
  train::SampleDecoder dec(src, 0, sizes(), tokenizer());
  data::LoaderConfig lc;
  lc.shards = src.shards;
  lc.format = src.format;
  lc.records_per_unit = 2;
  lc.mask_shards = src.mask_shards;
  lc.epochs = 1;
  data::Loader loader(lc);
  while (auto s = loader.next()) {
    auto raw = std::any_cast<data::WdsSample>(s->value);
    Rng rng = Rng::derive(1, hash64(raw.key));
    try {
      out.samples.emplace(raw.key, dec.decode(raw, rng));
    } catch (const std::exception& e) {
      out.bad.record(e);
      out.bad_messages.push_back(s->url + ":" + s->key + ": " + e.what());
    }
  }
  // Units the loader skipped itself (an unreadable shard, a mask tar out of step).
  for (int r = 0; r < static_cast<int>(data::BadSampleReason::kCount); ++r)
    out.bad.add(static_cast<data::BadSampleReason>(r), loader.bad_samples().count(static_cast<data::BadSampleReason>(r)));
}

train::SourceConfig sgt_source(const std::string& name, data::SourceFormat format, std::vector<std::string> shards) {
  train::SourceConfig s;
  s.name = name;
  s.kind = train::SourceKind::kProxy;
  s.format = format;
  s.shards = std::move(shards);
  s.task.mask_resize = data::MaskResize::kBicubic;  // SGT's loader (PIL resize)
  return s;
}

// The segmentation target of every SAM-SGT pair equals PIL's (bicubic to the image, nearest to vae_side).
void expect_sgt_targets(const Decoded& d, const std::string& what) {
  ASSERT_EQ(d.samples.size(), 6u) << what << ": " << d.bad.summary();
  for (const auto& [key, s] : d.samples) {
    const auto expected = data::read_file_bytes(ref_dir() + "/expected/" + key + ".target.raw");
    ASSERT_EQ(s.images.size(), 2u);
    const auto& t = s.images[1];
    ASSERT_EQ(t.width, kVae);
    ASSERT_EQ(t.channels, 3);
    int worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(t.pixels[i] - expected[i]));
    EXPECT_LE(worst, 1) << what << " " << key;
    EXPECT_EQ(s.images[0].width, kVit);
    EXPECT_FALSE(s.text.empty()) << "an instruction is drawn";
    ASSERT_EQ(s.plan.items.size(), 3u);
    EXPECT_TRUE(s.plan.items[2].loss) << "MSE on the target";
  }
}

}  // namespace

TEST(TrainSources, SamSgtListAndShardsGiveThePilTargets) {
  const std::string d = ref_dir();
  {
    Decoded out;
    decode_all(sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/sgt/file_names/list.txt"}), out);
    expect_sgt_targets(out, "absolute list");
  }
  {
    auto src = sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/sgt/file_names/relative.txt"});
    src.image_root = d + "/sgt";
    Decoded out;
    decode_all(src, out);
    expect_sgt_targets(out, "list relative to image_root");
  }
  {
    Decoded out;
    decode_all(sgt_source("sgt", data::SourceFormat::kWebdataset, {d + "/sgt-000000.tar"}), out);
    expect_sgt_targets(out, "tar with mask.png members");
  }
  {
    auto src = sgt_source("sgt", data::SourceFormat::kWebdataset, {d + "/sgt-images-000000.tar"});
    src.mask_root = d + "/masks_flat";
    Decoded out;
    decode_all(src, out);
    expect_sgt_targets(out, "tar with a mask folder");
  }
  {
    auto src = sgt_source("sgt", data::SourceFormat::kWebdataset, {d + "/sgt-images-000000.tar"});
    src.mask_shards = {d + "/sgt-masks-000000.tar"};
    Decoded out;
    decode_all(src, out);
    expect_sgt_targets(out, "tar with its mask tar");
  }
  // nearest instead of bicubic: only flat colours of the mask remain (no blended edge colours).
  auto src = sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/sgt/file_names/list.txt"});
  src.task.mask_resize = data::MaskResize::kNearest;
  Decoded nearest;
  decode_all(src, nearest);
  ASSERT_EQ(nearest.samples.size(), 6u);
  const auto mask = data::convert_channels(data::read_image(d + "/sgt/sam_mask/sa_2.png"), 3);
  std::set<std::array<uint8_t, 3>> colours, produced;
  for (size_t i = 0; i < mask.pixels.size(); i += 3) colours.insert({mask.pixels[i], mask.pixels[i + 1], mask.pixels[i + 2]});
  const auto& t = nearest.samples.at("sa_2").images[1];
  for (size_t i = 0; i < t.pixels.size(); i += 3) produced.insert({t.pixels[i], t.pixels[i + 1], t.pixels[i + 2]});
  for (const auto& c : produced) EXPECT_TRUE(colours.count(c)) << "nearest made a colour the mask does not have";
}

TEST(TrainSources, SamSgtBadInputsAreCountedWithTheirPaths) {
  const std::string d = ref_dir();
  Decoded out;
  decode_all(sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/sgt/file_names/missing_mask.txt"}), out);
  EXPECT_EQ(out.samples.size(), 1u);
  ASSERT_EQ(out.bad_messages.size(), 1u);
  EXPECT_NE(out.bad_messages[0].find("sa_99.jpg (listed in " + d + "/sgt/file_names/missing_mask.txt) does not exist"),
            std::string::npos)
      << out.bad_messages[0];
  Decoded nomask;
  decode_all(sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/nomask/list.txt"}), nomask);
  ASSERT_EQ(nomask.bad_messages.size(), 1u);
  EXPECT_NE(nomask.bad_messages[0].find("target mask " + d + "/nomask/sam_mask/sa_50.png of image"), std::string::npos)
      << nomask.bad_messages[0];
  EXPECT_EQ(nomask.bad.count(data::BadSampleReason::kMissingField), 1);
  // A mask tar out of step (sa_3 missing): sa_1 and sa_2 load, the rest of the shard is one bad sample.
  {
    auto src = sgt_source("sgt", data::SourceFormat::kWebdataset, {d + "/sgt-images-000000.tar"});
    src.mask_shards = {d + "/sgt-masks-bad-000000.tar"};
    Decoded out;
    decode_all(src, out);
    EXPECT_EQ(out.samples.size(), 2u);
    EXPECT_EQ(out.bad.count(data::BadSampleReason::kMissingField), 1) << out.bad.summary();
    src.mask_shards = {d + "/sgt-masks-000000.tar", d + "/sgt-masks-000000.tar"};
    EXPECT_NE(sgt::testing::error_message([&] { decode_all(src, out); }).find("2 mask shards for 1 shards"),
              std::string::npos);
  }
  // reject: a mask of another size is a size mismatch.
  auto src = sgt_source("sgt", data::SourceFormat::kSgtList, {d + "/sgt/file_names/list.txt"});
  src.task.mask_resize = data::MaskResize::kReject;
  Decoded rejected;
  decode_all(src, rejected);
  EXPECT_EQ(rejected.samples.size(), 2u);  // sa_1 and sa_4 have masks at the image size
  EXPECT_EQ(rejected.bad.count(data::BadSampleReason::kSizeMismatch), 4);
}

TEST(TrainSources, Sa1bFolderRendersItsMasks) {
  auto src = sgt_source("sa1b", data::SourceFormat::kSa1bFolder, {ref_dir() + "/sa1b"});
  Decoded out;
  decode_all(src, out);
  ASSERT_EQ(out.samples.size(), 3u) << out.bad.summary();
  for (const auto& [key, s] : out.samples) {
    // Two instances on black: the target holds black and two distinct colours.
    std::set<std::array<uint8_t, 3>> colours;
    const auto& t = s.images[1];
    for (size_t i = 0; i < t.pixels.size(); i += 3) colours.insert({t.pixels[i], t.pixels[i + 1], t.pixels[i + 2]});
    EXPECT_EQ(colours.size(), 3u) << key;
    EXPECT_TRUE(colours.count({0, 0, 0})) << key;
  }
}

TEST(TrainSources, DepthFilesNextToTheImageAreTheTarget) {
  for (const char* suffix : {".depth.png", ".npy"}) {
    auto src = sgt_source("depth", data::SourceFormat::kSgtList, {ref_dir() + "/sgt/file_names/list.txt"});
    src.task.task = data::ProxyTaskKind::kDepth;
    src.depth_suffix = suffix;
    Decoded out;
    decode_all(src, out);
    ASSERT_EQ(out.samples.size(), 6u) << suffix << " " << out.bad.summary();
    // The depth ramp grows with x + y (farther), near = bright: the top-left corner is white, bottom-right black.
    const auto& t = out.samples.at("sa_3").images[1];
    EXPECT_GE(t.at(0, 0)[0], 250) << suffix;
    EXPECT_LE(t.at(kVae - 1, kVae - 1)[0], 5) << suffix;
  }
  auto src = sgt_source("depth", data::SourceFormat::kSgtList, {ref_dir() + "/sgt/file_names/list.txt"});
  src.task.task = data::ProxyTaskKind::kDepth;
  src.depth_suffix = ".missing.png";
  Decoded out;
  decode_all(src, out);
  EXPECT_EQ(out.samples.size(), 0u);
  ASSERT_FALSE(out.bad_messages.empty());
  EXPECT_NE(out.bad_messages[0].find(".missing.png of image"), std::string::npos) << out.bad_messages[0];
  src.depth_suffix = ".exr";
  EXPECT_THROW(src.validate(), sgt::Error);
}

// Multi-turn CE: every assistant turn, nothing on user turns, images where the placeholders are, text-only records,
// records with nothing to learn skipped; positions and labels as BAGEL packs the sample alone.
TEST(TrainSources, LlavaCePositionsFollowBagelVlmSft) {
  const std::string d = ref_dir();
  auto r = sgt::testing::run_python_tool(
      "sources_ref.py", {"plan", d + "/llava.jsonl", sgt::testing::asset("qwen-tokenizer/tokenizer.json"),
                         std::to_string(kVit), "14"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ref = nlohmann::json::parse(r.output);
  using F = data::SourceFormat;
  // The parquet forms hold the same records with the image bytes inside (conversations as structs, or as JSON
  // strings); their rows must give the same packs.
  const std::vector<std::pair<F, std::string>> forms = {{F::kLlavaJsonl, "/llava.jsonl"},
                                                        {F::kLlavaJson, "/llava.json"},
                                                        {F::kLlavaParquet, "/llava.parquet"},
                                                        {F::kLlavaParquet, "/llava_strings.parquet"}};
  for (const auto& [format, file] : forms) {
    SCOPED_TRACE(file);
    const bool array = format != F::kLlavaJsonl;
    const char* unit = format == F::kLlavaParquet ? "row" : "record";  // decode_all: 2 rows per unit, across groups
    train::SourceConfig src;
    src.name = "vqa";
    src.kind = train::SourceKind::kVqa;
    src.format = format;
    src.shards = {d + file};
    src.image_root = d + "/llava_images";
    Decoded out;
    decode_all(src, out);
    int checked = 0;
    for (const auto& [line, want] : ref.items()) {
      // The JSONL has record i on line i + 1.
      const std::string key = array ? fmt::format("{} {}", unit, std::stoi(line) - 1) : "line " + line;
      if (want.is_null()) {
        EXPECT_EQ(out.samples.count(key), 0u) << key << ": no assistant text, skipped as BAGEL does";
        continue;
      }
      ASSERT_EQ(out.samples.count(key), 1u) << key << " " << fmt::format("{}", fmt::join(out.bad_messages, "; "));
      const auto& s = out.samples.at(key);
      data::Pack pack;
      data::PackingConfig pc;
      Rng rng(3);
      data::append_sample(pack, s.plan, pc, rng);
      EXPECT_EQ(pack.ce_loss_indexes, want["ce"].get<std::vector<int64_t>>()) << key;
      EXPECT_EQ(pack.label_ids, want["labels"].get<std::vector<int64_t>>()) << key;
      EXPECT_EQ(pack.text_ids, want["text_ids"].get<std::vector<int64_t>>()) << key;
      EXPECT_EQ(pack.length(), want["length"].get<int64_t>()) << key;
      ++checked;
    }
    EXPECT_EQ(checked, 4);
    EXPECT_EQ(out.bad.count(data::BadSampleReason::kBadText), 1) << "the record without an answer";
    EXPECT_TRUE(out.samples.at(array ? fmt::format("{} 2", unit) : "line 3").images.empty()) << "text-only";
    EXPECT_EQ(out.samples.at(array ? fmt::format("{} 3", unit) : "line 4").images.size(), 2u);
  }
  // The same records as webdataset samples (json member + image member).
  train::SourceConfig wds;
  wds.name = "vqa";
  wds.kind = train::SourceKind::kVqa;
  wds.shards = {d + "/llava-000000.tar"};
  Decoded out;
  decode_all(wds, out);
  ASSERT_EQ(out.samples.size(), 3u) << out.bad.summary();
  data::Pack pack;
  Rng rng(3);
  data::append_sample(pack, out.samples.at("s1").plan, data::PackingConfig{}, rng);
  EXPECT_EQ(pack.ce_loss_indexes, ref["2"]["ce"].get<std::vector<int64_t>>());
}

TEST(TrainSources, LlavaBadInputsNameFileAndRecord) {
  const std::string d = ref_dir();
  train::SourceConfig src;
  src.name = "vqa";
  src.kind = train::SourceKind::kVqa;
  src.format = data::SourceFormat::kLlavaJsonl;
  src.shards = {d + "/bad.jsonl"};
  src.image_root = d + "/llava_images";
  Decoded out;
  decode_all(src, out);
  EXPECT_EQ(out.samples.size(), 2u);
  ASSERT_EQ(out.bad_messages.size(), 2u);
  std::sort(out.bad_messages.begin(), out.bad_messages.end());
  EXPECT_NE(out.bad_messages[0].find(d + "/bad.jsonl:line 2: [llava] " + d + "/bad.jsonl:line 2: invalid JSON"),
            std::string::npos)
      << out.bad_messages[0];
  EXPECT_NE(out.bad_messages[1].find(d + "/bad.jsonl:line 3:"), std::string::npos) << out.bad_messages[1];
  EXPECT_NE(out.bad_messages[1].find("image " + d + "/llava_images/coco/404.jpg does not exist"), std::string::npos)
      << out.bad_messages[1];
  EXPECT_EQ(out.bad.count(data::BadSampleReason::kBadJson), 1);
  EXPECT_EQ(out.bad.count(data::BadSampleReason::kMissingField), 1);
  // A truncated array is refused before training, naming the file.
  src.format = data::SourceFormat::kLlavaJson;
  src.shards = {d + "/truncated.json"};
  Decoded none;
  EXPECT_NE(sgt::testing::error_message([&] { decode_all(src, none); }).find(d + "/truncated.json is truncated"),
            std::string::npos);
  // LLaVA's JSON array given to a proxy (SA-1B) source, or as a webdataset shard: refused with the fix.
  src.shards = {d + "/llava.json"};
  src.kind = train::SourceKind::kProxy;
  EXPECT_NE(sgt::testing::error_message([&] { src.validate(); }).find("format llava_json needs kind vqa"),
            std::string::npos);
  src.format = data::SourceFormat::kWebdataset;
  EXPECT_NE(sgt::testing::error_message([&] { decode_all(src, none); }).find("set the source's format"),
            std::string::npos);
  // Parquet: a truncated file is refused naming it; a file without conversations makes every row a bad sample.
  src.kind = train::SourceKind::kVqa;
  src.format = data::SourceFormat::kLlavaParquet;
  src.shards = {d + "/truncated.parquet"};
  EXPECT_NE(sgt::testing::error_message([&] { decode_all(src, none); }).find(d + "/truncated.parquet"),
            std::string::npos);
  src.shards = {d + "/no_conversations.parquet"};
  Decoded rows;
  decode_all(src, rows);
  EXPECT_TRUE(rows.samples.empty());
  EXPECT_EQ(rows.bad.count(data::BadSampleReason::kMissingField), 5);
  ASSERT_FALSE(rows.bad_messages.empty());
  std::sort(rows.bad_messages.begin(), rows.bad_messages.end());
  EXPECT_NE(rows.bad_messages[0].find("row 0: no \"conversations\" column"), std::string::npos) << rows.bad_messages[0];
}

// Both list formats mixed into packed micro-batches, and resumed exactly: 3 + 3 micro-batches == 6 straight.
TEST(TrainSources, MixerResumesListSourcesExactly) {
  const std::string d = ref_dir();
  train::MixConfig cfg;
  auto seg = sgt_source("segment", data::SourceFormat::kSgtList, {d + "/sgt/file_names/list.txt"});
  seg.records_per_unit = 2;
  train::SourceConfig vqa;
  vqa.name = "vqa";
  vqa.kind = train::SourceKind::kVqa;
  vqa.format = data::SourceFormat::kLlavaJson;
  vqa.shards = {d + "/llava.json"};
  vqa.image_root = d + "/llava_images";
  // One record per unit: consumer 1 of 2 gets 2 of the 5 units per epoch, so never only the record without an
  // answer (a pass with no good sample is an error, data/loader.h).
  vqa.records_per_unit = 1;
  vqa.mandatory = true;
  cfg.sources = {seg, vqa};
  cfg.sizes = sizes();
  cfg.packing.expected_num_tokens = 120;
  cfg.packing.max_num_tokens = 400;
  cfg.packing.max_num_tokens_per_sample = 400;
  cfg.packing.prefer_buffer_before = 120;
  cfg.shuffle_buffer = 3;
  // The config round-trips through JSON with the new keys.
  const auto back = config::from_json<train::MixConfig>(config::to_json(cfg), "mix");
  EXPECT_EQ(back.sources[1].format, data::SourceFormat::kLlavaJson);
  EXPECT_EQ(back.sources[1].image_root, vqa.image_root);
  auto keys = [](const train::MicroBatch& mb) {
    std::vector<std::string> k;
    for (const auto& s : mb.samples) k.push_back(s->key + "/" + std::to_string(s->source));
    return k;
  };
  std::vector<std::vector<std::string>> straight, resumed;
  {
    train::Mixer m(cfg, tokenizer(), 9, 1, 2);
    for (int i = 0; i < 6; ++i) {
      auto mb = m.next();
      EXPECT_GT(mb.per_source[1], 0) << "the mandatory vqa source is in every micro-batch";
      mb.pack.validate();
      straight.push_back(keys(mb));
    }
  }
  std::string state;
  {
    train::Mixer m(cfg, tokenizer(), 9, 1, 2);
    for (int i = 0; i < 3; ++i) resumed.push_back(keys(m.next()));
    state = m.state().to_json();
  }
  train::Mixer m(cfg, tokenizer(), 9, 1, 2, train::MixerState::from_json(state));
  for (int i = 0; i < 3; ++i) resumed.push_back(keys(m.next()));
  EXPECT_EQ(straight, resumed);
}

// End to end: `sgt tune` trains the tiny model two steps on configs/sources/tiny-sources.json, every format mixed
// (SAM-SGT list and tar + mask folder, SA-1B folder, depth files, LLaVA JSON and JSONL), from the data the
// reference script writes where the recipe expects it.
TEST(TrainSources, TuneTrainsOnEveryFormat) {
  sgt::testing::TempDir dir("tune_sources");
  auto w = sgt::testing::run_python_tool("sources_ref.py", {"write", dir.file("tiny-sources"), std::to_string(kVit),
                                                            std::to_string(kVae)});
  ASSERT_EQ(w.exit_code, 0) << w.output;
  auto cfg = config::load_json_file(sgt::testing::source_dir() + "/configs/sources/tiny-sources.json");
  cfg["model_config"] = sgt::testing::source_dir() + "/configs/model/tiny-bagel.json";
  cfg["run_dir"] = dir.file("run");
  std::ofstream(dir.file("cfg.json")) << cfg.dump(2);
  const auto r = sgt::testing::run_command(fmt::format(
      "cd {} && {} tune --config cfg.json --no-eval 2>&1", sgt::testing::shell_quote(dir.path()),
      sgt::testing::shell_quote(sgt::testing::binary_dir() + "/bin/sgt")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int64_t steps = 0;
  config::for_each_jsonl(dir.file("run/metrics.jsonl"), [&](const config::Json& j, const std::string&) {
    if (!j.contains("loss")) return;
    EXPECT_TRUE(j["loss"].is_number()) << j.dump();
    EXPECT_GT(j["ce_tokens"].get<double>(), 0) << "the mandatory LLaVA source is in every step";
    EXPECT_GT(j["mse_tokens"].get<double>(), 0) << "the mandatory SAM-SGT source is in every step";
    ++steps;
  });
  EXPECT_EQ(steps, 2);
}

// Every JSON shipped under configs/ reads through its typed struct (unknown keys are errors there) and validates:
// model configs through the registry, the others as TrainConfigs (the SGT-BAGEL recipe, the tiny sources recipe).
TEST(TrainConfigFiles, EveryShippedConfigParses) {
  namespace fs = std::filesystem;
  int64_t models = 0, recipes = 0;
  bool sgt_bagel = false;
  for (const auto& e : fs::recursive_directory_iterator(sgt::testing::source_dir() + "/configs")) {
    if (e.path().extension() != ".json") continue;
    const std::string path = e.path().string();
    SCOPED_TRACE(path);
    if (e.path().parent_path().filename() == "model") {
      EXPECT_NO_THROW(model::load_model_config(path));
      ++models;
      continue;
    }
    train::TrainConfig c;
    ASSERT_NO_THROW(c = config::from_json<train::TrainConfig>(config::load_json_file(path), path));
    EXPECT_NO_THROW(c.validate());
    EXPECT_FALSE(c.data.sources.empty());
    ++recipes;
    if (e.path().filename() == "sgt-bagel-7b.json") {
      sgt_bagel = true;
      // The reference's mix (song2yu/SGT high_mixed_sam.yaml): both mandatory, VQA five times the segmentation.
      ASSERT_EQ(c.data.sources.size(), 2u);
      EXPECT_TRUE(c.data.sources[0].mandatory && c.data.sources[1].mandatory);
      EXPECT_EQ(c.data.sources[1].weight / c.data.sources[0].weight, 5.0);
      EXPECT_EQ(c.data.sources[0].format, data::SourceFormat::kSgtList);
      EXPECT_EQ(c.data.sources[1].format, data::SourceFormat::kLlavaJson);
    }
  }
  EXPECT_GE(models, 1);
  EXPECT_GE(recipes, 2);
  EXPECT_TRUE(sgt_bagel);
}

