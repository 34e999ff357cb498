// sgt env: what this build and machine offer (versions, threads, CUDA devices and their memory).
#include <cstdio>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "cli/commands.h"
#include "core/assets.h"
#include "core/env.h"

#ifdef SGT_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace sgt::cli {
namespace {

void run_env() {
  std::printf("sgt 0.1.0, libtorch %s\n", TORCH_VERSION);
#ifdef SGT_WITH_CUDA
  std::printf("built with CUDA code paths: yes\n");
#else
  std::printf("built with CUDA code paths: no (configure with -DSGT_WITH_CUDA=ON)\n");
#endif
  std::printf("intra-op threads: %d, rank %d of %d (local %d)\n", at::get_num_threads(), env::rank(),
              env::world_size(), env::local_rank());
  // Where the shipped data files come from (assets/README.md): the first folder listed that holds a file wins.
  const auto roots = asset_roots();
  std::printf("assets folders: %s\n", roots.empty() ? "none found (set SGT_ASSETS_DIR)" : "");
  for (const auto& r : roots) std::printf("  %s (%s)\n", r.dir.c_str(), r.origin.c_str());
  const auto tok = find_asset(kDefaultTokenizerAsset);
  std::printf("default tokenizer: %s\n", tok ? (tok->path + " (" + tok->origin + ")").c_str() : "not found");
  const bool cuda = torch::cuda::is_available();
  std::printf("CUDA available: %s, devices: %d\n", cuda ? "yes" : "no", cuda ? static_cast<int>(torch::cuda::device_count()) : 0);
#ifdef SGT_WITH_CUDA
  for (int i = 0; cuda && i < static_cast<int>(torch::cuda::device_count()); ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    std::printf("  cuda:%d %s, %.1f GiB, %d SMs, sm_%d%d\n", i, p->name, p->totalGlobalMem / double(1 << 30),
                p->multiProcessorCount, p->major, p->minor);
  }
#endif
}

}  // namespace

void register_env(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "Print versions, threads, the assets folder and the CUDA devices this build can use");
  cmd->callback([] { run_env(); });
}

}  // namespace sgt::cli
