#pragma once
// Strict, declarative state-dict loading: a module's named parameters and buffers are compared with a tensor
// source, and every missing, unexpected and mis-shaped tensor is reported by name in one error. Keys can be
// declared optional (may be absent) or ignored (present in the file, deliberately unused); patterns take '*'.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "io/tensor_source.h"

namespace sgt::io {

// The one visitor over a module's named tensors, used by loading, saving, EMA and optimizer code.
// fn(name, tensor, is_buffer).
void for_each_tensor(const torch::nn::Module& module,
                     const std::function<void(const std::string&, const torch::Tensor&, bool)>& fn);

// Names written by another tool (diffusers' AutoencoderKL for the FLUX autoencoder, ...): a mapper recognises a
// source by its tensor names and gives, for each of them, the module's name; a source name without an equivalent
// is reported as unexpected. With reshape_same_numel a stored tensor whose shape differs from the module's but
// holds as many values is viewed in the module's shape (a 1x1 convolution stored as a linear weight).
struct NameMapper {
  std::string description;  // "diffusers AutoencoderKL names"
  std::function<bool(const std::vector<std::string>& source_names)> recognises;
  std::function<std::optional<std::string>(const std::string& source_name)> module_name;
  bool reshape_same_numel = false;
};

struct LoadOptions {
  std::vector<std::string> optional;  // module keys that may be absent from the source
  std::vector<std::string> ignored;   // source keys that are deliberately not used
  std::string source_prefix;          // prepended to module keys when looking them up in the source
  bool zero_copy = false;             // share mmap-backed storage when dtype and device already match
  std::vector<NameMapper> mappers;    // the first that recognises the source renames it (source_prefix unused)
};

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the source (and not optional)
  std::vector<std::string> unexpected;  // in the source (under the prefix), not in the module (and not ignored)
  std::vector<std::string> mismatched;  // "name: module [a, b] vs file [c, d]"
  std::vector<std::string> absent_optional;
  std::string mapped_by;                // the NameMapper's description when one renamed the source
  int64_t loaded = 0;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string summary() const;
};

// Glob match with '*' (any run of characters).
bool glob_match(const std::string& pattern, const std::string& text);

// Compares without loading.
LoadReport check_state_dict(const torch::nn::Module& module, const TensorSource& source, const LoadOptions& options);
// Loads every tensor, converting to each parameter's dtype and device; throws sgt::Error listing every problem
// (nothing is modified in that case).
LoadReport load_state_dict(torch::nn::Module& module, const TensorSource& source, const LoadOptions& options = {});

// The module's tensors as a name -> tensor map (for save_tensors).
std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module);

}  // namespace sgt::io
