#include "io/state_dict.h"

#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "io/torch_tensors.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "state-dict";

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (glob_match(p, name)) return true;
  return false;
}

std::string list(const std::vector<std::string>& v, size_t max = 20) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += fmt::format(", ... ({} more)", v.size() - max);
  return s;
}
}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative wildcard match with backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void for_each_tensor(const torch::nn::Module& module,
                     const std::function<void(const std::string&, const torch::Tensor&, bool)>& fn) {
  for (const auto& item : module.named_parameters(/*recurse=*/true)) fn(item.key(), item.value(), false);
  for (const auto& item : module.named_buffers(/*recurse=*/true)) fn(item.key(), item.value(), true);
}

std::string LoadReport::summary() const {
  std::string s = fmt::format("{} loaded", loaded);
  if (!missing.empty()) s += fmt::format("; {} missing: {}", missing.size(), list(missing));
  if (!unexpected.empty()) s += fmt::format("; {} unexpected: {}", unexpected.size(), list(unexpected));
  if (!mismatched.empty()) s += fmt::format("; {} mis-shaped: {}", mismatched.size(), list(mismatched));
  return s;
}

namespace {

// Where each module tensor is found in a source: its prefixed name, or the name a recognising mapper gives.
struct SourceNames {
  const NameMapper* mapper = nullptr;
  std::map<std::string, std::string> by_module;  // module name -> source name (mapper only)
  std::vector<std::string> unmapped;             // source names the mapper has no equivalent for
  std::string lookup(const std::string& module_name, const LoadOptions& o) const {
    if (!mapper) return o.source_prefix + module_name;
    auto it = by_module.find(module_name);
    return it == by_module.end() ? std::string() : it->second;
  }
};

SourceNames resolve(const TensorSource& source, const LoadOptions& options) {
  SourceNames n;
  const auto names = source.names();
  for (const auto& m : options.mappers) {
    if (!m.recognises(names)) continue;
    n.mapper = &m;
    for (const auto& key : names) {
      auto to = m.module_name(key);
      if (!to) {
        n.unmapped.push_back(key);
        continue;
      }
      SGT_CHECK(n.by_module.emplace(*to, key).second, kC, "{}: {} maps '{}' and '{}' to the same name '{}'",
                source.description(), m.description, n.by_module.at(*to), key, *to);
    }
    break;
  }
  return n;
}

bool shapes_fit(const std::vector<int64_t>& want, const std::vector<int64_t>& have, const SourceNames& n) {
  if (want == have) return true;
  if (!n.mapper || !n.mapper->reshape_same_numel) return false;
  int64_t a = 1, b = 1;
  for (auto d : want) a *= d;
  for (auto d : have) b *= d;
  return a == b;
}

LoadReport check_with(const torch::nn::Module& module, const TensorSource& source, const LoadOptions& options,
                      const SourceNames& n) {
  LoadReport r;
  if (n.mapper) r.mapped_by = n.mapper->description;
  std::set<std::string> used;
  for_each_tensor(module, [&](const std::string& name, const torch::Tensor& t, bool) {
    const std::string key = n.lookup(name, options);
    const TensorRef* ref = key.empty() ? nullptr : source.find(key);
    if (ref == nullptr) {
      (matches_any(options.optional, name) ? r.absent_optional : r.missing).push_back(name);
      return;
    }
    used.insert(key);
    std::vector<int64_t> want(t.sizes().begin(), t.sizes().end());
    if (!shapes_fit(want, ref->info->shape, n)) {
      r.mismatched.push_back(
          fmt::format("{}: module {} vs file {}", name, shape_str(want), shape_str(ref->info->shape)));
    }
  });
  for (const auto& key : source.names()) {
    if (used.count(key)) continue;
    if (!n.mapper && key.rfind(options.source_prefix, 0) != 0) continue;
    if (!matches_any(options.ignored, key)) r.unexpected.push_back(key);
  }
  return r;
}

}  // namespace

LoadReport check_state_dict(const torch::nn::Module& module, const TensorSource& source, const LoadOptions& options) {
  return check_with(module, source, options, resolve(source, options));
}

LoadReport load_state_dict(torch::nn::Module& module, const TensorSource& source, const LoadOptions& options) {
  const SourceNames n = resolve(source, options);
  LoadReport r = check_with(module, source, options, n);
  SGT_CHECK(r.ok(), kC, "{} does not fit the module{}: {}", source.description(),
            n.mapper ? " (read as " + n.mapper->description + ")" : std::string(), r.summary());
  torch::NoGradGuard no_grad;
  for_each_tensor(module, [&](const std::string& name, const torch::Tensor& t, bool) {
    const std::string key = n.lookup(name, options);
    const TensorRef* ref = key.empty() ? nullptr : source.find(key);
    if (ref == nullptr) return;
    torch::Tensor src = to_tensor(*ref);
    if (src.sizes() != t.sizes()) src = src.reshape(t.sizes());  // same numel, allowed by the mapper (checked)
    if (src.scalar_type() != t.scalar_type()) {
      // Float8 and other exotic types are reported rather than silently mis-converted into integer tensors.
      SGT_CHECK(src.is_floating_point() == t.is_floating_point(), kC, "{}: file dtype {} cannot load into {}", name,
                c10::toString(src.scalar_type()), c10::toString(t.scalar_type()));
    }
    if (options.zero_copy && src.scalar_type() == t.scalar_type() && t.device().is_cpu()) {
      const_cast<torch::Tensor&>(t).set_data(src);
    } else {
      const_cast<torch::Tensor&>(t).copy_(src);
    }
    ++r.loaded;
  });
  return r;
}

std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for_each_tensor(module, [&](const std::string& name, const torch::Tensor& t, bool) { out[name] = t; });
  return out;
}

}  // namespace sgt::io
