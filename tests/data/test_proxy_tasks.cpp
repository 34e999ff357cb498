// Proxy-task targets: segmentation colours (distinct, seeded, largest first, NEAREST keeps only instance colours),
// edges, depth, degradations, instructions and BAGEL's image-transform sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "data/proxy_tasks.h"
#include "testing/testing.h"

using namespace sgt;
using namespace sgt::data;

namespace {

Rle rect_mask(int64_t w, int64_t h, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  std::vector<uint8_t> m(static_cast<size_t>(w * h), 0);
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x) m[y * w + x] = 1;
  return rle_encode(m.data(), h, w);
}

std::shared_ptr<const Instructions> small_instructions() {
  std::map<std::string, std::vector<std::string>> m;
  for (const char* k : {"segment", "edge", "recon", "inpainting", "denoise", "deblurring", "derain", "super_resolution",
                        "enhance"})
    m[k] = {std::string(k) + " a", std::string(k) + " b", std::string(k) + " c"};
  return std::make_shared<Instructions>(Instructions::from_map(m));
}

Image textured(int64_t w, int64_t h) {
  Image img(w, h, 3);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = img.at(y, x);
      p[0] = static_cast<uint8_t>((x * 7 + y * 3) % 256);
      p[1] = static_cast<uint8_t>(((x / 8 + y / 8) % 2) * 200 + 20);
      p[2] = static_cast<uint8_t>((x * y) % 251);
    }
  return img;
}

// Three nested instances: background-sized rectangle, a middle one, a small one inside it.
std::vector<Rle> nested(int64_t w, int64_t h) {
  return {rect_mask(w, h, 4, 4, w - 4, h - 4), rect_mask(w, h, 10, 10, 40, 40), rect_mask(w, h, 20, 20, 26, 26)};
}

std::set<uint32_t> colours_of(const Image& img) {
  std::set<uint32_t> s;
  for (size_t i = 0; i < img.pixels.size(); i += 3)
    s.insert(img.pixels[i] | (img.pixels[i + 1] << 8) | (img.pixels[i + 2] << 16));
  return s;
}
uint32_t packed(const std::array<uint8_t, 3>& c) { return c[0] | (c[1] << 8) | (c[2] << 16); }

}  // namespace

TEST(ProxySegment, ColoursDistinctDeterministicLargestFirst) {
  const auto masks = nested(64, 48);
  std::vector<std::array<uint8_t, 3>> c1, c2, c3;
  Rng r1(7), r2(7), r3(8);
  const Image a = render_instance_map(masks, r1, 48, &c1);
  const Image b = render_instance_map(masks, r2, 48, &c2);
  const Image c = render_instance_map(masks, r3, 48, &c3);
  EXPECT_EQ(a.pixels, b.pixels);  // same seed -> same colours
  EXPECT_NE(a.pixels, c.pixels);  // another seed -> other colours
  ASSERT_EQ(c1.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GE(c1[i][0] + c1[i][1] + c1[i][2], 48);  // away from the black background
    for (size_t j = 0; j < i; ++j)
      EXPECT_GE(std::abs(c1[i][0] - c1[j][0]) + std::abs(c1[i][1] - c1[j][1]) + std::abs(c1[i][2] - c1[j][2]), 48);
  }
  // largest painted first: the small instance stays visible inside the middle one, which is inside the big one
  EXPECT_EQ(packed({a.at(22, 22)[0], a.at(22, 22)[1], a.at(22, 22)[2]}), packed(c1[2]));
  EXPECT_EQ(packed({a.at(12, 12)[0], a.at(12, 12)[1], a.at(12, 12)[2]}), packed(c1[1]));
  EXPECT_EQ(packed({a.at(42, 58)[0], a.at(42, 58)[1], a.at(42, 58)[2]}), packed(c1[0]));
  EXPECT_EQ(packed({a.at(1, 1)[0], a.at(1, 1)[1], a.at(1, 1)[2]}), 0u);  // background black
  // the order of the list does not matter for visibility: reversed input, same painting
  std::vector<Rle> rev(masks.rbegin(), masks.rend());
  Rng r4(7);
  std::vector<std::array<uint8_t, 3>> c4;
  const Image d = render_instance_map(rev, r4, 48, &c4);
  EXPECT_EQ(packed({d.at(22, 22)[0], d.at(22, 22)[1], d.at(22, 22)[2]}), packed(c4[0]));
}

