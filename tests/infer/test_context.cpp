// KV-cached inference equals recomputation without the cache: every chunk kind (ViT image, text, clean VAE image,
// noisy query) and greedy decoding, compared with model::Bagel::forward over the same packed sequence
// (the training path, docs/attention.md, "Cached decoding") on a random tiny model in fp32.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "infer/context.h"
#include "infer/generate.h"
#include "infer_testing.h"
#include "../model/model_test_util.h"
#include "text/tokenizer.h"

using namespace sgt;
using namespace sgt::infer;
using model::AttnMode;

namespace {

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(InferContext, CachedChunksAndDecodingEqualFullForward) {
  torch::NoGradGuard ng;
  model::Bagel m(model::test::tiny_bagel());
  infer_testing::randomise(*m, 11);
  m->eval();
  const auto& cfg = m->config();
  const Markers mk{60, 61, 62, 63};
  torch::manual_seed(5);
  auto image = torch::rand({3, 28, 42}) * 2 - 1;  // ViT grid 2 x 3
  auto clean = torch::randn({4, cfg.patch_latent_dim()});
  auto noisy = torch::randn({6, cfg.patch_latent_dim()});

  Context ctx;
  model::BagelPackedInputs full;
  std::vector<std::pair<int64_t, AttnMode>> splits;
  std::vector<std::pair<int64_t, torch::Tensor>> cached_rows;  // (start in the full sequence, hidden rows)
  auto run = [&](const Chunk& c, AttnMode mode, bool update) {
    auto [e, g] = embed_chunk(m, c);
    cached_rows.emplace_back(full.sequence_length, forward_chunk(m, ctx, e, g, c.position_ids, c.mode, update));
    infer_testing::append(full, splits, c, mode);
  };
  run(vit_chunk(cfg, image, ctx.rope, mk), AttnMode::kFull, true);
  ctx.rope += 1;
  auto t1 = text_chunk({5, 6, 7}, ctx.rope, mk);
  run(t1, AttnMode::kCausal, true);
  ctx.rope += t1.length;
  run(vae_chunk(cfg, clean, 2, 2, 0.0, ctx.rope, mk), AttnMode::kFull, true);
  ctx.rope += 1;
  auto t2 = text_chunk({8, 9}, ctx.rope, mk);
  run(t2, AttnMode::kCausal, true);
  ctx.rope += t2.length;
  EXPECT_EQ(ctx.rope, 1 + 5 + 1 + 4);
  EXPECT_EQ(ctx.kv_len, 8 + 5 + 6 + 4);
  const Context before_query = ctx;
  // The noisy query sees everything; nothing later sees it (cache not updated).
  run(vae_chunk(cfg, noisy, 2, 3, 0.7, ctx.rope, mk), AttnMode::kNoise, false);
  EXPECT_EQ(ctx.kv_len, before_query.kv_len);

  full.layout = model::PackLayout::from_samples({splits});
  auto h = m->forward(full);
  for (const auto& [start, rows] : cached_rows) {
    EXPECT_LT(maxdiff(rows, h.slice(0, start, start + rows.size(0))), 1e-5) << "chunk at " << start;
  }
  // Velocity of the noisy query through the gen head, both ways.
  auto qidx = torch::arange(1, 7, torch::kInt64);
  EXPECT_LT(maxdiff(m->velocity(cached_rows.back().second, qidx), m->velocity(h, qidx + cached_rows.back().first)),
            1e-5);

  // Greedy decoding with the cache vs logits of a full forward over [context, <|im_start|> g1 .. gk].
  auto tok = text::Tokenizer::load(infer_testing::tokenizer_path());
  TextGenOptions opt;
  opt.max_length = 6;
  auto res = decode_text(m, tok, before_query, opt, mk, /*keep_logits=*/true);
  ASSERT_GE(res.logits.size(), 1u);
  EXPECT_EQ(res.logits.size(), res.stopped ? res.ids.size() + 1 : static_cast<size_t>(opt.max_length));
  std::vector<int64_t> fed = {mk.im_start};
  for (size_t i = 0; i + 1 < res.logits.size(); ++i) fed.push_back(res.ids[i]);
  // Drop the noisy query from the full sequence and append the decoded tokens as one causal split.
  model::BagelPackedInputs dec;
  std::vector<std::pair<int64_t, AttnMode>> dsplits;
  {
    auto add = [&](const Chunk& c, AttnMode mode) { infer_testing::append(dec, dsplits, c, mode); };
    add(vit_chunk(cfg, image, 0, mk), AttnMode::kFull);
    add(text_chunk({5, 6, 7}, 1, mk), AttnMode::kCausal);
    add(vae_chunk(cfg, clean, 2, 2, 0.0, 6, mk), AttnMode::kFull);
    add(text_chunk({8, 9}, 7, mk), AttnMode::kCausal);
    Chunk g;
    g.length = static_cast<int64_t>(fed.size());
    g.text_ids = torch::tensor(fed, torch::kInt64);
    g.text_indexes = torch::arange(g.length, torch::kInt64);
    g.position_ids = torch::arange(before_query.rope, before_query.rope + g.length, torch::kInt64);
    add(g, AttnMode::kCausal);
  }
  dec.layout = model::PackLayout::from_samples({dsplits});
  auto hd = m->forward(dec);
  const int64_t first = dec.sequence_length - static_cast<int64_t>(fed.size());
  auto logits = m->text_logits(hd, torch::arange(first, dec.sequence_length, torch::kInt64));
  for (size_t i = 0; i < res.logits.size(); ++i) {
    EXPECT_LT(maxdiff(res.logits[i], logits[static_cast<int64_t>(i)]), 1e-5) << "step " << i;
    const int64_t want = logits[static_cast<int64_t>(i)].argmax().item<int64_t>();
    if (i < res.ids.size()) {
      EXPECT_EQ(res.ids[i], want) << "step " << i;
    }
  }
  // Temperature sampling is reproducible under a seed and uses the cache the same way.
  opt.do_sample = true;
  opt.temperature = 0.7;
  opt.seed = 9;
  auto s1 = decode_text(m, tok, before_query, opt, mk), s2 = decode_text(m, tok, before_query, opt, mk);
  EXPECT_EQ(s1.ids, s2.ids);
  EXPECT_EQ(s1.text, s2.text);

  // Bad inputs.
  EXPECT_THROW(vit_chunk(cfg, torch::zeros({3, 20, 28}), 0, mk), Error);        // not a multiple of 14
  EXPECT_THROW(vae_chunk(cfg, torch::zeros({81, 16}), 9, 9, 0.0, 0, mk), Error);  // grid > max_latent_size 8
  EXPECT_THROW(vae_chunk(cfg, torch::zeros({4, 15}), 2, 2, 0.0, 0, mk), Error);   // wrong token width
  opt.temperature = 0.0;
  EXPECT_THROW(decode_text(m, tok, before_query, opt, mk), Error);
  Chunk bad = text_chunk({1}, 0, mk);
  bad.text_indexes = torch::zeros({3}, torch::kInt64);  // covers position 0 three times
  EXPECT_THROW(embed_chunk(m, bad), Error);
}

// Contexts are snapshots although the cache is written in place: two copies of one context that append different
// texts each give what a fresh context with that history gives, the shorter copy's rows survive the longer one's
// appends, and a cache grown far past its first capacity keeps every row.
TEST(InferContext, CopiesAreSnapshotsOfAnInPlaceCache) {
  torch::NoGradGuard ng;
  model::Bagel m(model::test::tiny_bagel());
  infer_testing::randomise(*m, 12);
  m->eval();
  const Markers mk{60, 61, 62, 63};
  auto hidden_of_next = [&](const Context& c, int64_t id) {  // one decode step without update
    Chunk ch = text_chunk({id}, c.rope, mk);
    auto [e, g] = embed_chunk(m, ch);
    Context copy = c;
    return forward_chunk(m, copy, e, g, ch.position_ids, AttnMode::kCausal, /*update=*/false);
  };
  auto fresh = [&](const std::vector<std::vector<int64_t>>& texts) {
    Context c;
    for (const auto& t : texts) add_text(m, c, t, mk);
    return c;
  };
  Context base = fresh({{5, 6, 7}});
  Context a = base, b = base;
  add_text(m, a, {8, 9}, mk);   // appends in place (a owns the store's end)
  add_text(m, b, {10, 11, 12}, mk);  // must fork: a's rows are past b's end
  EXPECT_NE(a.store.get(), b.store.get());
  EXPECT_EQ(a.kv_len, 3 + 2 + 4);
  EXPECT_EQ(b.kv_len, 3 + 2 + 5);
  auto diff = [](const torch::Tensor& x, const torch::Tensor& y) { return (x - y).abs().max().item<double>(); };
  EXPECT_LT(diff(hidden_of_next(a, 20), hidden_of_next(fresh({{5, 6, 7}, {8, 9}}), 20)), 1e-6);
  EXPECT_LT(diff(hidden_of_next(b, 20), hidden_of_next(fresh({{5, 6, 7}, {10, 11, 12}}), 20)), 1e-6);
  EXPECT_LT(diff(hidden_of_next(base, 20), hidden_of_next(fresh({{5, 6, 7}}), 20)), 1e-6);
  // A query without update leaves the context as it was.
  const auto before = hidden_of_next(a, 21);
  hidden_of_next(a, 22);
  EXPECT_TRUE(torch::equal(hidden_of_next(a, 21), before));

  // Growth: 300 single-token appends (past the first capacity of 256) equal one forward of the whole text.
  Context g = fresh({{5}});
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 300; ++i) ids.push_back(1 + i % 50);
  const auto* first_store = g.store.get();
  for (int64_t id : ids) {
    Chunk ch;  // a bare token, as decode_text feeds them
    ch.length = 1;
    ch.text_ids = torch::full({1}, id, torch::kInt64);
    ch.text_indexes = torch::zeros({1}, torch::kInt64);
    ch.position_ids = torch::full({1}, g.rope, torch::kInt64);
    auto [e, gm] = embed_chunk(m, ch);
    forward_chunk(m, g, e, gm, ch.position_ids, AttnMode::kCausal, /*update=*/true);
    g.rope += 1;
  }
  EXPECT_EQ(g.store.get(), first_store);  // grown in place, never forked
  EXPECT_GE(g.store->k[0].size(0), g.kv_len);
  Context whole = fresh({{5}});
  {
    Chunk ch;
    ch.length = static_cast<int64_t>(ids.size());
    ch.text_ids = torch::tensor(ids, torch::kInt64);
    ch.text_indexes = torch::arange(ch.length, torch::kInt64);
    ch.position_ids = torch::arange(whole.rope, whole.rope + ch.length, torch::kInt64);
    auto [e, gm] = embed_chunk(m, ch);
    forward_chunk(m, whole, e, gm, ch.position_ids, AttnMode::kCausal, /*update=*/true);
    whole.rope += ch.length;
  }
  ASSERT_EQ(g.kv_len, whole.kv_len);
  EXPECT_LT(diff(hidden_of_next(g, 30), hidden_of_next(whole, 30)), 1e-5);

  // A noise chunk cannot join the cache.
  Chunk n = vae_chunk(m->config(), torch::zeros({4, m->config().patch_latent_dim()}), 2, 2, 0.5, g.rope, mk);
  auto [e, gm] = embed_chunk(m, n);
  Context copy = g;
  EXPECT_THROW(forward_chunk(m, copy, e, gm, n.position_ids, AttnMode::kNoise, /*update=*/true), Error);
}
