#pragma once
// Data-parallel communication for training: the launch environment (torchrun / Slurm) and a thin wrapper over a
// c10d process group (Gloo on CPU, NCCL on CUDA when built with SGT_WITH_CUDA). docs/distributed.md has the
// launch recipes, the env variables and the sharding scheme.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/enum_names.h"
#include "core/launch.h"

namespace sgt::train {

// The launch environment (core/launch.h) under the name the distributed code has always used.
using DistEnv = LaunchEnv;
inline DistEnv dist_env_from_environment() { return launch_env(); }

// The device a process trains on: "cuda" -> the GPU of its local rank (torchrun's LOCAL_RANK, Slurm's
// SLURM_LOCALID), "cpu" -> the CPU. The model, the optimizer state and the process group all use this one.
enum class TrainDevice { kCpu, kCuda };
constexpr auto enum_names(TrainDevice) {
  return std::array{EnumName{TrainDevice::kCpu, "cpu"}, EnumName{TrainDevice::kCuda, "cuda"}};
}
torch::Device training_device(TrainDevice device, const LaunchEnv& env);
torch::Device training_device(const std::string& device, const LaunchEnv& env);  // by name

class Dist {
 public:
  // world_size 1: no store, no sockets, every collective is a no-op. Otherwise rendezvous through a TCPStore and a
  // Gloo (CPU device) or NCCL (CUDA device) backend. `timeout` bounds the rendezvous and every collective: a peer
  // that dies makes the survivors throw sgt::Error naming the collective instead of hanging.
  static std::shared_ptr<Dist> create(const DistEnv& env, torch::Device device, std::chrono::seconds timeout);
  ~Dist();

  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_size_; }
  torch::Device device() const { return device_; }
  const std::string& backend_name() const { return backend_name_; }

  void all_reduce_sum(torch::Tensor& t);                // in place
  void all_reduce_sum(std::vector<torch::Tensor>& ts);  // in place, one collective per tensor
  double sum(double x);                                 // scalar all-reduce in float64
  void broadcast(torch::Tensor& t, int64_t root);
  void barrier();
  // input [world_size * n] -> output [n]: output = sum over ranks of input[rank * n : (rank + 1) * n].
  void reduce_scatter_sum(torch::Tensor& output, torch::Tensor& input);
  // input [n] -> output [world_size * n], rank r's input at [r * n, (r + 1) * n).
  void all_gather(torch::Tensor& output, torch::Tensor& input);

 private:
  Dist(int64_t rank, int64_t world_size, torch::Device device);  // out of line: Impl is incomplete here
  void check_tensor(const torch::Tensor& t, const char* op) const;

  int64_t rank_, world_size_;
  torch::Device device_;
  std::string backend_name_ = "none";
  std::chrono::milliseconds timeout_{0};
  // The store and the backend; behind a pointer so that this header stays free of c10d's headers.
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sgt::train
