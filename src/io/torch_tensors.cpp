#include "io/torch_tensors.h"

#include <torch/torch.h>

#include "core/error.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "safetensors";
}

torch::ScalarType to_torch_dtype(DType d) {
  switch (d) {
    case DType::kF64: return torch::kFloat64;
    case DType::kF32: return torch::kFloat32;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kI64: return torch::kInt64;
    case DType::kI32: return torch::kInt32;
    case DType::kI16: return torch::kInt16;
    case DType::kI8: return torch::kInt8;
    case DType::kU64: return torch::kUInt64;
    case DType::kU32: return torch::kUInt32;
    case DType::kU16: return torch::kUInt16;
    case DType::kU8: return torch::kUInt8;
    case DType::kBool: return torch::kBool;
    case DType::kF8_E4M3: return torch::kFloat8_e4m3fn;
    case DType::kF8_E5M2: return torch::kFloat8_e5m2;
    case DType::kF8_E8M0: return torch::kFloat8_e8m0fnu;
  }
  SGT_FAIL(kC, "unhandled dtype {}", static_cast<int>(d));
}

DType from_torch_dtype(torch::ScalarType t) {
  for (int i = 0; i <= static_cast<int>(DType::kF8_E8M0); ++i) {
    auto d = static_cast<DType>(i);
    if (to_torch_dtype(d) == t) return d;
  }
  SGT_FAIL(kC, "torch dtype {} has no safetensors equivalent", c10::toString(t));
}

torch::Tensor to_tensor(const SafetensorsFile& file, const TensorInfo& info, std::optional<torch::ScalarType> dtype) {
  const auto st = to_torch_dtype(info.dtype);
  auto bytes = file.bytes(info);
  const auto addr = reinterpret_cast<uintptr_t>(bytes.data());
  const bool aligned = addr % dtype_size(info.dtype) == 0;
  auto keep = file.mapping();  // the deleter holds the mapping alive as long as the tensor lives
  torch::Tensor t;
  if (aligned && info.nbytes() > 0) {
    t = torch::from_blob(const_cast<uint8_t*>(bytes.data()), info.shape, [keep](void*) {},
                         torch::TensorOptions().dtype(st));
  } else {
    t = torch::empty(info.shape, torch::TensorOptions().dtype(st));
    if (info.nbytes() > 0) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  }
  if (dtype && *dtype != st) t = t.to(*dtype);
  return t;
}

torch::Tensor to_tensor(const TensorRef& ref, std::optional<torch::ScalarType> dtype) {
  return to_tensor(*ref.file, *ref.info, dtype);
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path) {
  auto src = TensorSource::open(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : src.names()) out[name] = to_tensor(src.at(name));
  return out;
}

void save_tensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> items;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    SGT_CHECK(t.defined(), kC, "{}: tensor '{}' is undefined", path, name);
    auto c = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(c);
    std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
    items.push_back({name, from_torch_dtype(c.scalar_type()), shape,
                     {static_cast<const uint8_t*>(c.data_ptr()), static_cast<size_t>(c.nbytes())}});
  }
  write_safetensors(path, items, metadata);
}

}  // namespace sgt::io