TEST(ProxySegment, ManyInstancesStillDistinct) {
  std::vector<Rle> masks;
  for (int i = 0; i < 300; ++i) masks.push_back(rect_mask(40, 40, i % 40, (i / 40) * 5, i % 40 + 1, (i / 40) * 5 + 1));
  Rng r(1);
  std::vector<std::array<uint8_t, 3>> cols;
  render_instance_map(masks, r, 96, &cols);
  std::set<uint32_t> s;
  for (const auto& c : cols) s.insert(packed(c));
  EXPECT_EQ(s.size(), 300u);
  EXPECT_EQ(s.count(0), 0u);
}

namespace {

// The colour drawing as first written (a scan of every earlier colour per draw, O(n^2)): the indexed one must
// draw exactly these colours, so existing seeds and fixtures keep their targets.
std::vector<std::array<uint8_t, 3>> reference_colours(size_t n, Rng& rng, int64_t min_color_distance) {
  std::vector<std::array<uint8_t, 3>> cols;
  for (size_t i = 0; i < n; ++i) {
    int64_t need = min_color_distance;
    for (int tries = 0;; ++tries) {
      if (tries > 0 && tries % 64 == 0) need /= 2;
      const uint64_t r = rng.next_u64();
      std::array<uint8_t, 3> c{static_cast<uint8_t>(r), static_cast<uint8_t>(r >> 8), static_cast<uint8_t>(r >> 16)};
      auto dist = [&](const std::array<uint8_t, 3>& o) {
        return std::abs(c[0] - o[0]) + std::abs(c[1] - o[1]) + std::abs(c[2] - o[2]);
      };
      bool ok = dist({0, 0, 0}) >= std::max<int64_t>(need, 1);
      for (const auto& o : cols) ok = ok && dist(o) >= std::max<int64_t>(need, 1);
      if (ok) {
        cols.push_back(c);
        break;
      }
    }
  }
  return cols;
}

// n one-pixel masks on a side x side canvas (n <= side^2).
std::vector<Rle> pixel_masks(int64_t n, int64_t side) {
  std::vector<Rle> masks;
  masks.reserve(static_cast<size_t>(n));
  const int64_t total = side * side;
  for (int64_t i = 0; i < n; ++i) {
    // column-major runs: i background pixels, one foreground, the rest background
    Rle r{side, side, {static_cast<uint32_t>(i), 1}};
    if (total - i - 1 > 0) r.counts.push_back(static_cast<uint32_t>(total - i - 1));
    masks.push_back(std::move(r));
  }
  return masks;
}

}  // namespace

TEST(ProxySegment, IndexedColoursEqualTheQuadraticScan) {
  // Counts below and far above the scan threshold of the index, distances from 0 (only duplicates rejected) to
  // 765 (the whole cube), with the halving schedule crossing several grid levels.
  struct Case {
    int64_t n, distance;
    uint64_t seed;
  };
  for (const Case& k : {Case{3, 48, 7}, Case{64, 48, 1}, Case{65, 48, 2}, Case{1500, 48, 3}, Case{700, 96, 4},
                        Case{400, 300, 5}, Case{200, 765, 6}, Case{2000, 0, 7}, Case{1200, 13, 8}}) {
    const auto masks = pixel_masks(k.n, 64);
    Rng a(k.seed), b(k.seed);
    std::vector<std::array<uint8_t, 3>> cols;
    render_instance_map(masks, a, k.distance, &cols);
    EXPECT_EQ(cols, reference_colours(static_cast<size_t>(k.n), b, k.distance)) << k.n << " masks, " << k.distance;
    EXPECT_EQ(a.next_u64(), b.next_u64()) << "same number of draws";
  }
}

