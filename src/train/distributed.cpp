// Launch environment and the c10d process-group wrapper (docs/distributed.md).
// Gloo's own headers come from Debian's libgloo-dev: the PyPI wheel ships ProcessGroupGloo.hpp but not the
// gloo/*.h files it includes. We only touch gloo types through pointers (devices, contexts), and libtorch_cpu
// carries its own compiled gloo, so the header version only has to declare the same names (checked by the tests).
#define USE_C10D_GLOO 1
#include "train/distributed.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#if defined(SGT_WITH_CUDA)
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <sstream>

#include "core/env.h"
#include "core/error.h"

namespace sgt::train {

namespace {

constexpr const char* kComp = "dist";


// The first line of an exception text: c10 messages carry multi-line backtraces, our errors are one line.
std::string first_line(const std::exception& e) {
  std::string s;
  if (auto* ce = dynamic_cast<const c10::Error*>(&e))
    s = ce->what_without_backtrace();
  else
    s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

torch::Device training_device(const std::string& device, const LaunchEnv& env) {
  return training_device(enum_from_name<TrainDevice>(device, "device"), env);
}

torch::Device training_device(TrainDevice device, const LaunchEnv& env) {
  if (device == TrainDevice::kCpu) return torch::kCPU;
  SGT_CHECK(env.local_rank >= 0 && env.local_rank < 65536, kComp, "{}: local rank {} is not a device index",
            env.launcher, env.local_rank);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
}

struct Dist::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;

  // Runs one collective and waits for it; any failure (peer gone, timeout) becomes an sgt::Error naming it.
  template <class F>
  void run(const Dist& d, const char* op, F&& start) {
    try {
      auto work = start();
      work->wait(d.timeout_);
    } catch (const std::exception& e) {
      SGT_FAIL(kComp, "{} failed on rank {} of {} ({} backend, timeout {} s): {} - a peer process probably died",
               op, d.rank_, d.world_size_, d.backend_name_, d.timeout_.count() / 1000, first_line(e));
    }
  }
};

Dist::Dist(int64_t rank, int64_t world_size, torch::Device device)
    : rank_(rank), world_size_(world_size), device_(device) {}

Dist::~Dist() = default;

std::shared_ptr<Dist> Dist::create(const DistEnv& env, torch::Device device, std::chrono::seconds timeout) {
  SGT_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size, kComp,
            "rank {} / world size {} is not a valid process", env.rank, env.world_size);
  SGT_CHECK(timeout.count() > 0, kComp, "timeout must be positive, got {} s", timeout.count());
  SGT_CHECK(device.is_cpu() || device.is_cuda(), kComp, "device {} is neither CPU nor CUDA", device.str());
  std::shared_ptr<Dist> d(new Dist(env.rank, env.world_size, device));
  d->timeout_ = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (env.world_size == 1) return d;

  d->impl_ = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = !env.agent_store && env.rank == 0;
    so.numWorkers = std::nullopt;  // the backend's own rendezvous waits for every rank
    so.waitWorkers = false;
    so.multiTenant = true;
    so.timeout = d->timeout_;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    d->impl_->store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("sgt/{}", env.restart_count), tcp);
  } catch (const std::exception& e) {
    SGT_FAIL(kComp, "cannot reach the TCP store at {}:{} from rank {} of {} ({} launch): {}", env.master_addr,
             env.master_port, env.rank, env.world_size, env.launcher, first_line(e));
  }

  try {
    if (device.is_cpu()) {
      auto opts = c10d::ProcessGroupGloo::Options::create(d->timeout_);
      // GLOO_SOCKET_IFNAME=eth0,eth1 picks interfaces (as in PyTorch); otherwise the host name's address.
      if (auto ifs = sgt::env::get("GLOO_SOCKET_IFNAME")) {
        std::stringstream ss(*ifs);
        for (std::string name; std::getline(ss, name, ',');)
          if (!name.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      d->impl_->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(
          d->impl_->store, static_cast<int>(env.rank), static_cast<int>(env.world_size), opts);
      d->backend_name_ = "gloo";
    } else {
#if defined(SGT_WITH_CUDA)
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = d->timeout_;
      d->impl_->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          d->impl_->store, static_cast<int>(env.rank), static_cast<int>(env.world_size), opts);
      d->backend_name_ = "nccl";
#else
      SGT_FAIL(kComp, "device {} needs NCCL: rebuild with -DSGT_WITH_CUDA=ON", device.str());
#endif
    }
  } catch (const sgt::Error&) {
    throw;
  } catch (const std::exception& e) {
    SGT_FAIL(kComp, "rendezvous of rank {} of {} through {}:{} failed within {} s: {}", env.rank, env.world_size,
             env.master_addr, env.master_port, timeout.count(), first_line(e));
  }
  return d;
}

