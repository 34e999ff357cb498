// model::AutocastGuard: autocast on for a scope, the previous flag and dtype back afterwards, also when the scope
// is left by an exception (the trainer's forward runs under it).
#include <gtest/gtest.h>

#include <stdexcept>

#include "model/autocast.h"

using sgt::model::AutocastGuard;

TEST(ModelAutocast, GuardRestoresTheStateAlsoOnAnException) {
  at::autocast::set_autocast_enabled(at::kCPU, false);
  at::autocast::set_autocast_dtype(at::kCPU, at::kHalf);
  {
    AutocastGuard g(at::kCPU, true, at::kBFloat16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCPU), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCPU), at::kHalf);
  try {
    AutocastGuard g(at::kCPU, true, at::kBFloat16);
    throw std::runtime_error("forward failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCPU), at::kHalf);
  {
    // Nested: the inner guard switches off, the outer state comes back.
    AutocastGuard outer(at::kCPU, true, at::kBFloat16);
    {
      AutocastGuard inner(at::kCPU, false);
      EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
}
