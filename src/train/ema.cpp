#include "train/ema.h"

#include <set>

#include "core/error.h"
#include "train/optimizer.h"

namespace sgt::train {

namespace {
constexpr const char* kComp = "ema";
void check_decay(double d) { SGT_CHECK(d >= 0 && d <= 1, kComp, "decay {} must be in [0, 1]", d); }
}  // namespace

Ema::Ema(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, double decay) : decay_(decay) {
  check_decay(decay);
  SGT_CHECK(!named_params.empty(), kComp, "no parameters");
  std::set<std::string> seen;
  torch::NoGradGuard ng;
  for (const auto& [name, p] : named_params) {
    SGT_CHECK(p.defined() && p.is_floating_point(), kComp, "parameter '{}' is not a floating-point tensor", name);
    SGT_CHECK(seen.insert(name).second, kComp, "parameter '{}' appears twice", name);
    names_.push_back(name);
    sources_.push_back(p);
    values_.push_back(p.detach().to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true));
  }
}

Ema::Ema(const AdamW& optimizer, std::vector<std::string> names, double decay)
    : decay_(decay), names_(std::move(names)), optimizer_(&optimizer) {
  check_decay(decay);
  SGT_CHECK(names_.size() == optimizer.params().size(), kComp, "{} names for {} optimizer params", names_.size(),
            optimizer.params().size());
  std::set<std::string> seen(names_.begin(), names_.end());
  SGT_CHECK(seen.size() == names_.size(), kComp, "parameter names are not unique");
  flat_ = optimizer.master().clone();
}

void Ema::update() {
  // ema = decay * ema + (1 - decay) * new, in this order like BAGEL's fsdp_ema_update (_foreach_mul_ then add).
  torch::NoGradGuard ng;
  if (optimizer_) {
    flat_.mul_(decay_).add_(optimizer_->master(), 1.0 - decay_);
    return;
  }
  for (size_t i = 0; i < values_.size(); ++i) values_[i].mul_(decay_).add_(sources_[i].to(torch::kFloat32), 1.0 - decay_);
}

std::map<std::string, torch::Tensor> Ema::state_dict() const {
  std::map<std::string, torch::Tensor> out;
  if (optimizer_) {
    out["ema_flat"] = flat_.clone();
    return out;
  }
  for (size_t i = 0; i < names_.size(); ++i) out[names_[i]] = values_[i].clone();
  return out;
}

void Ema::load_state_dict(const std::map<std::string, torch::Tensor>& s) {
  torch::NoGradGuard ng;
  if (optimizer_) {
    SGT_CHECK(s.size() == 1 && s.count("ema_flat"), kComp, "flat EMA state must hold exactly 'ema_flat'");
    const auto& t = s.at("ema_flat");
    SGT_CHECK(t.dim() == 1 && t.size(0) == flat_.size(0), kComp, "'ema_flat' has shape {}, expected [{}]",
              shape_str(t.sizes().vec()), flat_.size(0));
    flat_.copy_(t);
    return;
  }
  for (const auto& [k, v] : s)
    SGT_CHECK(std::find(names_.begin(), names_.end(), k) != names_.end(), kComp, "unexpected EMA entry '{}'", k);
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = s.find(names_[i]);
    SGT_CHECK(it != s.end(), kComp, "EMA entry '{}' is missing", names_[i]);
    SGT_CHECK(it->second.sizes() == values_[i].sizes(), kComp, "EMA entry '{}' has shape {}, expected {}", names_[i],
              shape_str(it->second.sizes().vec()), shape_str(values_[i].sizes().vec()));
    values_[i].copy_(it->second);
  }
}

std::map<std::string, torch::Tensor> Ema::named_tensors() const {
  if (!optimizer_) return state_dict();
  auto full = optimizer_->unflatten(flat_);
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < names_.size(); ++i) out[names_[i]] = full[i];
  return out;
}

void Ema::copy_to(const std::vector<std::pair<std::string, torch::Tensor>>& named_params) const {
  auto all = named_tensors();
  torch::NoGradGuard ng;
  for (const auto& [name, p] : named_params) {
    auto it = all.find(name);
    SGT_CHECK(it != all.end(), kComp, "parameter '{}' has no EMA value", name);
    SGT_CHECK(it->second.sizes() == p.sizes(), kComp, "parameter '{}' has shape {}, its EMA {}", name,
              shape_str(p.sizes().vec()), shape_str(it->second.sizes().vec()));
    auto t = p;
    t.copy_(it->second);
  }
}

}  // namespace sgt::train