void Dist::check_tensor(const torch::Tensor& t, const char* op) const {
  SGT_CHECK(t.defined(), kComp, "{}: undefined tensor", op);
  SGT_CHECK(t.device() == device_, kComp, "{}: tensor on {} but the process group works on {}", op,
            t.device().str(), device_.str());
  SGT_CHECK(t.is_contiguous(), kComp, "{}: tensor of shape {} is not contiguous", op, shape_str(t.sizes().vec()));
}

void Dist::all_reduce_sum(torch::Tensor& t) {
  check_tensor(t, "all_reduce");
  if (world_size_ == 1) return;
  std::vector<torch::Tensor> v{t};
  impl_->run(*this, "all_reduce", [&] { return impl_->backend->allreduce(v, c10d::AllreduceOptions()); });
}

void Dist::all_reduce_sum(std::vector<torch::Tensor>& ts) {
  for (auto& t : ts) all_reduce_sum(t);
}

double Dist::sum(double x) {
  if (world_size_ == 1) return x;
  auto t = torch::full({1}, x, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  all_reduce_sum(t);
  return t.item<double>();
}

void Dist::broadcast(torch::Tensor& t, int64_t root) {
  check_tensor(t, "broadcast");
  SGT_CHECK(root >= 0 && root < world_size_, kComp, "broadcast: root {} is outside [0, {})", root, world_size_);
  if (world_size_ == 1) return;
  std::vector<torch::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->run(*this, "broadcast", [&] { return impl_->backend->broadcast(v, o); });
}

void Dist::barrier() {
  if (world_size_ == 1) return;
  // A barrier as a one-element all-reduce: c10d's Gloo barrier has no device, and this fails the same way.
  auto t = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  std::vector<torch::Tensor> v{t};
  impl_->run(*this, "barrier", [&] { return impl_->backend->allreduce(v, c10d::AllreduceOptions()); });
}

void Dist::reduce_scatter_sum(torch::Tensor& output, torch::Tensor& input) {
  check_tensor(output, "reduce_scatter");
  check_tensor(input, "reduce_scatter");
  SGT_CHECK(input.numel() == output.numel() * world_size_ && input.dtype() == output.dtype(), kComp,
            "reduce_scatter: input {} must hold world_size {} x output {} of the same dtype",
            shape_str(input.sizes().vec()), world_size_, shape_str(output.sizes().vec()));
  if (world_size_ == 1) {
    output.copy_(input.view_as(output));
    return;
  }
  impl_->run(*this, "reduce_scatter", [&] {
    return impl_->backend->_reduce_scatter_base(output, input, c10d::ReduceScatterOptions());
  });
}

void Dist::all_gather(torch::Tensor& output, torch::Tensor& input) {
  check_tensor(output, "all_gather");
  check_tensor(input, "all_gather");
  SGT_CHECK(output.numel() == input.numel() * world_size_ && input.dtype() == output.dtype(), kComp,
            "all_gather: output {} must hold world_size {} x input {} of the same dtype",
            shape_str(output.sizes().vec()), world_size_, shape_str(input.sizes().vec()));
  if (world_size_ == 1) {
    output.copy_(input.view_as(output));
    return;
  }
  impl_->run(*this, "all_gather",
             [&] { return impl_->backend->_allgather_base(output, input, c10d::AllgatherOptions()); });
}

}  // namespace sgt::train
