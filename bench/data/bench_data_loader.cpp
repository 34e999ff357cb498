// The SA-1B sample pipeline through the whole loader, ours vs the Python reference loader, on the same tar shards:
// read the shard, decode the 1500 x 2250 JPEG, parse ~100 RLE masks, render the colour-per-instance target and
// resize image (bicubic) and target (nearest) to BAGEL's training size (1024 x 688 here).
//   ours:   `sgt data bench SHARDS --threads 1,2 --json` (data::Loader with 1 and 2 decode threads)
//   python: tools/data_bench.py loader: webdataset.WebDataset -> PIL + json + pycocotools + numpy -> PIL resize,
//           through torch.utils.data.DataLoader with num_workers 0 (main process), 1 and 2
// Both sides report the pixels they produced; equal totals show that they made the same tensor sizes.
//   bench_data_loader [--dir DIR] [--samples 8] [--per-shard 2] [--repeat 1]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace {

std::string run(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  SGT_CHECK(p, "bench", "cannot run {}", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  SGT_CHECK(pclose(p) == 0, "bench", "{} failed:\n{}", cmd, out);
  return out;
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    if (out[pos] == '{') v.push_back(nlohmann::json::parse(out.substr(pos, end - pos)));
    pos = end + 1;
  }
  return v;
}

struct Row {
  std::string name;
  int64_t samples = 0, bad = 0, out_pixels = 0;
  double seconds = 0, cpu_seconds = 0;  // wall; user + system of all threads / processes
  double rate() const { return seconds > 0 ? samples / seconds : 0; }
  double cpu_rate() const { return cpu_seconds > 0 ? samples / cpu_seconds : 0; }
};

}  // namespace

int main(int argc, char** argv) try {
  std::string dir = "/tmp/sgt_bench_data_loader";
  int64_t samples = 8, per_shard = 2, repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--dir") dir = val();
    else if (a == "--samples") samples = std::stoll(val());
    else if (a == "--per-shard") per_shard = std::stoll(val());
    else if (a == "--repeat") repeat = std::stoll(val());
    else SGT_FAIL("bench", "unknown argument {}", a);
  }
  const std::string py = fmt::format("'{}' '{}/tools/data_bench.py'", SGT_PYTHON, SGT_SOURCE_DIR);
  const std::string raw = dir + "/raw", shard_dir = dir + "/shards";
  int64_t have = 0;
  if (std::filesystem::is_directory(raw))
    for (const auto& e : std::filesystem::directory_iterator(raw)) have += e.path().extension() == ".jpg";
  if (have != samples) {
    std::filesystem::remove_all(dir);
    std::printf("making %lld SA-1B-style samples in %s ...\n", static_cast<long long>(samples), raw.c_str());
    run(fmt::format("{} make '{}' {}", py, raw, samples));
  }
  std::filesystem::remove_all(shard_dir);
  run(fmt::format("{} shards '{}' '{}' {}", py, raw, shard_dir, per_shard));
  std::vector<std::string> shards;
  for (const auto& e : std::filesystem::directory_iterator(shard_dir)) shards.push_back(e.path().string());
  std::sort(shards.begin(), shards.end());
  std::string shard_args;
  for (const auto& s : shards) shard_args += " '" + s + "'";

  std::vector<Row> rows;
  auto keep_best = [&](Row r) {  // best of --repeat runs per configuration
    for (auto& x : rows)
      if (x.name == r.name) {
        if (r.seconds < x.seconds) x = r;
        return;
      }
    rows.push_back(r);
  };
  const std::string sgt = fmt::format("'{}/bin/sgt'", SGT_BINARY_DIR);
  run(fmt::format("{} data bench{} --threads 1 --samples 2", sgt, shard_args));  // warm the page cache
  for (int64_t rep = 0; rep < repeat; ++rep) {
    for (const auto& j : json_lines(run(fmt::format("{} data bench{} --threads 1,2 --json", sgt, shard_args))))
      keep_best({fmt::format("sgt loader, {} decode thread(s)", j["threads"].get<int64_t>()),
                 j["samples"].get<int64_t>(), j["bad"].get<int64_t>(), j["out_pixels"].get<int64_t>(),
                 j["seconds"].get<double>(), j["cpu_seconds"].get<double>()});
    for (int workers = 0; workers <= 2; ++workers) {
      const auto j = nlohmann::json::parse(run(fmt::format("{} loader {} 0{}", py, workers, shard_args)));
      keep_best({fmt::format("python DataLoader, num_workers={}", workers), j["samples"].get<int64_t>(), 0,
                 j["out_pixels"].get<int64_t>(), j["seconds"].get<double>(), j["cpu_seconds"].get<double>()});
    }
  }
  std::printf("%zu shards, %lld samples; best of %lld\n", shards.size(), static_cast<long long>(samples),
              static_cast<long long>(repeat));
  std::printf("%-36s %8s %5s %9s %10s %9s %13s %12s\n", "loader", "samples", "bad", "seconds", "samples/s",
              "cpu s", "samples/cpu-s", "out pixels");
  for (const auto& r : rows)
    std::printf("%-36s %8lld %5lld %9.3f %10.3f %9.3f %13.3f %12lld\n", r.name.c_str(),
                static_cast<long long>(r.samples), static_cast<long long>(r.bad), r.seconds, r.rate(), r.cpu_seconds,
                r.cpu_rate(), static_cast<long long>(r.out_pixels));
  // rows: sgt 1, sgt 2, python 0, python 1, python 2
  SGT_CHECK(rows.size() == 5, "bench", "expected 5 configurations, got {}", rows.size());
  bool same = true;
  for (const auto& r : rows) same = same && r.out_pixels == rows[0].out_pixels && r.samples == rows[0].samples;
  std::printf("same samples and output sizes on both sides: %s\n", same ? "yes" : "NO");
  std::printf("ratio, 1 core:  sgt 1 thread / python num_workers=0: %.1fx; / num_workers=1: %.1fx\n",
              rows[0].rate() / rows[2].rate(), rows[0].rate() / rows[3].rate());
  std::printf("ratio, 2 cores: sgt 2 threads / python num_workers=2: %.1fx\n", rows[1].rate() / rows[4].rate());
  std::printf("ratio of samples per CPU-second (robust to other load): sgt 1 thread / python num_workers=0: %.1fx; "
              "sgt 2 threads / python num_workers=2: %.1fx\n",
              rows[0].cpu_rate() / rows[2].cpu_rate(), rows[1].cpu_rate() / rows[4].cpu_rate());
  return same ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_data_loader: %s\n", e.what());
  return 1;
}
