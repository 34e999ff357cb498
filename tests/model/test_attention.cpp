// The packed attention rule (docs/attention.md, "The rule") on hand-built packs, and split-wise == dense attention.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/attention.h"
#include "../data/attention_oracle.h"

using namespace sgt::model;

namespace {
constexpr auto C = AttnMode::kCausal;
constexpr auto Fu = AttnMode::kFull;
constexpr auto N = AttnMode::kNoise;

// Expected mask written out by hand: rows are queries, columns keys, '1' = may attend.
torch::Tensor from_rows(const std::vector<std::string>& rows) {
  const int64_t n = rows.size();
  auto m = torch::zeros({n, n}, torch::kBool);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) m[i][j] = rows[i][j] == '1';
  return m;
}
}  // namespace

TEST(ModelAttention, TextThenNoisyImage) {
  // T2I: text split (3 tokens, causal) then a noisy image split (3 tokens incl. markers).
  auto layout = PackLayout::from_samples({{{3, C}, {3, N}}});
  auto expect = from_rows({"100000",   //
                           "110000",   //
                           "111000",   //
                           "111111",   //
                           "111111",   //
                           "111111"});
  EXPECT_TRUE(torch::equal(packed_attention_mask(layout), expect));
}

TEST(ModelAttention, NoisySplitHiddenFromLaterTokens) {
  // Editing chain: clean image (2, full) | text (2, causal) | noisy (2) | clean copy (2, full) | text (2, causal)
  auto layout = PackLayout::from_samples({{{2, Fu}, {2, C}, {2, N}, {2, Fu}, {2, C}}});
  auto expect = from_rows({"1100000000",  //
                           "1100000000",  //
                           "1110000000",  //
                           "1111000000",  //
                           "1111110000",  // noisy sees context and itself
                           "1111110000",  //
                           "1111001100",  // later image: not the noisy split
                           "1111001100",  //
                           "1111001110",  // later text: causal, not the noisy split
                           "1111001111"});
  EXPECT_TRUE(torch::equal(packed_attention_mask(layout), expect));
}

TEST(ModelAttention, TwoNoisySplitsDoNotSeeEachOther) {
  auto layout = PackLayout::from_samples({{{1, C}, {2, N}, {2, N}}});
  auto expect = from_rows({"10000",  //
                           "11100",  //
                           "11100",  //
                           "10011",  //
                           "10011"});
  EXPECT_TRUE(torch::equal(packed_attention_mask(layout), expect));
}

TEST(ModelAttention, NoAttentionAcrossSamples) {
  auto layout = PackLayout::from_samples({{{2, Fu}, {1, C}}, {{2, C}}});
  auto expect = from_rows({"11000",  //
                           "11000",  //
                           "11100",  //
                           "00010",  //
                           "00011"});
  EXPECT_TRUE(torch::equal(packed_attention_mask(layout), expect));
  EXPECT_EQ(layout.num_samples(), 2);
  EXPECT_EQ(layout.sample_range(1), std::make_pair(int64_t{3}, int64_t{5}));
}

TEST(ModelAttention, BadLayoutIsAnError) {
  EXPECT_THROW(PackLayout::from_samples({{{0, C}}}), sgt::Error);
  EXPECT_THROW(PackLayout::from_samples({{}}), sgt::Error);
  EXPECT_THROW(attn_mode_from_string("sliding"), sgt::Error);
  auto layout = PackLayout::from_samples({{{3, C}}});
  auto q = torch::randn({4, 2, 8});
  EXPECT_THROW(packed_attention(q, q, q, layout, AttentionImpl::kDense), sgt::Error);
  EXPECT_THROW(packed_attention(q, q, q, layout, AttentionImpl::kPacked), sgt::Error);
  EXPECT_THROW(attention_impl_from_string("flash"), sgt::Error);
  for (auto i : {AttentionImpl::kDense, AttentionImpl::kSplitwise, AttentionImpl::kPacked})
    EXPECT_EQ(attention_impl_from_string(to_string(i)), i);
}

// Dense reference written directly from the mask (softmax over allowed keys), independent of SDPA.
static torch::Tensor naive_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& mask) {
  const int64_t rep = q.size(1) / k.size(1);
  auto kk = k.repeat_interleave(rep, 1), vv = v.repeat_interleave(rep, 1);
  auto s = torch::einsum("qhd,khd->hqk", {q.to(torch::kFloat64), kk.to(torch::kFloat64)}) / std::sqrt(q.size(2));
  s = s.masked_fill(mask.logical_not().unsqueeze(0), -std::numeric_limits<double>::infinity());
  return torch::einsum("hqk,khd->qhd", {s.softmax(-1), vv.to(torch::kFloat64)});
}

