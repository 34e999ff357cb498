// SA-1B-style sample pipeline, ours vs Python (PIL + pycocotools + numpy, tools/data_bench.py) on the same files:
// read jpg + json, decode the 1500 x 2250 JPEG, parse ~100 RLE masks, render the colour-per-instance target
// (largest mask first, colour = palette(rank)), resize image (BICUBIC) and target (NEAREST) to a shorter side
// of 512. Both sides print a checksum of the outputs; they agree when the pixels agree.
//   bench_data [--dir DIR] [--samples 3] [--side 512] [--threads 2] [--skip-python]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "data/resize.h"
#include "data/rle.h"
#include "core/error.h"
#include "data/sa1b.h"

namespace {
using namespace sgt::data;

std::array<uint8_t, 3> palette(uint64_t k) {
  const uint64_t h = (k + 1) * 2654435761ull % (1ull << 32);
  return {uint8_t(h & 255), uint8_t((h >> 8) & 255), uint8_t((h >> 16) & 255)};
}

// One sample; returns the checksum (sum of all output bytes), as data_bench.py does.
uint64_t process(const std::string& jpg_path, int64_t side, bool dct) {
  Sa1bRaw raw;
  raw.key = jpg_path;
  raw.jpg = read_file_bytes(jpg_path);
  raw.json = read_file_bytes(jpg_path.substr(0, jpg_path.size() - 4) + ".json");
  const ImageInfo info = probe_image(raw.jpg, jpg_path);
  const int64_t full_w = info.width, full_h = info.height;
  int64_t ow, oh;  // shorter side = side, rounding half to even like Python's round()
  if (full_w <= full_h) {
    ow = side, oh = static_cast<int64_t>(std::nearbyint(double(full_h) * side / full_w));
  } else {
    ow = static_cast<int64_t>(std::nearbyint(double(full_w) * side / full_h)), oh = side;
  }
  Sa1bSample s = decode_sa1b(raw, dct ? side : 0);
  const int64_t h = s.record.image.height, w = s.record.image.width;
  // Instance ids in a column-major [w, h] map: each RLE run is one contiguous fill.
  auto& anns = s.record.annotations;
  std::stable_sort(anns.begin(), anns.end(), [](const SaAnnotation& a, const SaAnnotation& b) { return a.area > b.area; });
  std::vector<uint16_t> ids(static_cast<size_t>(w * h), 0);
  for (size_t k = 0; k < anns.size(); ++k) rle_fill_colmajor(anns[k].segmentation, ids.data(), uint16_t(k + 1));
  // NEAREST straight from the id map (the same pixels PIL's NEAREST picks from the full-size target).
  const Image image = resize_bicubic(s.image, ow, oh);
  Image target(ow, oh, 3);
  {
    const double a0 = double(w) / ow, a4 = double(h) / oh;
    std::vector<int64_t> xin(static_cast<size_t>(ow));
    double xo = a0 * 0.5;
    for (int64_t x = 0; x < ow; ++x, xo += a0) xin[x] = std::min<int64_t>(int64_t(xo), w - 1);
    double yo = a4 * 0.5;
    for (int64_t y = 0; y < oh; ++y, yo += a4) {
      const int64_t yi = std::min<int64_t>(int64_t(yo), h - 1);
      uint8_t* dst = target.row(y);
      for (int64_t x = 0; x < ow; ++x) {
        const uint16_t id = ids[static_cast<size_t>(xin[x] * h + yi)];
        if (id) {
          const auto c = palette(id - 1);
          std::memcpy(dst + x * 3, c.data(), 3);
        }
      }
    }
  }
  uint64_t sum = 0;
  for (uint8_t v : image.pixels) sum += v;
  for (uint8_t v : target.pixels) sum += v;
  return sum;
}

struct Result {
  double seconds = 0;
  uint64_t checksum = 0;
};

Result run_ours(const std::vector<std::string>& files, int64_t side, bool dct, int threads) {
  std::atomic<size_t> next{0};
  std::vector<uint64_t> sums(files.size());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < files.size();) sums[i] = process(files[i], side, dct);
    });
  for (auto& t : pool) t.join();
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto s : sums) r.checksum += s;
  return r;
}

Result run_python(const std::string& dir, int procs, int64_t side, bool draft) {
  const std::string cmd = fmt::format("'{}' '{}/tools/data_bench.py' run '{}' {} {} {}", SGT_PYTHON, SGT_SOURCE_DIR,
                                      dir, procs, side, draft ? 1 : 0);
  FILE* p = popen(cmd.c_str(), "r");
  SGT_CHECK(p, "bench", "cannot run {}", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  SGT_CHECK(pclose(p) == 0, "bench", "{} failed: {}", cmd, out);
  const auto j = nlohmann::json::parse(out);
  return {j["seconds"].get<double>(), j["checksum"].get<uint64_t>()};
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir = "/tmp/sgt_bench_data";
  int64_t samples = 3, side = 512;
  int threads = 2;
  bool skip_python = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--dir") dir = val();
    else if (a == "--samples") samples = std::stoll(val());
    else if (a == "--side") side = std::stoll(val());
    else if (a == "--threads") threads = std::stoi(val());
    else if (a == "--skip-python") skip_python = true;
    else SGT_FAIL("bench", "unknown argument {}", a);
  }
  std::vector<std::string> files;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  if (static_cast<int64_t>(files.size()) != samples) {
    std::filesystem::remove_all(dir);
    const std::string cmd =
        fmt::format("'{}' '{}/tools/data_bench.py' make '{}' {}", SGT_PYTHON, SGT_SOURCE_DIR, dir, samples);
    std::printf("making %lld samples in %s ...\n", static_cast<long long>(samples), dir.c_str());
    SGT_CHECK(std::system(cmd.c_str()) == 0, "bench", "{} failed", cmd);
    files.clear();
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  run_ours(files, side, false, 1);  // warm the page cache
  std::printf("%-34s %10s %10s %14s\n", "pipeline", "seconds", "samples/s", "checksum");
  auto row = [&](const char* name, const Result& r) {
    std::printf("%-34s %10.3f %10.3f %14llu\n", name, r.seconds, files.size() / r.seconds,
                static_cast<unsigned long long>(r.checksum));
    return files.size() / r.seconds;
  };
  const double o1 = row("sgt, 1 thread", run_ours(files, side, false, 1));
  const double o2 = row(fmt::format("sgt, {} threads", threads).c_str(), run_ours(files, side, false, threads));
  const double d1 = row("sgt + DCT scaling, 1 thread", run_ours(files, side, true, 1));
  const double d2 =
      row(fmt::format("sgt + DCT scaling, {} threads", threads).c_str(), run_ours(files, side, true, threads));
  if (skip_python) return 0;
  const double p1 = row("python, 1 process", run_python(dir, 1, side, false));
  const double p2 = row(fmt::format("python, {} processes", threads).c_str(), run_python(dir, threads, side, false));
  const double q1 = row("python + draft, 1 process", run_python(dir, 1, side, true));
  std::printf("ratio per core: %.1fx (full decode), %.1fx (DCT scaling vs PIL draft)\n", o1 / p1, d1 / q1);
  std::printf("ratio with %d workers: %.1fx (full decode); sgt+DCT vs python full decode: %.1fx\n", threads, o2 / p2,
              d2 / p2);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_data: %s\n", e.what());
  return 1;
}