TEST(ProxySegment, PositionColoursFollowTheCentroid) {
  // Centroids computed here from the row-major decoding, independently of the column-major runs the code walks.
  const int64_t w = 64, h = 48;
  const std::vector<Rle> masks = {rect_mask(w, h, 0, 0, 8, 6), rect_mask(w, h, 56, 42, 64, 48),
                                  rect_mask(w, h, 10, 30, 21, 37), rect_mask(w, h, 20, 20, 26, 26)};
  const auto cols = position_colours(masks);
  ASSERT_EQ(cols.size(), masks.size());
  for (size_t k = 0; k < masks.size(); ++k) {
    const auto px = rle_decode(masks[k]);
    double sx = 0, sy = 0, n = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        if (px[y * w + x]) sx += x + 0.5, sy += y + 0.5, ++n;
    const double cx = sx / n / w, cy = sy / n / h;
    EXPECT_EQ(cols[k][0], std::lround(64 + 191 * cx)) << k;
    EXPECT_EQ(cols[k][1], std::lround(64 + 191 * cy)) << k;
    EXPECT_EQ(cols[k][2], std::lround(255 - 191 * (cx + cy) / 2)) << k;
    EXPECT_GE(*std::min_element(cols[k].begin(), cols[k].end()), 64);  // far from the black background
  }
  // top-left is blue-ish, bottom-right yellow-ish
  EXPECT_LT(cols[0][0], 80);
  EXPECT_GT(cols[0][2], 240);
  EXPECT_GT(cols[1][0], 240);
  EXPECT_GT(cols[1][1], 240);
  EXPECT_LT(cols[1][2], 80);

  // The task: the target holds exactly these colours (NEAREST), whatever the rng, painted largest first.
  ProxyTaskConfig cfg;
  cfg.color_mode = ColorMode::kPosition;
  auto task = make_proxy_task(cfg, small_instructions());
  ProxySource src;
  src.image = textured(w, h);
  src.instances = masks;
  Rng r1(1), r2(2);
  const auto a = task->make(src, r1), b = task->make(src, r2);
  EXPECT_EQ(a.target.pixels, b.target.pixels);
  EXPECT_EQ(a.target.pixels, render_instance_map(masks, cols).pixels);
  const uint8_t* p = a.target.at(22, 22);
  EXPECT_EQ(packed({p[0], p[1], p[2]}), packed(cols[3]));
  std::set<uint32_t> allowed = {0};
  for (const auto& c : cols) allowed.insert(packed(c));
  EXPECT_EQ(colours_of(a.target), allowed);

  EXPECT_THROW(config::from_json<ProxyTaskConfig>(config::Json{{"color_mode", "rainbow"}}, "cfg"), Error);
  EXPECT_THROW(render_instance_map(masks, std::vector<std::array<uint8_t, 3>>(2)), Error);  // 2 colours, 4 masks
}

TEST(ProxySegment, NearestKeepsOnlyInstanceColoursBicubicBlends) {
  const auto instr = small_instructions();
  ProxySource src;
  src.image = textured(48, 40);
  src.instances = nested(96, 80);  // masks at twice the image size
  ProxyTaskConfig cfg;
  auto task = make_proxy_task(cfg, instr);
  Rng r(3), r_copy(3);
  const auto ex = task->make(src, r);
  ASSERT_EQ(ex.target.width, 48);
  ASSERT_EQ(ex.target.height, 40);
  std::vector<std::array<uint8_t, 3>> cols;
  render_instance_map(src.instances, r_copy, cfg.min_color_distance, &cols);
  std::set<uint32_t> allowed = {0};
  for (const auto& c : cols) allowed.insert(packed(c));
  for (uint32_t c : colours_of(ex.target)) EXPECT_TRUE(allowed.count(c)) << c;
  EXPECT_EQ(ex.input.pixels, src.image.pixels);
  EXPECT_EQ(ex.instruction.rfind("segment ", 0), 0u);

  cfg.mask_resize = MaskResize::kBicubic;
  auto bic = make_proxy_task(cfg, instr);
  Rng r2(3);
  const auto ex2 = bic->make(src, r2);
  int64_t foreign = 0;
  for (uint32_t c : colours_of(ex2.target)) foreign += !allowed.count(c);
  EXPECT_GT(foreign, 0);  // bicubic blends colour edges (the reference's behaviour)
  cfg.mask_resize = MaskResize::kReject;  // masks of another size make the sample bad
  Rng r3(3);
  try {
    make_proxy_task(cfg, instr)->make(src, r3);
    ADD_FAILURE() << "expected a bad sample";
  } catch (const BadSampleError& e) {
    EXPECT_EQ(e.reason(), BadSampleReason::kSizeMismatch);
  }
  ProxySource none;
  none.image = src.image;
  EXPECT_THROW(task->make(none, r), Error);  // no masks
}

TEST(ProxyTasks, InstructionsSeededAndFromFixture) {
  const auto instr = small_instructions();
  ProxyTaskConfig cfg;
  cfg.task = ProxyTaskKind::kDeblur;
  auto task = make_proxy_task(cfg, instr);
  ProxySource src;
  src.image = textured(32, 32);
  std::set<std::string> seen;
  for (uint64_t s = 0; s < 40; ++s) {
    Rng a(s), b(s);
    const auto x = task->make(src, a), y = task->make(src, b);
    EXPECT_EQ(x.instruction, y.instruction);
    seen.insert(x.instruction);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"deblurring a", "deblurring b", "deblurring c"}));
  cfg.task = ProxyTaskKind::kDepth;  // a list the small set lacks gets the built-in depth templates
  EXPECT_NO_THROW(make_proxy_task(cfg, instr));
  EXPECT_THROW(config::from_json<ProxyTaskConfig>(config::Json{{"task", "bogus"}}, "cfg"), Error);
  EXPECT_THROW(config::from_json<ProxyTaskConfig>(config::Json{{"tsk", "segment"}}, "cfg"), Error);

  const auto full = Instructions::load(sgt::testing::asset("sgt-prompts/instructions.json"));
  EXPECT_EQ(full.list("segment").size(), 279u);
  EXPECT_EQ(full.list("segment")[0], "Segment instances with different colors.");
  EXPECT_EQ(full.list("recon").size(), 364u);
  for (const auto& t : proxy_task_names()) EXPECT_TRUE(full.has(instruction_list_for(t))) << t;
}

