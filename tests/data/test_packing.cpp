// Packing invariants on hand-made BAGEL plans (docs/model.md, "Images as tokens" to "Training samples"): split
// lengths, attention modes, RoPE position ids, loss indexes, CFG drops, the attention rule (docs/attention.md),
// and the packer's token budgets.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "data/packing.h"
#include "attention_oracle.h"

using namespace sgt;
using namespace sgt::data;

namespace {

PlanItem text(std::vector<int64_t> ids, bool loss = false, bool cfg = false) {
  PlanItem it;
  it.kind = SplitKind::kText;
  it.text_ids = std::move(ids);
  it.loss = loss;
  it.enable_cfg = cfg;
  return it;
}
PlanItem vit(int64_t h, int64_t w, bool cfg = false) {
  PlanItem it;
  it.kind = SplitKind::kVitImage;
  it.grid_h = h;
  it.grid_w = w;
  it.enable_cfg = cfg;
  it.image_slot = 0;
  return it;
}
PlanItem vae(int64_t h, int64_t w, bool noisy, bool cfg = false) {
  PlanItem it;
  it.kind = SplitKind::kVaeImage;
  it.grid_h = h;
  it.grid_w = w;
  it.loss = noisy;
  it.enable_cfg = cfg;
  it.image_slot = 1;
  return it;
}
PackingConfig no_drop() {
  PackingConfig c;
  c.text_cond_dropout_prob = c.vit_cond_dropout_prob = c.vae_cond_dropout_prob = 0;
  return c;
}

}  // namespace

TEST(Packing, SgtSegmentationSample) {
  // ViT input 16x16 -> text instruction (CFG) -> noisy VAE mask 4x4 with MSE (docs/data.md, "SAM-SGT samples")
  SamplePlan plan{7, {vit(16, 16), text({11, 12, 13, 14, 15}, false, true), vae(4, 4, true)}};
  EXPECT_EQ(plan.num_tokens(), 256 + 5 + 16 + 6);
  Pack p;
  Rng rng(1);
  append_sample(p, plan, no_drop(), rng);
  p.validate();
  ASSERT_EQ(p.layout.split_lens(), (std::vector<int64_t>{258, 7, 18}));
  ASSERT_EQ(p.layout.modes(), (std::vector<AttnMode>{AttnMode::kFull, AttnMode::kCausal, AttnMode::kNoise}));
  EXPECT_EQ(p.sample_lens, (std::vector<int64_t>{283}));
  for (int64_t i = 0; i < 258; ++i) ASSERT_EQ(p.position_ids[i], 0);      // one id per ViT image
  for (int64_t i = 0; i < 7; ++i) ASSERT_EQ(p.position_ids[258 + i], 1 + i);  // +1 after the image, then text
  for (int64_t i = 0; i < 18; ++i) ASSERT_EQ(p.position_ids[265 + i], 8);  // noisy image: one id
  EXPECT_EQ(p.mse_loss_indexes.size(), 16u);
  EXPECT_EQ(p.mse_loss_indexes.front(), 266);
  EXPECT_TRUE(p.ce_loss_indexes.empty());
  ASSERT_EQ(p.vit_position_ids.size(), 256u);
  EXPECT_EQ(p.vit_position_ids[17], 1 * 70 + 1);  // row 1, column 1 of the 70-wide table
  EXPECT_EQ(p.latent_position_ids[5], 1 * 64 + 1);
  ASSERT_EQ(p.vae_images.size(), 1u);
  EXPECT_TRUE(p.vae_images[0].noisy);
  EXPECT_TRUE(std::isfinite(p.vae_images[0].timestep_raw));
  // markers are text tokens
  EXPECT_EQ(p.text_ids.front(), 151652);
  EXPECT_EQ(p.text_ids[2], 151644);
  EXPECT_EQ(p.text_indexes[1], 257);
}

