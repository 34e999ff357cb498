#pragma once
// Linear separability of per-layer features (docs/eval.md, "Linear separability"): standardised features, multinomial
// logistic regression with L2 (scikit-learn's objective 0.5 ||W||^2 + C sum_i CE_i, bias unpenalised) fitted by
// L-BFGS in float64, C chosen by k-fold cross-validation on the train split, accuracy on a held-out split, and the
// Fisher ratio. The features come from the caller ([N, layers, D]: mean over image tokens or the last token).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sgt::eval {

struct Standardizer {
  torch::Tensor mean, scale;  // [D]; scale = population std, 1 where the std is 0 (as StandardScaler)
  torch::Tensor apply(const torch::Tensor& x) const { return (x - mean) / scale; }
};
Standardizer fit_standardizer(const torch::Tensor& x);  // x [N, D]

struct LogRegModel {
  torch::Tensor weight;  // [K, D] float64
  torch::Tensor bias;    // [K]
  int64_t iterations = 0;
};
// x [N, D] (any float dtype; converted to float64), y [N] int64 in [0, classes). classes >= 2 (softmax over K
// classes also for K = 2, which differs from scikit-learn's binary parameterisation).
LogRegModel fit_logreg(const torch::Tensor& x, const torch::Tensor& y, int64_t classes, double C,
                       int64_t max_iter = 1000, double tol = 1e-9);
torch::Tensor predict_logreg(const LogRegModel& m, const torch::Tensor& x);  // [N] int64
double accuracy(const torch::Tensor& pred, const torch::Tensor& y);

// trace(S_between) / trace(S_within): sum_k n_k ||mu_k - mu||^2 over sum_i ||x_i - mu_{y_i}||^2. x [N, D].
double fisher_ratio(const torch::Tensor& x, const torch::Tensor& y, int64_t classes);

struct ProbeOptions {
  std::vector<double> Cs = {0.001, 0.01, 0.1, 1.0, 10.0};
  int64_t folds = 5;
  double test_fraction = 0.3;  // stratified per class
  uint64_t seed = 0;
  int64_t max_iter = 1000;
};
struct LayerProbe {
  int64_t layer = 0;
  double best_C = 0, cv_accuracy = 0, train_accuracy = 0, test_accuracy = 0, fisher = 0;
};
// features [N, layers, D], labels [N] int64 (classes = max + 1). One probe per layer with the same split and folds.
std::vector<LayerProbe> probe_layers(const torch::Tensor& features, const torch::Tensor& labels, const ProbeOptions& opt = {});
// Stratified split: returns (train, test) index lists, deterministic in seed.
std::pair<std::vector<int64_t>, std::vector<int64_t>> stratified_split(const torch::Tensor& labels, double test_fraction,
                                                                       uint64_t seed);

// PNG of test accuracy per layer, one line per run (e.g. baseline vs SGT).
void write_probe_plot(const std::string& path, const std::vector<std::pair<std::string, std::vector<LayerProbe>>>& runs,
                      const std::string& title);

}  // namespace sgt::eval
