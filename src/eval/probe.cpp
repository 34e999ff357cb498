// Linear probe (eval/probe.h). Checked against scikit-learn LogisticRegression (lbfgs) in tests/eval.
#include "eval/probe.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "data/plot.h"

namespace sgt::eval {
namespace {

void check_xy(const torch::Tensor& x, const torch::Tensor& y, const char* what) {
  SGT_CHECK(x.defined() && x.dim() == 2 && x.size(0) > 0, "probe", "{}: features must be [N, D], got {}", what,
            x.defined() ? shape_str(x.sizes().vec()) : "undefined");
  SGT_CHECK(y.defined() && y.dim() == 1 && y.size(0) == x.size(0) && y.scalar_type() == torch::kLong, "probe",
            "{}: labels must be int64 [{}], got {} {}", what, x.size(0), y.defined() ? shape_str(y.sizes().vec()) : "undefined",
            y.defined() ? std::string(c10::toString(y.scalar_type())) : "");
}

torch::Tensor take(const torch::Tensor& t, const std::vector<int64_t>& idx) {
  return t.index_select(0, torch::tensor(idx, torch::kLong));
}

}  // namespace

Standardizer fit_standardizer(const torch::Tensor& x) {
  SGT_CHECK(x.defined() && x.dim() == 2 && x.size(0) > 0, "probe", "standardizer needs [N, D] features");
  const torch::Tensor xd = x.to(torch::kDouble);
  Standardizer s;
  s.mean = xd.mean(0);
  s.scale = xd.std(0, /*unbiased=*/false);
  s.scale = torch::where(s.scale > 0, s.scale, torch::ones_like(s.scale));
  return s;
}

LogRegModel fit_logreg(const torch::Tensor& x_in, const torch::Tensor& y, int64_t classes, double C, int64_t max_iter,
                       double tol) {
  check_xy(x_in, y, "fit_logreg");
  SGT_CHECK(classes >= 2 && C > 0 && std::isfinite(C), "probe", "fit_logreg: classes {} (>= 2) and C {} (> 0)", classes, C);
  SGT_CHECK(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < classes, "probe",
            "labels outside [0, {})", classes);
  torch::NoGradGuard outer;
  const torch::Tensor x = x_in.to(torch::kDouble);
  const int64_t d = x.size(1);
  LogRegModel m;
  m.weight = torch::zeros({classes, d}, torch::kDouble).requires_grad_(true);
  m.bias = torch::zeros({classes}, torch::kDouble).requires_grad_(true);
  torch::optim::LBFGS opt({m.weight, m.bias}, torch::optim::LBFGSOptions(1.0)
                                                   .max_iter(max_iter)
                                                   .max_eval(max_iter * 2)
                                                   .tolerance_grad(tol)
                                                   .tolerance_change(1e-14)
                                                   .history_size(50)
                                                   .line_search_fn("strong_wolfe"));
  int64_t evals = 0;
  // Objective scaled by 1/N (same minimiser) so that tolerances do not depend on N.
  const double n = static_cast<double>(x.size(0));
  auto closure = [&]() -> torch::Tensor {
    torch::AutoGradMode on(true);
    opt.zero_grad();
    const torch::Tensor logits = torch::addmm(m.bias, x, m.weight.t());
    const torch::Tensor loss =
        torch::nn::functional::cross_entropy(logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) / n +
        0.5 / (C * n) * m.weight.pow(2).sum();
    loss.backward();
    ++evals;
    return loss;
  };
  opt.step(closure);
  m.iterations = evals;
  m.weight = m.weight.detach();
  m.bias = m.bias.detach();
  return m;
}

torch::Tensor predict_logreg(const LogRegModel& m, const torch::Tensor& x) {
  SGT_CHECK(x.dim() == 2 && x.size(1) == m.weight.size(1), "probe", "predict: features {} but the model has D = {}",
            shape_str(x.sizes().vec()), m.weight.size(1));
  return torch::addmm(m.bias, x.to(torch::kDouble), m.weight.t()).argmax(1);
}

double accuracy(const torch::Tensor& pred, const torch::Tensor& y) {
  SGT_CHECK(pred.numel() == y.numel() && y.numel() > 0, "probe", "accuracy: {} predictions for {} labels", pred.numel(),
            y.numel());
  return pred.eq(y).to(torch::kDouble).mean().item<double>();
}

double fisher_ratio(const torch::Tensor& x_in, const torch::Tensor& y, int64_t classes) {
  check_xy(x_in, y, "fisher_ratio");
  const torch::Tensor x = x_in.to(torch::kDouble);
  const torch::Tensor mu = x.mean(0);
  double between = 0, within = 0;
  for (int64_t k = 0; k < classes; ++k) {
    const torch::Tensor xk = x.index({y.eq(k)});
    if (xk.size(0) == 0) continue;
    const torch::Tensor mk = xk.mean(0);
    between += xk.size(0) * (mk - mu).pow(2).sum().item<double>();
    within += (xk - mk).pow(2).sum().item<double>();
  }
  SGT_CHECK(within > 0, "probe", "fisher_ratio: zero within-class scatter");
  return between / within;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> stratified_split(const torch::Tensor& labels, double test_fraction,
                                                                       uint64_t seed) {
  SGT_CHECK(test_fraction > 0 && test_fraction < 1, "probe", "test_fraction {} outside (0, 1)", test_fraction);
  const torch::Tensor y = labels.contiguous();
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < y.size(0); ++i) by_class[y[i].item<int64_t>()].push_back(i);
  Rng rng(seed);
  std::vector<int64_t> train, test;
  for (auto& [k, idx] : by_class) {
    SGT_CHECK(idx.size() >= 2, "probe", "class {} has {} sample(s); a split needs at least 2", k, idx.size());
    rng.shuffle(idx);
    const size_t nt = std::clamp<size_t>(static_cast<size_t>(std::lround(test_fraction * idx.size())), 1, idx.size() - 1);
    test.insert(test.end(), idx.begin(), idx.begin() + nt);
    train.insert(train.end(), idx.begin() + nt, idx.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
  return {train, test};
}

std::vector<LayerProbe> probe_layers(const torch::Tensor& features, const torch::Tensor& labels, const ProbeOptions& opt) {
  SGT_CHECK(features.defined() && features.dim() == 3, "probe", "features must be [N, layers, D], got {}",
            features.defined() ? shape_str(features.sizes().vec()) : "undefined");
  check_xy(features.select(1, 0), labels, "probe_layers");
  SGT_CHECK(!opt.Cs.empty() && opt.folds >= 2, "probe", "need at least one C and 2 folds (got {} C, {} folds)",
            opt.Cs.size(), opt.folds);
  const int64_t classes = labels.max().item<int64_t>() + 1;
  const auto [train, test] = stratified_split(labels, opt.test_fraction, opt.seed);
  SGT_CHECK(static_cast<int64_t>(train.size()) >= opt.folds, "probe", "{} train samples for {} folds", train.size(), opt.folds);
  // Folds: the shuffled train indices dealt round-robin (same folds for every layer and C).
  std::vector<int64_t> order(train.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  Rng rng(opt.seed + 1);
  rng.shuffle(order);
  const torch::Tensor ytr = take(labels, train), yte = take(labels, test);
  std::vector<LayerProbe> out;
  for (int64_t l = 0; l < features.size(1); ++l) {
    const torch::Tensor xl = features.select(1, l).to(torch::kDouble);
    const torch::Tensor xtr = take(xl, train), xte = take(xl, test);
    LayerProbe p;
    p.layer = l;
    p.cv_accuracy = -1;
    for (double C : opt.Cs) {
      double acc_sum = 0;
      for (int64_t f = 0; f < opt.folds; ++f) {
        std::vector<int64_t> fit_idx, val_idx;
        for (size_t i = 0; i < order.size(); ++i) (static_cast<int64_t>(i) % opt.folds == f ? val_idx : fit_idx).push_back(order[i]);
        const torch::Tensor xf = take(xtr, fit_idx), yf = take(ytr, fit_idx);
        const Standardizer s = fit_standardizer(xf);
        const LogRegModel m = fit_logreg(s.apply(xf), yf, classes, C, opt.max_iter);
        acc_sum += accuracy(predict_logreg(m, s.apply(take(xtr, val_idx))), take(ytr, val_idx));
      }
      const double cv = acc_sum / static_cast<double>(opt.folds);
      if (cv > p.cv_accuracy + 1e-12) p.cv_accuracy = cv, p.best_C = C;  // ties keep the stronger regularisation
    }
    const Standardizer s = fit_standardizer(xtr);
    const LogRegModel m = fit_logreg(s.apply(xtr), ytr, classes, p.best_C, opt.max_iter);
    p.train_accuracy = accuracy(predict_logreg(m, s.apply(xtr)), ytr);
    p.test_accuracy = accuracy(predict_logreg(m, s.apply(xte)), yte);
    p.fisher = fisher_ratio(s.apply(xl), labels, classes);
    out.push_back(p);
  }
  return out;
}

void write_probe_plot(const std::string& path, const std::vector<std::pair<std::string, std::vector<LayerProbe>>>& runs,
                      const std::string& title) {
  std::vector<data::PlotSeries> series;
  for (const auto& [name, probes] : runs) {
    data::PlotSeries s{name, {}, {}};
    for (const LayerProbe& p : probes) s.x.push_back(static_cast<double>(p.layer)), s.y.push_back(p.test_accuracy);
    series.push_back(std::move(s));
  }
  data::PlotOptions o;
  o.title = title;
  o.x_label = "layer";
  o.y_label = "test accuracy";
  data::write_plot_png(path, series, o);
}

}  // namespace sgt::eval