TEST(Packing, EditingPositionsAndCleanCopySharesId) {
  // clean VAE (pos 0) . ViT (pos 1) . text (pos 2..) . noisy VAE (pos 2+len) . clean copy of it (same pos)
  SamplePlan plan{1, {vae(2, 2, false), vit(2, 2), text({5, 6}), vae(3, 3, true), vae(3, 3, false)}};
  Pack p;
  Rng rng(0);
  append_sample(p, plan, no_drop(), rng);
  p.validate();
  ASSERT_EQ(p.layout.split_lens(), (std::vector<int64_t>{6, 6, 4, 11, 11}));
  EXPECT_EQ(p.position_ids[0], 0);
  EXPECT_EQ(p.position_ids[6], 1);
  EXPECT_EQ(p.position_ids[12], 2);
  EXPECT_EQ(p.position_ids[15], 5);
  EXPECT_EQ(p.position_ids[16], 6);  // noisy: 2 + len(text split = 4)
  EXPECT_EQ(p.position_ids[27], 6);  // the clean copy right after shares the id
  ASSERT_EQ(p.vae_images.size(), 3u);
  EXPECT_TRUE(std::isinf(p.vae_images[0].timestep_raw) && p.vae_images[0].timestep_raw < 0);
  EXPECT_EQ(p.vae_images[1].first_token, 17);
}

TEST(Packing, TextLossLabelsAreShifted) {
  SamplePlan plan{3, {vit(1, 2), text({21, 22}), text({31, 32, 33}, true)}};
  Pack p;
  Rng rng(0);
  append_sample(p, plan, no_drop(), rng);
  // answer split starts at 4 + 4 = 8: [IS, 31, 32, 33, IE]; CE at IS..33, labels 31, 32, 33, IE
  EXPECT_EQ(p.ce_loss_indexes, (std::vector<int64_t>{8, 9, 10, 11}));
  EXPECT_EQ(p.label_ids, (std::vector<int64_t>{31, 32, 33, 151645}));
}

TEST(Packing, CfgDropsAdvanceImagesNotText) {
  PackingConfig c;
  c.text_cond_dropout_prob = c.vit_cond_dropout_prob = c.vae_cond_dropout_prob = 1.0;
  SamplePlan plan{0, {vae(2, 2, false, true), vit(2, 2, true), text({1, 2}, false, true), vae(2, 2, true, true)}};
  Pack p;
  Rng rng(0);
  append_sample(p, plan, c, rng);
  p.validate();
  // only the noisy target survives (loss items are never dropped); two dropped images advanced the id to 2
  ASSERT_EQ(p.layout.split_lens(), (std::vector<int64_t>{6}));
  EXPECT_EQ(p.position_ids[0], 2);
  EXPECT_EQ(p.layout.splits[0].mode, AttnMode::kNoise);
}

TEST(Packing, AttentionRule) {
  // sample 0: text(2) . noisy VAE 1x2 . text(1) ; sample 1: ViT 1x1 . text(1)
  Pack p;
  Rng rng(0);
  append_sample(p, SamplePlan{0, {text({1, 2}), vae(1, 2, true), text({3})}}, no_drop(), rng);
  append_sample(p, SamplePlan{1, {vit(1, 1), text({4})}}, no_drop(), rng);
  p.validate();
  // sample 0: [0..3] text, [4..7] noise, [8..10] text; sample 1: [11..13] vit, [14..16] text
  EXPECT_TRUE(oracle::allowed(p.layout, 2, 1));    // causal
  EXPECT_FALSE(oracle::allowed(p.layout, 1, 2));   // no future in text
  EXPECT_TRUE(oracle::allowed(p.layout, 4, 7));    // noise split is bidirectional inside
  EXPECT_TRUE(oracle::allowed(p.layout, 5, 3));    // and sees earlier context
  EXPECT_FALSE(oracle::allowed(p.layout, 9, 5));   // later text never sees a noisy split
  EXPECT_TRUE(oracle::allowed(p.layout, 9, 3));    // but sees earlier text
  EXPECT_TRUE(oracle::allowed(p.layout, 11, 13));  // ViT image is full
  EXPECT_FALSE(oracle::allowed(p.layout, 14, 3));  // never across samples
  EXPECT_FALSE(oracle::allowed(p.layout, 3, 4));   // earlier text does not see the later image
  const auto m = oracle::dense_mask(p.layout, 0);
  ASSERT_EQ(m.size(), 121u);
  int64_t allowed = 0;
  for (auto v : m) allowed += v;
  // text rows 0..3: causal 1+2+3+4 = 10; noise rows 4..7: 4 context + 4 self = 32; text rows 8..10: 4 + (1..3)
  EXPECT_EQ(allowed, 10 + 32 + (3 * 4 + 1 + 2 + 3));
  EXPECT_THROW(oracle::allowed(p.layout, 0, 99), std::out_of_range);
}

