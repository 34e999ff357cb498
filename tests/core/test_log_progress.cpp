#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/env.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "testing/testing.h"

TEST(Log, LevelsFilterAndSinkReceivesLines) {
  std::vector<std::string> lines;
  sgt::log::set_sink([&](sgt::log::Level, const std::string& l) { lines.push_back(l); });
  sgt::log::set_level(sgt::log::Level::kWarn);
  sgt::log::info("hidden {}", 1);
  sgt::log::warn("shown {}", 2);
  sgt::log::set_level(sgt::log::Level::kInfo);
  sgt::log::info("shown {}", 3);
  sgt::log::reset_sink();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("shown 2"), std::string::npos);
  EXPECT_EQ(lines[0][0], 'W');
  EXPECT_NE(lines[1].find("shown 3"), std::string::npos);
  EXPECT_THROW(sgt::log::parse_level("loud"), sgt::Error);
}

TEST(Log, FileSinkAppends) {
  sgt::testing::TempDir dir("log");
  sgt::log::set_sink([](sgt::log::Level, const std::string&) {});
  sgt::log::set_file(dir.file("run.log"));
  sgt::log::info("to file {}", 7);
  sgt::log::set_file("");
  sgt::log::reset_sink();
  std::ifstream in(dir.file("run.log"));
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("to file 7"), std::string::npos);
}

TEST(Env, RankAndMalformedIntegers) {
  ::setenv("SGT_TEST_INT", "12", 1);
  EXPECT_EQ(sgt::env::get_int("SGT_TEST_INT", 0), 12);
  ::setenv("SGT_TEST_INT", "12x", 1);
  EXPECT_THROW(sgt::env::get_int("SGT_TEST_INT", 0), sgt::Error);
  ::unsetenv("SGT_TEST_INT");
  EXPECT_EQ(sgt::env::get_int("SGT_TEST_INT", 5), 5);
  ::setenv("RANK", "3", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  EXPECT_EQ(sgt::env::rank(), 3);
  EXPECT_EQ(sgt::env::world_size(), 4);
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  ::setenv("SLURM_PROCID", "2", 1);
  EXPECT_EQ(sgt::env::rank(), 2);
  ::unsetenv("SLURM_PROCID");
  EXPECT_EQ(sgt::env::rank(), 0);
}

TEST(Progress, RendersCountPercentRateAndEta) {
  ::setenv("SGT_PROGRESS", "0", 1);
  sgt::Progress p("tune", 100, "step");
  p.advance(40);
  p.set_postfix("loss 0.5");
  std::string line = p.render();
  EXPECT_NE(line.find("tune 40/100"), std::string::npos) << line;
  EXPECT_NE(line.find("40%"), std::string::npos) << line;
  EXPECT_NE(line.find("step/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA"), std::string::npos) << line;
  EXPECT_NE(line.find("loss 0.5"), std::string::npos) << line;
  EXPECT_EQ(sgt::format_duration(3723), "1:02:03");
  EXPECT_EQ(sgt::format_duration(65), "1:05");
  ::unsetenv("SGT_PROGRESS");
}
