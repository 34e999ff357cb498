// sgt data bench [SHARDS...]: end-to-end loader throughput. Each sample goes through data::Loader with
// --threads decode threads: read from the tar shards, decode the JPEG (RGB), parse the SA-1B JSON (COCO RLE),
// render the proxy target (--task, segment by default: one colour per instance) and resize input and target to
// the training tensor size (BAGEL's ImageTransform: shorter side >= 512, longer <= 1024, multiples of 16; the
// segment target with NEAREST, images bicubic). Prints samples/s, MB/s of shard bytes and samples/s per decode
// thread for every --threads value, and the bad samples by reason (bad samples are skipped, never fatal).
// Without shards it writes a small synthetic world (data/world.h) to a temporary folder first.
// --json adds one machine-readable line per run (bench/data/bench_data_loader.cpp reads it).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data.h"
#include "cli/enum_option.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/proxy_tasks.h"
#include "data/sa1b.h"
#include "data/tar.h"
#include "data/webdataset.h"
#include "data/world.h"

namespace sgt::cli {
namespace {

struct DataBenchArgs {
  std::vector<std::string> shards;
  std::vector<int64_t> threads{1, 2};
  int64_t samples = 0;  // good samples per run; 0: all (one epoch)
  int64_t world_scenes = 48;
  data::ProxyTaskKind task = data::ProxyTaskKind::kSegment;
  data::ImageTransformConfig transform;
  bool json = false, keep = false;
  uint64_t seed = 0;
};

// What one decoded sample leaves behind (the tensors themselves are dropped: the bench measures their making).
struct BenchSample {
  uint64_t in_bytes = 0;    // shard bytes of the sample's members
  uint64_t out_pixels = 0;  // pixels of the resized input + target
};

struct RunResult {
  int64_t threads = 0, samples = 0, bad = 0;
  uint64_t in_bytes = 0, out_pixels = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // user + system time of all threads: robust to other load on the machine
  std::string bad_summary;
};

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

RunResult run_once(const DataBenchArgs& a, const std::vector<std::string>& shards,
                   std::shared_ptr<const data::ProxyTask> task, int64_t threads) {
  data::LoaderConfig cfg;
  cfg.shards = shards;
  cfg.seed = a.seed;
  cfg.decode_threads = threads;
  cfg.shuffle_buffer = 1;  // shard order as given: the same work for every thread count
  cfg.shuffle_shards = false;
  cfg.window = std::max<int64_t>(8, 4 * threads);
  cfg.epochs = 1;
  const data::ImageTransformConfig transform = a.transform;
  const bool nearest_target = task->kind() == data::ProxyTaskKind::kSegment;
  const bool needs_depth = task->kind() == data::ProxyTaskKind::kDepth;
  auto decode = [task, transform, nearest_target, needs_depth](data::WdsSample& s, Rng& rng) -> std::any {
    BenchSample out;
    for (const auto& [ext, v] : s.fields) out.in_bytes += v.size();
    data::ProxySource src;
    src.image = data::convert_channels(data::decode_image(s.at("jpg"), s.url + ":" + s.key), 3);
    if (s.has("json")) {
      const auto& j = s.at("json");
      auto rec = data::parse_sa1b_json(std::string_view(reinterpret_cast<const char*>(j.data()), j.size()),
                                       s.url + ":" + s.key, task->config().max_masks);
      data::check_sa1b_image_size(s.at("jpg"), rec, s.url + ":" + s.key + ".jpg");
      src.instances.reserve(rec.annotations.size());
      for (auto& ann : rec.annotations) src.instances.push_back(std::move(ann.segmentation));
    }
    if (needs_depth && s.has("depth.png")) src.depth = data::decode_image(s.at("depth.png"), s.key + ".depth.png");
    const data::ProxyExample ex = task->make(src, rng);
    const data::Image input = data::apply_transform(ex.input, transform);
    const data::Image target = data::apply_transform(ex.target, transform, nearest_target);
    out.out_pixels = static_cast<uint64_t>(input.width * input.height + target.width * target.height);
    return out;
  };
  RunResult r;
  r.threads = threads;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  {
    data::Loader loader(cfg, decode);
    while (a.samples <= 0 || r.samples < a.samples) {
      auto s = loader.next();
      if (!s) break;
      const auto& b = std::any_cast<const BenchSample&>(s->value);
      ++r.samples;
      r.in_bytes += b.in_bytes;
      r.out_pixels += b.out_pixels;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.bad = loader.bad_samples().total();
    r.bad_summary = loader.bad_samples().summary();
  }  // the loader's threads are joined here, outside the timed part
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  return r;
}

// Removes the synthetic world's temporary folder however the run ends.
struct TempFolder {
  std::string path;
  bool keep = false;
  ~TempFolder() {
    std::error_code ec;
    if (!path.empty() && !keep) std::filesystem::remove_all(path, ec);
  }
};

void run_data_bench(const DataBenchArgs& a) {
  for (const int64_t t : a.threads) SGT_CHECK(t >= 1, "data-bench", "--threads must be >= 1, got {}", t);
  SGT_CHECK(!a.threads.empty(), "data-bench", "--threads needs at least one value");
  a.transform.validate();
  std::vector<std::string> shards = data::expand_shard_list(a.shards);
  SGT_CHECK(a.shards.empty() || !shards.empty(), "data-bench", "the shard patterns {} expand to no shard",
            fmt::join(a.shards, " "));
  TempFolder tmp{"", a.keep};
  if (shards.empty()) {
    SGT_CHECK(a.world_scenes >= 1, "data-bench", "--world-scenes must be >= 1, got {}", a.world_scenes);
    tmp.path = (std::filesystem::temp_directory_path() / fmt::format("sgt-data-bench-{}", ::getpid())).string();
    data::WorldConfig w;
    w.seed = a.seed;
    w.train = a.world_scenes;
    w.heldout = 0;
    w.samples_per_shard = std::max<int64_t>(1, (a.world_scenes + 3) / 4);
    const auto sum = data::write_world(tmp.path, w, 1);
    for (const auto& s : sum.train_shards)  // names relative to the world's folder
      shards.push_back(std::filesystem::path(s).is_absolute() ? s : (std::filesystem::path(tmp.path) / s).string());
    std::printf("wrote a synthetic world of %lld scenes in %zu shards to %s%s\n", static_cast<long long>(sum.scenes),
                shards.size(), tmp.path.c_str(), a.keep ? "" : " (removed afterwards)");
  }
  uint64_t shard_bytes = 0;
  for (const auto& s : shards) {
    const data::ShardUrl url = data::parse_shard_url(s);  // unsupported schemes stop here, naming the pipe: form
    if (url.kind == data::ShardUrl::Kind::kPipe) continue;  // a stream's size is unknown until read
    std::error_code ec;
    const auto n = std::filesystem::file_size(url.target, ec);
    if (ec)
      throw data::BadSampleError(data::BadSampleReason::kMissingShard, "data-bench",
                                 fmt::format("cannot stat shard {}: {}", s, ec.message()));
    shard_bytes += n;
  }
  data::ProxyTaskConfig tcfg;
  tcfg.task = a.task;
  std::shared_ptr<const data::ProxyTask> task =
      data::make_proxy_task(tcfg, std::make_shared<const data::Instructions>(data::Instructions::builtin()));
  std::printf("%zu shard(s), %.1f MB; task %s; resize to shorter side >= %lld, longer <= %lld, stride %lld\n",
              shards.size(), shard_bytes / 1e6, std::string(name_of(a.task)).c_str(), static_cast<long long>(a.transform.min_size),
              static_cast<long long>(a.transform.max_size), static_cast<long long>(a.transform.stride));
  std::printf("%8s %8s %6s %9s %10s %8s %16s %12s  %s\n", "threads", "samples", "bad", "seconds", "samples/s",
              "MB/s", "samples/s/thread", "cpu s/sample", "out Mpx");
  for (const int64_t t : a.threads) {
    const RunResult r = run_once(a, shards, task, t);
    const double sps = r.seconds > 0 ? r.samples / r.seconds : 0.0;
    const double mbs = r.seconds > 0 ? r.in_bytes / 1e6 / r.seconds : 0.0;
    std::printf("%8lld %8lld %6lld %9.3f %10.2f %8.2f %16.2f %12.4f  %.2f\n", static_cast<long long>(t),
                static_cast<long long>(r.samples), static_cast<long long>(r.bad), r.seconds, sps, mbs, sps / t,
                r.samples > 0 ? r.cpu_seconds / r.samples : 0.0, r.out_pixels / 1e6);
    std::printf("  %s\n", r.bad_summary.c_str());
    SGT_CHECK(r.samples > 0, "data-bench", "the loader gave no sample from {} shard(s) ({}): {}", shards.size(),
              fmt::join(shards.begin(), shards.begin() + std::min<size_t>(3, shards.size()), ", "), r.bad_summary);
    if (a.json) {
      nlohmann::ordered_json j{{"threads", t},        {"samples", r.samples},   {"bad", r.bad},
                               {"seconds", r.seconds}, {"cpu_seconds", r.cpu_seconds}, {"in_bytes", r.in_bytes},
                               {"out_pixels", r.out_pixels}};
      std::printf("%s\n", j.dump().c_str());
    }
    std::fflush(stdout);
  }
}

}  // namespace

void register_data_bench(CLI::App& app) {
  auto args = std::make_shared<DataBenchArgs>();
  auto* cmd = data_command(app)->add_subcommand(
      "bench", "Loader throughput: decode + proxy target + resize to training size, per decode-thread count");
  cmd->add_option("shards", args->shards,
                  "tar shards with jpg + SA-1B json (brace patterns allowed); none: a synthetic world in a temp dir");
  cmd->add_option("--threads", args->threads, "decode threads of each run (e.g. --threads 1,2)")->delimiter(',');
  cmd->add_option("--samples", args->samples, "good samples per run (default: all, one epoch)");
  add_enum_option(cmd, "--task", args->task, "proxy task of the target");
  cmd->add_option("--min-size", args->transform.min_size, "shorter side of the training size, at least");
  cmd->add_option("--max-size", args->transform.max_size, "longer side of the training size, at most");
  cmd->add_option("--world-scenes", args->world_scenes, "scenes of the synthetic world written when no shards given");
  cmd->add_option("--seed", args->seed, "seed of the world and of the per-sample colour streams");
  cmd->add_flag("--json", args->json, "also print one JSON line per run");
  cmd->add_flag("--keep", args->keep, "keep the synthetic world's temporary folder");
  cmd->callback([args] { run_data_bench(*args); });
}

}  // namespace sgt::cli
