#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/config.h"

namespace {

enum class Schedule { kConstant, kCosine };
constexpr auto enum_names(Schedule) {
  return std::array{sgt::EnumName{Schedule::kConstant, "constant"}, sgt::EnumName{Schedule::kCosine, "cosine"},
                    sgt::EnumName{Schedule::kCosine, "cos"}};
}

struct ScheduleConfig {
  Schedule kind = Schedule::kConstant;
  std::vector<Schedule> phases;
  template <class V>
  void visit(V&& v) {
    v("kind", kind);
    v("phases", phases);
  }
};

struct StateFile {
  static constexpr bool kAllKeysRequired = true;
  int64_t step = 0;
  std::optional<int64_t> retries;  // may be absent (files of an older format)
  sgt::config::Json extra;         // kept as it is
  template <class V>
  void visit(V&& v) {
    v("step", step);
    v("retries", retries);
    v("extra", extra);
  }
};

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

TEST(Config, EnumsAreReadAndWrittenByName) {
  auto c = sgt::config::from_json<ScheduleConfig>(sgt::config::parse(R"({"kind":"cos","phases":["cosine","constant"]})", "s"),
                                                  "s.json");
  EXPECT_EQ(c.kind, Schedule::kCosine);  // an alias reads as its value ...
  ASSERT_EQ(c.phases.size(), 2u);
  EXPECT_EQ(c.phases[0], Schedule::kCosine);
  EXPECT_EQ(c.phases[1], Schedule::kConstant);
  auto j = sgt::config::to_json(c);  // ... and is written under the value's first name
  EXPECT_EQ(j["kind"], "cosine");
  EXPECT_EQ(j["phases"][1], "constant");
  EXPECT_EQ(sgt::name_of(Schedule::kConstant), "constant");
  EXPECT_EQ(sgt::enum_choices<Schedule>(), "constant | cosine | cos");
}

TEST(Config, UnknownEnumNamesListTheKnownOnes) {
  try {
    sgt::config::from_json<ScheduleConfig>(sgt::config::parse(R"({"kind":"linear"})", "s"), "s.json");
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("s.json.kind"), std::string::npos) << m;
    EXPECT_NE(m.find("'linear'"), std::string::npos) << m;
    EXPECT_NE(m.find("constant, cosine, cos"), std::string::npos) << m;
  }
  EXPECT_THROW(sgt::config::from_json<ScheduleConfig>(sgt::config::parse(R"({"kind":1})", "s"), "s.json"), sgt::Error);
  EXPECT_THROW(sgt::enum_from_name<Schedule>("Cosine", "--schedule"), sgt::Error);  // names are case-sensitive
}

TEST(Config, StateFilesRequireTheirKeysAndKeepFreeFormJson) {
  using sgt::config::parse;
  auto st = sgt::config::from_json<StateFile>(parse(R"({"step":3,"extra":{"a":[1,"x"]}})", "s"), "state.json");
  EXPECT_EQ(st.step, 3);
  EXPECT_FALSE(st.retries.has_value());
  EXPECT_EQ(st.extra.dump(), R"({"a":[1,"x"]})");
  EXPECT_EQ(sgt::config::to_json(st).dump(), R"({"step":3,"retries":null,"extra":{"a":[1,"x"]}})");
  try {
    sgt::config::from_json<StateFile>(parse(R"({"retries":1})", "s"), "state.json");
    FAIL() << "expected an error";
  } catch (const sgt::Error& e) {
    EXPECT_EQ(std::string(e.what()), "[config] state.json: missing key(s) step, extra");
  }
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
