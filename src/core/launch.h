#pragma once
// The launch environment of a process, read in one place (docs/distributed.md): torchrun sets RANK / WORLD_SIZE /
// LOCAL_RANK / MASTER_ADDR / MASTER_PORT, Slurm's srun SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID (with
// MASTER_ADDR or SLURM_LAUNCH_NODE_IPADDR, and MASTER_PORT); otherwise the process runs alone. The rank, the local
// rank (which GPU a process takes) and the world size of training, logging and progress all come from here.
#include <cstdint>
#include <string>

namespace sgt {

struct LaunchEnv {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string launcher = "single";  // single | torchrun | slurm
  // torchrun's agent already hosts the TCPStore at master_addr:master_port (TORCHELASTIC_USE_AGENT_STORE=True):
  // every rank is then a client; otherwise rank 0 hosts it.
  bool agent_store = false;
  int64_t restart_count = 0;  // TORCHELASTIC_RESTART_COUNT / SLURM_RESTART_COUNT: keeps a restart's keys apart
};

// Inconsistent or partial values throw sgt::Error naming the variable.
LaunchEnv launch_env();
// The same without throwing (logging and progress bars decide with it before anything checks the launch): a
// partial or inconsistent environment gives each variable that reads as an integer, the defaults otherwise.
LaunchEnv launch_env_or_single();

}  // namespace sgt
