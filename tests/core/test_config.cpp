#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/config.h"

namespace {

struct InnerConfig {
  int64_t heads = 4;
  double eps = 1e-6;
  template <class V>
  void visit(V&& v) {
    v("heads", heads);
    v("eps", eps);
  }
};

struct OuterConfig {
  std::string architecture = "tiny";
  int64_t hidden_size = 64;
  bool qk_norm = true;
  std::vector<int64_t> mult{1, 2};
  std::optional<double> shift;
  InnerConfig inner;
  std::vector<InnerConfig> blocks;
  std::map<std::string, double> weights{{"ce", 1.5}};
  template <class V>
  void visit(V&& v) {
    v("architecture", architecture);
    v("hidden_size", hidden_size);
    v("qk_norm", qk_norm);
    v("mult", mult);
    v("shift", shift);
    v("inner", inner);
    v("blocks", blocks);
    v("weights", weights);
  }
  void validate() const {
    SGT_CHECK(hidden_size % inner.heads == 0, "config", "hidden_size {} not divisible by heads {}", hidden_size,
              inner.heads);
  }
};

using sgt::config::Json;

TEST(Config, DefaultsApplyForMissingKeys) {
  auto c = sgt::config::from_json<OuterConfig>(Json::parse(R"({"hidden_size": 128})"), "test");
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.architecture, "tiny");
  EXPECT_EQ(c.inner.heads, 4);
}

TEST(Config, RoundTripIsExact) {
  const std::string text =
      R"({"architecture":"bagel","hidden_size":96,"qk_norm":false,"mult":[1,2,4],"shift":3.0,)"
      R"("inner":{"heads":8,"eps":1e-05},"blocks":[{"heads":2,"eps":0.5}],"weights":{"ce":1.5,"mse":1.0}})";
  auto c = sgt::config::from_json<OuterConfig>(Json::parse(text), "test");
  Json back = sgt::config::to_json(c);
  EXPECT_EQ(back, Json::parse(text));
  auto again = sgt::config::from_json<OuterConfig>(back, "test");
  EXPECT_EQ(sgt::config::to_json(again).dump(), back.dump());
  EXPECT_EQ(again.blocks.at(0).heads, 2);
  ASSERT_TRUE(again.shift.has_value());
  EXPECT_DOUBLE_EQ(*again.shift, 3.0);
}

TEST(Config, UnknownKeysAreRejectedWithTheirNames) {
  try {
    sgt::config::from_json<OuterConfig>(Json::parse(R"({"hiden_size": 1})"), "run.json");
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("hiden_size"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("run.json"), std::string::npos) << e.what();
  }
  try {
    sgt::config::from_json<OuterConfig>(Json::parse(R"({"inner": {"head": 2}})"), "run.json");
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("run.json.inner"), std::string::npos) << e.what();
  }
}

TEST(Config, TypeErrorsNameTheField) {
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"({"hidden_size": "64"})"), "x"), sgt::Error);
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"({"hidden_size": 6.5})"), "x"), sgt::Error);
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"({"qk_norm": 1})"), "x"), sgt::Error);
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"({"mult": 3})"), "x"), sgt::Error);
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"([1, 2])"), "x"), sgt::Error);
  try {
    sgt::config::from_json<OuterConfig>(Json::parse(R"({"mult": [1, "a"]})"), "cfg");
    FAIL();
  } catch (const sgt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.mult[1]"), std::string::npos) << e.what();
  }
}

TEST(Config, ValidateRunsOnLoad) {
  EXPECT_THROW(sgt::config::from_json<OuterConfig>(Json::parse(R"({"hidden_size": 30})"), "x"), sgt::Error);
}

TEST(Config, MalformedJsonGivesClearError) {
  try {
    sgt::config::parse("{\"a\": [1, 2", "broken.json");
    FAIL();
  } catch (const sgt::Error& e) {
    EXPECT_EQ(e.component(), "config");
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos);
  }
  EXPECT_THROW(sgt::config::load_json_file("/nonexistent/file.json"), sgt::Error);
}

// Found by fuzz/fuzz_config.cpp (the input, minimised by hand, is in fuzz/corpus/config/): a number beyond
// double's range made nlohmann throw out_of_range (406), which is no parse_error and escaped as a plain
// std::exception instead of an sgt::Error.
TEST(Config, NumberOverflowIsAnError) {
  const std::string text = R"({"world":{"seed":1E51644}})";
  try {
    sgt::config::parse(text, "fuzz.json");
    FAIL() << "accepted 1E51644";
  } catch (const sgt::Error& e) {
    EXPECT_EQ(e.component(), "config");
    EXPECT_NE(e.detail().find("fuzz.json: malformed JSON"), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("number overflow parsing '1E51644'"), std::string::npos) << e.what();
  }
  // The JSONL reader words it the same way, and skips such a line when asked to skip malformed ones.
  const auto path = std::filesystem::temp_directory_path() / ("sgt-config-overflow-" + std::to_string(getpid()));
  {
    std::ofstream(path) << "{\"a\": 1}\n" << text << "\n{\"a\": 2}\n";
  }
  EXPECT_THROW(sgt::config::for_each_jsonl(path.string(), [](const Json&, const std::string&) {}), sgt::Error);
  int lines = 0;
  sgt::config::for_each_jsonl(path.string(), [&](const Json&, const std::string&) { ++lines; }, true);
  EXPECT_EQ(lines, 2);
  std::filesystem::remove(path);
}

TEST(Error, MessageCarriesComponentAndShape) {
  try {
    SGT_CHECK(false, "model", "bad shape {}", sgt::shape_str({2, 3}));
  } catch (const sgt::Error& e) {
    EXPECT_STREQ(e.what(), "[model] bad shape [2, 3]");
    EXPECT_EQ(e.component(), "model");
    EXPECT_EQ(e.detail(), "bad shape [2, 3]");
  }
}

}  // namespace
