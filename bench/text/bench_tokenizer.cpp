// Encode throughput of text::Tokenizer against HF tokenizers (Rust, through Python) and tiktoken (with the Qwen ranks
// and pattern) on the same corpus, on 1 thread and on 2. Prints MB/s and the ratio ours / reference (> 1: faster).
// Usage: bench_tokenizer [corpus.jsonl] [repeat=3]   (without a corpus, tools/text_corpus.py builds the 7 MB one)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/testing.h"
#include "text/tokenizer.h"

using sgt::text::Tokenizer;

namespace {

double reference(const std::string& engine, const std::string& tok, const std::string& corpus, int threads,
                 int repeat) {
  const auto r = sgt::testing::run_python_tool("text_bench.py",
                                               {"--tokenizer", tok, "--corpus", corpus, "--engine", engine, "--threads",
                                                std::to_string(threads), "--repeat", std::to_string(repeat)});
  const auto pos = r.output.find("mb_per_s=");
  if (r.exit_code != 0 || pos == std::string::npos) {
    std::fprintf(stderr, "%s reference failed:\n%s\n", engine.c_str(), r.output.c_str());
    std::exit(1);
  }
  return std::atof(r.output.c_str() + pos + 9);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tok = sgt::testing::asset("qwen-tokenizer/tokenizer.json");
  std::string corpus = argc > 1 ? argv[1] : "";
  const int repeat = argc > 2 ? std::atoi(argv[2]) : 3;
  if (corpus.empty()) {
    corpus = sgt::testing::binary_dir() + "/bench_tokenizer_corpus.jsonl";
    const auto r = sgt::testing::run_python_tool("text_corpus.py", {"--out", corpus, "--tokenizer", tok});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "corpus generation failed:\n%s\n", r.output.c_str());
      return 1;
    }
  }
  std::vector<std::string> docs;
  {
    std::ifstream in(corpus, std::ios::binary);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) docs.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  double mb = 0;
  for (const auto& d : docs) mb += d.size() / 1e6;

  auto t0 = std::chrono::steady_clock::now();
  const Tokenizer t = Tokenizer::load(tok);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto best_of = [&](auto&& run) {
    double best = 1e30;
    for (int i = 0; i < repeat; ++i) {
      const auto s = std::chrono::steady_clock::now();
      run();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
    }
    return mb / best;
  };
  size_t ids = 0;
  const double ours1 = best_of([&] {
    ids = 0;
    std::vector<sgt::text::TokenId> out;
    for (const auto& d : docs) {
      out.clear();
      t.encode_into(d, out);
      ids += out.size();
    }
  });
  const double ours2 = best_of([&] { (void)t.encode_batch(docs, {}, 2); });
  const double hf1 = reference("hf", tok, corpus, 1, repeat), hf2 = reference("hf", tok, corpus, 2, repeat);
  const double tt1 = reference("tiktoken", tok, corpus, 1, repeat), tt2 = reference("tiktoken", tok, corpus, 2, repeat);
  std::printf("corpus %s: %zu documents, %.2f MB, %zu ids; tokenizer load %.2f s\n", corpus.c_str(), docs.size(), mb,
              ids, load_s);
  std::printf("%-22s %10s %10s %8s\n", "engine", "1 thread", "2 threads", "scaling");
  std::printf("%-22s %7.2f MB/s %7.2f MB/s %7.2fx\n", "sgt (C++)", ours1, ours2, ours2 / ours1);
  std::printf("%-22s %7.2f MB/s %7.2f MB/s %7.2fx\n", "HF tokenizers", hf1, hf2, hf2 / hf1);
  std::printf("%-22s %7.2f MB/s %7.2f MB/s %7.2fx\n", "tiktoken", tt1, tt2, tt2 / tt1);
  std::printf("ours / HF tokenizers: %.2fx (1 thread), %.2fx (2 threads); ours / tiktoken: %.2fx, %.2fx\n", ours1 / hf1,
              ours2 / hf2, ours1 / tt1, ours2 / tt2);
  return 0;
}