TEST(ProxyTasks, EdgesOnSquareBorder) {
  Image img(64, 64, 3, 0);
  for (int64_t y = 16; y < 48; ++y)
    for (int64_t x = 16; x < 48; ++x) img.at(y, x)[0] = img.at(y, x)[1] = img.at(y, x)[2] = 255;
  const Image e = canny_edges(img, 1.4, 50, 120);
  ASSERT_EQ(e.channels, 3);
  int64_t on = 0, near_border = 0;
  for (int64_t y = 0; y < 64; ++y)
    for (int64_t x = 0; x < 64; ++x) {
      const uint8_t v = e.at(y, x)[0];
      ASSERT_TRUE(v == 0 || v == 255);
      if (!v) continue;
      ++on;
      const bool nb = (std::abs(x - 16) <= 2 || std::abs(x - 47) <= 2 || std::abs(y - 16) <= 2 || std::abs(y - 47) <= 2);
      near_border += nb;
    }
  EXPECT_GT(on, 4 * 24);  // most of the 4 x 32 border
  EXPECT_EQ(near_border, on);  // nothing inside or far outside
  EXPECT_EQ(e.at(32, 32)[0], 0);
}

TEST(ProxyTasks, DepthNearBright) {
  ProxySource src;
  src.image = textured(32, 16);
  src.depth = Image(16, 8, 1);  // half size, gradient: depth grows to the right
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 16; ++x) src.depth.at(y, x)[0] = static_cast<uint8_t>(40 + 10 * x);
  ProxyTaskConfig cfg;
  cfg.task = ProxyTaskKind::kDepth;
  auto t = make_proxy_task(cfg, small_instructions());
  Rng r(0);
  const auto ex = t->make(src, r);
  ASSERT_EQ(ex.target.width, 32);
  ASSERT_EQ(ex.target.channels, 3);
  EXPECT_EQ(ex.target.at(5, 0)[0], 255);   // nearest -> brightest
  EXPECT_EQ(ex.target.at(5, 31)[0], 0);    // farthest -> black
  EXPECT_GT(ex.target.at(5, 10)[0], ex.target.at(5, 20)[0]);
  EXPECT_EQ(ex.target.at(5, 10)[0], ex.target.at(5, 10)[2]);
  ProxySource no_depth;
  no_depth.image = src.image;
  EXPECT_THROW(t->make(no_depth, r), Error);
}

