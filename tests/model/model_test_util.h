#pragma once
// Shared helpers of the model parity tests.
#include <cstdio>
#include <string>

#include <torch/torch.h>

namespace sgt::model::test {

// The parity measure of the model tests: max |a - b| / max |b| (b is the reference).
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

// Prints the measured error as "[parity] <what> rel_err=..." so the reports can quote it; returns it.
inline double logged(const std::string& what, double e) {
  std::printf("[parity] %s rel_err=%.3g\n", what.c_str(), e);
  return e;
}

}  // namespace sgt::model::test