TEST(ModelAttention, SplitwiseEqualsDenseEqualsNaive) {
  torch::manual_seed(0);
  auto layout = PackLayout::from_samples({{{3, Fu}, {4, Fu}, {5, C}, {6, N}, {6, Fu}, {3, C}},
                                          {{7, C}, {5, N}},
                                          {{1, C}, {4, N}, {3, N}, {2, C}}});
  const int64_t L = layout.total_len();
  auto q = torch::randn({L, 4, 8}), k = torch::randn({L, 2, 8}), v = torch::randn({L, 2, 8});
  auto dense = packed_attention(q, k, v, layout, AttentionImpl::kDense);
  auto split = packed_attention(q, k, v, layout, AttentionImpl::kSplitwise);
  auto packed = packed_attention(q, k, v, layout, AttentionImpl::kPacked);
  auto naive = naive_attention(q, k, v, packed_attention_mask(layout)).to(torch::kFloat32);
  // fp32, differently ordered reductions: 1e-5 relative to the output scale
  const double scale = naive.abs().max().item<double>();
  EXPECT_LE((dense - naive).abs().max().item<double>(), 1e-5 * scale);
  EXPECT_LE((split - naive).abs().max().item<double>(), 1e-5 * scale);
  EXPECT_LE((split - dense).abs().max().item<double>(), 1e-5 * scale);
  EXPECT_LE((packed - naive).abs().max().item<double>(), 1e-5 * scale);
  // One plan serves every layer: applied twice it gives the same result as a fresh one.
  const auto plan = AttentionPlan::make(layout, AttentionImpl::kSplitwise, q.device());
  EXPECT_TRUE(torch::equal(packed_attention(q, k, v, plan), split));
  EXPECT_TRUE(torch::equal(packed_attention(q, k, v, plan), split));
}

TEST(ModelAttention, SplitwiseGradientsEqualDense) {
  torch::manual_seed(1);
  auto layout = PackLayout::from_samples({{{2, C}, {3, N}, {3, Fu}, {2, C}}});
  const int64_t L = layout.total_len();
  auto q0 = torch::randn({L, 2, 4}), k0 = torch::randn({L, 1, 4}), v0 = torch::randn({L, 1, 4});
  auto w = torch::randn({L, 2, 4});
  const AttentionImpl impls[3] = {AttentionImpl::kDense, AttentionImpl::kSplitwise, AttentionImpl::kPacked};
  std::vector<torch::Tensor> grads[3];
  for (int i = 0; i < 3; ++i) {
    auto q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(), v = v0.clone().requires_grad_();
    auto o = packed_attention(q, k, v, layout, impls[i]);
    (o * w).sum().backward();
    grads[i] = {q.grad(), k.grad(), v.grad()};
  }
  for (int i = 1; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(torch::allclose(grads[0][j], grads[i][j], 1e-5, 1e-6)) << i << " " << j;
}

// The tensor mask builder agrees with the rule written out token by token (tests/data/attention_oracle.h) on a
// pack with every kind of split and two samples.
TEST(ModelAttention, MaskAgreesWithScalarOracle) {
  using DM = sgt::data::AttnMode;
  const std::vector<std::tuple<int64_t, int64_t, DM, int64_t>> splits = {
      {0, 2, DM::kFull, 0},  {2, 2, DM::kCausal, 0}, {4, 2, DM::kNoise, 0}, {6, 2, DM::kFull, 0},
      {8, 2, DM::kCausal, 0}, {10, 2, DM::kCausal, 1}, {12, 3, DM::kNoise, 1}, {15, 3, DM::kNoise, 1}};
  PackLayout layout;
  for (const auto& [start, len, mode, sample] : splits) layout.splits.push_back({start, len, mode, sample});
  layout.validate();
  ASSERT_EQ(layout.total_len(), 18);
  for (int64_t s = 0; s < 2; ++s) {
    auto theirs = sgt::oracle::dense_mask(layout, s);
    auto ours = sample_attention_mask(layout, s).to(torch::kUInt8).contiguous();
    ASSERT_EQ(static_cast<size_t>(ours.numel()), theirs.size());
    EXPECT_TRUE(std::equal(theirs.begin(), theirs.end(), ours.data_ptr<uint8_t>())) << "sample " << s;
  }
  layout.splits[3].start += 1;  // a gap
  EXPECT_THROW(layout.validate(), sgt::Error);
}

// A layout that continues a cache (AttentionPlan::cached): its queries see the cached keys first, then the rule
// inside the layout; every implementation equals the naive attention over the whole sample (cached splits, then
// the layout), restricted to the layout's rows.
TEST(ModelAttention, CachedPrefixEqualsTheWholeSample) {
  torch::manual_seed(3);
  const int64_t P0 = 9;  // cached: a full image (4) then text (5)
  auto whole = PackLayout::from_samples({{{4, Fu}, {5, C}, {3, C}, {6, N}, {2, Fu}, {4, C}}});
  auto chunk = PackLayout::from_samples({{{3, C}, {6, N}, {2, Fu}, {4, C}}});
  const int64_t L = chunk.total_len();
  auto q = torch::randn({P0 + L, 4, 8}), k = torch::randn({P0 + L, 2, 8}), v = torch::randn({P0 + L, 2, 8});
  auto naive = naive_attention(q, k, v, packed_attention_mask(whole)).to(torch::kFloat32).slice(0, P0);
  const double scale = naive.abs().max().item<double>();
  for (auto impl : {AttentionImpl::kDense, AttentionImpl::kSplitwise, AttentionImpl::kPacked}) {
    auto plan = AttentionPlan::make(chunk, impl, q.device(), P0);
    auto out = packed_attention(q.slice(0, P0), k, v, plan);
    EXPECT_LE((out - naive).abs().max().item<double>(), 1e-5 * scale) << to_string(impl);
  }
  // Keys must cover the cached tokens and the layout; a cache continues one sample only.
  auto plan = AttentionPlan::make(chunk, AttentionImpl::kSplitwise, q.device(), P0);
  EXPECT_THROW(packed_attention(q.slice(0, P0), k.slice(0, 1), v.slice(0, 1), plan), sgt::Error);
  auto two = PackLayout::from_samples({{{2, C}}, {{2, C}}});
  EXPECT_THROW(AttentionPlan::make(two, AttentionImpl::kSplitwise, q.device(), 3), sgt::Error);
}