TEST(ProxyTasks, DegradationsShapesAndValues) {
  ProxySource src;
  src.image = textured(64, 48);
  const auto instr = small_instructions();
  auto run = [&](const std::string& task, uint64_t seed = 1) {
    ProxyTaskConfig cfg;
    cfg.task = enum_from_name<ProxyTaskKind>(task, "task");
    Rng r(seed);
    auto ex = make_proxy_task(cfg, instr)->make(src, r);
    EXPECT_EQ(ex.input.width, 64);
    EXPECT_EQ(ex.input.height, 48);
    EXPECT_EQ(ex.target.width, 64);
    EXPECT_EQ(ex.target.height, 48);
    return ex;
  };
  auto mean_abs = [](const Image& a, const Image& b) {
    double s = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    return s / a.pixels.size();
  };
  const auto recon = run("recon");
  EXPECT_EQ(recon.target.pixels, src.image.pixels);
  EXPECT_EQ(recon.input.pixels, src.image.pixels);
  for (const char* t : {"denoise", "deblur", "derain", "super_resolution", "enhance", "inpaint", "mae"}) {
    const auto ex = run(t);
    EXPECT_EQ(ex.target.pixels, src.image.pixels) << t;  // clean target
    EXPECT_GT(mean_abs(ex.input, src.image), 0.5) << t;   // degraded input
    EXPECT_EQ(run(t).input.pixels, ex.input.pixels) << t;  // deterministic per seed
  }
  EXPECT_NE(run("denoise", 1).input.pixels, run("denoise", 2).input.pixels);
  // denoise: E|N(0, 25)| ~ 20 before clamping
  EXPECT_NEAR(mean_abs(run("denoise").input, src.image), 19.9, 4.0);
  // enhance: darker everywhere
  const auto en = run("enhance");
  for (size_t i = 0; i < en.input.pixels.size(); ++i) ASSERT_LE(en.input.pixels[i], src.image.pixels[i]);
  // mae: half of the 16x16 patches (4 x 3 grid -> 6) are filled with 128
  const auto mae = run("mae");
  int64_t filled = 0;
  for (int64_t py = 0; py < 3; ++py)
    for (int64_t px = 0; px < 4; ++px) {
      bool all = true;
      for (int64_t y = 0; y < 16; ++y)
        for (int64_t x = 0; x < 16; ++x)
          for (int c = 0; c < 3; ++c) all = all && mae.input.at(py * 16 + y, px * 16 + x)[c] == 128;
      filled += all;
    }
  EXPECT_EQ(filled, 6);
  // deblur: blurring lowers the local contrast of the checker channel
  const auto db = run("deblur");
  int64_t diff_src = 0, diff_blur = 0;
  for (int64_t x = 1; x < 64; ++x) {
    diff_src += std::abs(src.image.at(10, x)[1] - src.image.at(10, x - 1)[1]);
    diff_blur += std::abs(db.input.at(10, x)[1] - db.input.at(10, x - 1)[1]);
  }
  EXPECT_LT(diff_blur, diff_src);
}

TEST(ImageTransform, BagelResizeRule) {
  using Size = std::pair<int64_t, int64_t>;
  // expected values: BAGEL's MaxLongEdgeMinShortEdgeResize formula evaluated in Python (half-to-even round)
  ImageTransformConfig vit{14, 224, 224, 14 * 14 * 9 * 1024};
  EXPECT_EQ(transform_size(640, 480, vit), (Size{224, 168}));
  ImageTransformConfig vae{16, 512, 1024, 14 * 14 * 9 * 1024};
  EXPECT_EQ(transform_size(1500, 1000, vae), (Size{1024, 688}));
  EXPECT_EQ(transform_size(4000, 3000, vae, 4), (Size{592, 448}));
  EXPECT_EQ(transform_size(100, 60, vae), (Size{848, 512}));
  ImageTransformConfig vlm{14, 378, 980, 2007040};
  EXPECT_EQ(transform_size(2000, 1999, vlm), (Size{980, 980}));
  const Image img = textured(100, 60);
  const Image out = apply_transform(img, vae, true);
  EXPECT_EQ(out.width, 848);
  EXPECT_EQ(out.height, 512);
  EXPECT_THROW(transform_size(0, 10, vae), Error);
  ImageTransformConfig bad{0, 1, 1, 1};
  EXPECT_THROW(bad.validate(), Error);
}

TEST(ProxyTasks, MixtureFollowsWeights) {
  const auto j = config::Json::parse(R"({"tasks": [{"task": "segment"}, {"task": "recon"}], "weights": [3, 1]})");
  const auto cfg = config::from_json<ProxyMixConfig>(j, "mix");
  ProxyMixture mix(cfg, small_instructions());
  ProxySource src;
  src.image = textured(32, 32);
  src.instances = nested(64, 64);
  int64_t seg = 0;
  std::string first_run;
  for (uint64_t s = 0; s < 400; ++s) {
    Rng r(s);
    const auto ex = mix.make(src, r);
    seg += ex.task == "segment";
    if (s < 20) first_run += ex.task[0];
  }
  EXPECT_NEAR(seg / 400.0, 0.75, 0.06);
  std::string again;
  for (uint64_t s = 0; s < 20; ++s) {
    Rng r(s);
    again += mix.make(src, r).task[0];
  }
  EXPECT_EQ(first_run, again);
  ProxyMixConfig bad = cfg;
  bad.weights = {1};
  EXPECT_THROW(bad.validate(), Error);
}

TEST(ProxyTasks, BuiltinInstructionsServeEveryTask) {
  auto instr = std::make_shared<const Instructions>(Instructions::builtin());
  for (const auto& name : proxy_task_names()) {
    ProxyTaskConfig cfg;
    cfg.task = enum_from_name<ProxyTaskKind>(name, "task");
    EXPECT_NO_THROW(make_proxy_task(cfg, instr)) << name;
  }
  Rng rng(1);
  EXPECT_EQ(instr->draw("segment", rng), "Segment instances with different colors.");
}
