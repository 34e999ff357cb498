#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"

TEST(Rng, SameSeedSameStreamDifferentSeedDifferentStream) {
  sgt::Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, StateRoundTripResumesExactly) {
  sgt::Rng a(7);
  for (int i = 0; i < 13; ++i) a.next_u64();
  std::string saved = a.state_string();
  std::vector<uint64_t> expect;
  for (int i = 0; i < 10; ++i) expect.push_back(a.next_u64());
  sgt::Rng b(0);
  b.set_state(sgt::Rng::parse_state(saved));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.next_u64(), expect[i]);
  EXPECT_THROW(sgt::Rng::parse_state("zz,1,2,3"), sgt::Error);
  EXPECT_THROW(sgt::Rng::parse_state("1,2,3"), sgt::Error);
  EXPECT_THROW(b.set_state({0, 0, 0, 0}), sgt::Error);
}

TEST(Rng, DistributionsHaveTheRightMoments) {
  sgt::Rng r(1);
  const int n = 200000;
  double s = 0, s2 = 0, u = 0;
  std::vector<int> counts(7, 0);
  for (int i = 0; i < n; ++i) {
    double x = r.normal();
    s += x;
    s2 += x * x;
    double v = r.uniform();
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
    u += v;
    counts[r.below(7)]++;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  EXPECT_NEAR(u / n, 0.5, 0.005);
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, n / 7.0 * 0.05);
  for (int i = 0; i < 1000; ++i) {
    int64_t v = r.range(-3, 3);
    EXPECT_GE(v, -3);
    EXPECT_LE(v, 3);
  }
}

TEST(Rng, ShuffleIsAPermutationAndDerivedStreamsDiffer) {
  sgt::Rng r(3);
  std::vector<int> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i;
  r.shuffle(v);
  EXPECT_EQ(std::set<int>(v.begin(), v.end()).size(), 100u);
  int fixed = 0;
  for (int i = 0; i < 100; ++i) fixed += v[i] == i;
  EXPECT_LT(fixed, 10);
  EXPECT_NE(sgt::Rng::derive(5, 0).next_u64(), sgt::Rng::derive(5, 1).next_u64());
  EXPECT_EQ(sgt::Rng::derive(5, 1).next_u64(), sgt::Rng::derive(5, 1).next_u64());
}