TEST(Packing, PackerBudgetsAndNoSampleLost) {
  PackingConfig c;
  c.expected_num_tokens = 600;
  c.max_num_tokens = 1000;
  c.max_num_tokens_per_sample = 900;
  c.max_buffer_size = 3;
  c.prefer_buffer_before = 500;
  Packer packer(c, 42);
  Rng rng(5);
  std::multiset<uint64_t> seen;
  std::set<uint64_t> offered;
  int64_t too_long = 0;
  std::vector<Pack> packs;
  for (uint64_t key = 0; key < 400; ++key) {
    const int64_t side = rng.range(1, 30);
    std::vector<int64_t> ids(static_cast<size_t>(rng.range(1, 40)), 9);
    SamplePlan plan{key, {vit(side / 2 + 1, side / 2 + 1), text(ids, false, true), vae(side, side, true)}};
    if (plan.num_tokens() > c.max_num_tokens_per_sample) ++too_long;
    else offered.insert(key);
    for (auto& p : packer.add(plan)) packs.push_back(std::move(p));
  }
  for (auto& p : packer.flush()) packs.push_back(std::move(p));
  EXPECT_EQ(packer.skipped_too_long(), too_long);
  EXPECT_GT(too_long, 0);
  ASSERT_GT(packs.size(), 10u);
  int64_t reached = 0;
  for (const auto& p : packs) {
    p.validate();
    EXPECT_LE(p.length(), c.max_num_tokens);
    reached += p.length() >= c.expected_num_tokens;
    for (auto k : p.sample_keys) seen.insert(k);
    // position ids restart at 0 for every sample
    int64_t start = 0;
    for (auto len : p.sample_lens) {
      if (len > 0) {
        EXPECT_EQ(p.position_ids[start], 0);
      }
      start += len;
    }
  }
  EXPECT_GT(reached, static_cast<int64_t>(packs.size()) / 2);
  EXPECT_EQ(seen.size(), offered.size());
  EXPECT_EQ(std::set<uint64_t>(seen.begin(), seen.end()), offered);
}

TEST(Packing, PackerIsDeterministicAndConfigValidated) {
  auto run = [] {
    PackingConfig c;
    c.expected_num_tokens = 100;
    c.max_num_tokens = 200;
    c.max_num_tokens_per_sample = 200;
    Packer packer(c, 9);
    std::vector<int64_t> pos;
    for (uint64_t k = 0; k < 50; ++k)
      for (auto& p : packer.add(SamplePlan{k, {vit(2, 2, true), text({1, 2, 3}, false, true), vae(3, 3, true)}}))
        pos.insert(pos.end(), p.position_ids.begin(), p.position_ids.end());
    return pos;
  };
  EXPECT_EQ(run(), run());
  PackingConfig bad;
  bad.expected_num_tokens = 10;
  bad.max_num_tokens = 5;
  EXPECT_THROW(bad.validate(), Error);
  Pack p;
  Rng rng(0);
  EXPECT_THROW(append_sample(p, SamplePlan{0, {vit(71, 1)}}, PackingConfig{}, rng), Error);
}

TEST(Packing, ProxyTaskPlanMatchesTheSgtSequence) {
  // SGT: ViT 224x224 (stride 14 -> 16x16), instruction, mask latent 512x512 (stride 16 -> 32x32)
  const SamplePlan plan = proxy_task_plan(5, 224, 224, {1, 2, 3}, 512, 512);
  ASSERT_EQ(plan.items.size(), 3u);
  EXPECT_EQ(plan.items[0].kind, SplitKind::kVitImage);
  EXPECT_EQ(plan.items[0].grid_h * plan.items[0].grid_w, 256);
  EXPECT_TRUE(plan.items[1].enable_cfg);
  EXPECT_FALSE(plan.items[1].loss);
  EXPECT_TRUE(plan.items[2].loss);
  EXPECT_EQ(plan.items[2].grid_h, 32);
  EXPECT_EQ(plan.num_tokens(), 256 + 3 + 1024 + 6);
  PackingConfig c;
  c.text_cond_dropout_prob = 1.0;  // the instruction is dropped for CFG: the mask is then generated from the ViT alone
  Pack p;
  Rng rng(0);
  append_sample(p, plan, c, rng);
  EXPECT_EQ(p.layout.split_lens(), (std::vector<int64_t>{258, 1026}));
  EXPECT_EQ(p.position_ids.back(), 1);
  EXPECT_THROW(proxy_task_plan(0, 225, 224, {}, 512, 512), Error);
}
