#include "core/launch.h"

#include "core/env.h"
#include "core/error.h"

namespace sgt {

namespace {

constexpr const char* kComp = "launch";

int64_t required_int(const char* name, const char* launcher) {
  SGT_CHECK(env::get(name).has_value(), kComp, "{} launch: environment variable {} is not set", launcher, name);
  return env::get_int(name, 0);
}

// The variables that name a process's place in the launch, per launcher.
struct LauncherVars {
  const char *launcher, *rank, *world_size, *local_rank;
};
constexpr LauncherVars kTorchrun{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"};
constexpr LauncherVars kSlurm{"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"};

// torchrun once RANK or WORLD_SIZE is set, else Slurm once SLURM_PROCID is; null: a single process.
const LauncherVars* detect_launcher() {
  if (env::get("RANK") || env::get("WORLD_SIZE")) return &kTorchrun;
  if (env::get("SLURM_PROCID")) return &kSlurm;
  return nullptr;
}

}  // namespace

LaunchEnv launch_env() {
  LaunchEnv e;
  const LauncherVars* vars = detect_launcher();
  if (vars) {
    e.launcher = vars->launcher;
    e.rank = required_int(vars->rank, vars->launcher);
    e.world_size = required_int(vars->world_size, vars->launcher);
    e.local_rank = env::get_int(vars->local_rank, 0);
  }
  if (vars == &kTorchrun) {
    e.agent_store = env::get("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    e.restart_count = env::get_int("TORCHELASTIC_RESTART_COUNT", 0);
    const int64_t local_world = env::get_int("LOCAL_WORLD_SIZE", e.world_size);
    SGT_CHECK(e.local_rank >= 0 && e.local_rank < local_world, kComp,
              "LOCAL_RANK={} is outside [0, LOCAL_WORLD_SIZE={})", e.local_rank, local_world);
    if (e.world_size > 1) {
      auto addr = env::get("MASTER_ADDR");
      SGT_CHECK(addr.has_value(), kComp, "torchrun launch with WORLD_SIZE > 1: MASTER_ADDR is not set");
      e.master_addr = *addr;
      e.master_port = required_int("MASTER_PORT", "torchrun");
    }
  } else if (vars == &kSlurm) {
    e.restart_count = env::get_int("SLURM_RESTART_COUNT", 0);
    if (e.world_size > 1) {
      // SLURM_LAUNCH_NODE_IPADDR is the node srun ran on: inside sbatch that is the batch host, which runs task 0.
      auto addr = env::get("MASTER_ADDR");
      if (!addr) addr = env::get("SLURM_LAUNCH_NODE_IPADDR");
      SGT_CHECK(addr.has_value(), kComp,
                "slurm launch with SLURM_NTASKS > 1: set MASTER_ADDR (the node of task 0); "
                "SLURM_LAUNCH_NODE_IPADDR is not set either");
      e.master_addr = *addr;
      e.master_port = env::get_int("MASTER_PORT", 29500);
    }
  }
  SGT_CHECK(e.world_size >= 1, kComp, "{}: world size {} must be at least 1", e.launcher, e.world_size);
  SGT_CHECK(e.rank >= 0 && e.rank < e.world_size, kComp, "{}: rank {} is outside [0, world size {})", e.launcher,
            e.rank, e.world_size);
  SGT_CHECK(e.local_rank >= 0 && e.local_rank <= e.rank, kComp, "{}: local rank {} is not in [0, rank {}]",
            e.launcher, e.local_rank, e.rank);
  SGT_CHECK(e.master_port > 0 && e.master_port < 65536, kComp, "{}: MASTER_PORT {} is not a TCP port", e.launcher,
            e.master_port);
  SGT_CHECK(!e.master_addr.empty(), kComp, "{}: MASTER_ADDR is empty", e.launcher);
  return e;
}

LaunchEnv launch_env_or_single() {
  try {
    return launch_env();
  } catch (const Error&) {
  }
  // A partial launch (RANK without MASTER_ADDR, SLURM_PROCID alone, ...): the same variables, each read on its
  // own, so that logging still knows which rank it is on before the trainer reports what is missing.
  LaunchEnv e;
  auto read = [](const char* name, int64_t fallback) {
    try {
      return env::get_int(name, fallback);
    } catch (const Error&) {
      return fallback;
    }
  };
  if (const LauncherVars* vars = detect_launcher()) {
    e.launcher = vars->launcher;
    e.rank = read(vars->rank, 0);
    e.world_size = read(vars->world_size, 1);
    e.local_rank = read(vars->local_rank, 0);
  }
  return e;
}

}  // namespace sgt
