#pragma once
// Element types of safetensors files, independent of libtorch (the reader and the fuzzer do not link torch).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sgt::io {

enum class DType {
  kF64, kF32, kF16, kBF16,
  kI64, kI32, kI16, kI8,
  kU64, kU32, kU16, kU8,
  kBool,
  kF8_E4M3, kF8_E5M2, kF8_E8M0,
};

// Bytes per element.
size_t dtype_size(DType d);
// The safetensors spelling ("F32", "BF16", "F8_E4M3", ...).
const char* dtype_name(DType d);
std::optional<DType> parse_dtype(std::string_view name);
bool is_float8(DType d);

}  // namespace sgt::io
