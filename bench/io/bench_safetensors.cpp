// Loading a >= 1 GB safetensors file: time to first tensor, time to all tensors and peak RSS, through sgt::io and
// through Python safetensors (load_file and safe_open), each measured in a fresh process; ratios printed.
//   bench_safetensors [--file PATH] [--gb 1.0] [--repeat 3]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "io/tensor_source.h"
#include "io/torch_tensors.h"

namespace {

double rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

double touch(const torch::Tensor& t) { return t.scalar_type() == torch::kBFloat16 ? t.to(torch::kFloat32).sum().item<double>() : t.sum().item<double>(); }

// Our side, in this (fresh) process.
nlohmann::json measure_sgt(const std::string& path) {
  const double base = rss_mb();
  auto t0 = std::chrono::steady_clock::now();
  auto src = sgt::io::TensorSource::open(path);
  auto names = src.names();
  auto t = sgt::io::to_tensor(src.at(names[0]));
  double ready = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double sum = touch(t);
  double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 1; i < names.size(); ++i) sum += touch(sgt::io::to_tensor(src.at(names[i])));
  double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{"ready_s", ready}, {"first_s", first}, {"all_s", all}, {"peak_rss_mb", rss_mb()}, {"base_rss_mb", base}, {"checksum", sum}};
}

nlohmann::json run_json(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) throw std::runtime_error("failed: " + cmd + "\n" + out);
  return nlohmann::json::parse(out.substr(out.rfind('{')));
}

}  // namespace

int main(int argc, char** argv) {
  std::string file = "/tmp/sgt-bench-1gb.safetensors", self = argv[0];
  double gb = 1.0;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--file") file = argv[i + 1];
    if (a == "--gb") gb = std::stod(argv[i + 1]);
    if (a == "--repeat") repeat = std::stoi(argv[i + 1]);
    if (a == "--worker") {
      torch::set_num_threads(1);
      std::printf("%s\n", measure_sgt(argv[i + 1]).dump().c_str());
      return 0;
    }
  }
  const std::string src_dir = SGT_SOURCE_DIR;
  const std::string py = std::string(SGT_PYTHON) + " " + src_dir + "/bench/io/safetensors_ref.py";
  if (!std::filesystem::exists(file)) {
    std::printf("writing %s (%.1f GB) with Python safetensors...\n", file.c_str(), gb);
    run_json(py + " make " + file + " " + std::to_string(gb) + " && echo '{}'");
  }
  std::printf("file: %s (%.2f GB), hot page cache, %d runs each, best time / max RSS, 1 torch thread\n", file.c_str(),
              std::filesystem::file_size(file) / 1e9, repeat);
  struct Row {
    std::string name, cmd;
    double ready = 1e9, first = 1e9, all = 1e9, rss = 0;
  };
  std::vector<Row> rows = {{"sgt (mmap, zero-copy)", self + " --worker " + file},
                           {"python safe_open", "OMP_NUM_THREADS=1 " + py + " safe_open " + file},
                           {"python load_file", "OMP_NUM_THREADS=1 " + py + " load_file " + file}};
  for (int r = 0; r < repeat; ++r) {
    for (auto& row : rows) {
      auto j = run_json(row.cmd);
      row.ready = std::min(row.ready, j["ready_s"].get<double>());
      if (!j["first_s"].is_null()) row.first = std::min(row.first, j["first_s"].get<double>());
      row.all = std::min(row.all, j["all_s"].get<double>());
      row.rss = std::max(row.rss, j["peak_rss_mb"].get<double>() - j["base_rss_mb"].get<double>());
    }
  }
  // ready: open + first tensor object usable (ours is a view of the mapping; Python copies it in);
  // first / all: every byte of the first / all tensors read once (sum), which pages the data in.
  std::printf("%-24s %14s %14s %14s %16s\n", "", "first ready", "first read", "all read", "peak RSS added");
  for (auto& row : rows)
    std::printf("%-24s %12.5f s %12.4f s %12.3f s %13.0f MB\n", row.name.c_str(), row.ready,
                row.first < 1e9 ? row.first : NAN, row.all, row.rss);
  std::printf("ratio safe_open/sgt: first ready %.0fx, first read %.2fx, all read %.2fx\n", rows[1].ready / rows[0].ready,
              rows[1].first / rows[0].first, rows[1].all / rows[0].all);
  std::printf("ratio load_file/sgt: all read %.2fx, peak RSS %.2fx\n", rows[2].all / rows[0].all,
              rows[2].rss / std::max(rows[0].rss, 1.0));
  return 0;
}
