#pragma once
// Bridge between safetensors files and torch tensors; the one place where dtypes are converted.
#include <map>
#include <optional>
#include <string>

#include <torch/types.h>

#include "io/tensor_source.h"

namespace sgt::io {

torch::ScalarType to_torch_dtype(DType d);
DType from_torch_dtype(torch::ScalarType t);  // throws for types safetensors cannot store

// A CPU tensor over the file's bytes. Zero-copy (the tensor keeps the read-only mapping alive, so it must not be
// written) when no conversion is asked for and the bytes are aligned for the element type; otherwise a converted
// copy.
torch::Tensor to_tensor(const SafetensorsFile& file, const TensorInfo& info,
                        std::optional<torch::ScalarType> dtype = std::nullopt);
torch::Tensor to_tensor(const TensorRef& ref, std::optional<torch::ScalarType> dtype = std::nullopt);

// Every tensor of a file, folder or sharded checkpoint (zero-copy where to_tensor is: read them, copy them, never
// write into them).
std::map<std::string, torch::Tensor> load_tensors(const std::string& path);
// Writes tensors (moved to CPU, made contiguous) atomically; see write_safetensors.
void save_tensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

}  // namespace sgt::io
