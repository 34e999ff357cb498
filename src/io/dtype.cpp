#include "io/dtype.h"

#include <array>
#include <utility>

namespace sgt::io {
namespace {
struct Entry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr std::array<Entry, 16> kTable{{
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4},         {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8},         {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},           {DType::kU64, "U64", 8},
    {DType::kU32, "U32", 4},   {DType::kU16, "U16", 2},         {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1}, {DType::kF8_E4M3, "F8_E4M3", 1}, {DType::kF8_E5M2, "F8_E5M2", 1},
    {DType::kF8_E8M0, "F8_E8M0", 1},
}};
}  // namespace

size_t dtype_size(DType d) { return kTable[static_cast<size_t>(d)].size; }
const char* dtype_name(DType d) { return kTable[static_cast<size_t>(d)].name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& e : kTable)
    if (name == e.name) return e.dtype;
  return std::nullopt;
}

bool is_float8(DType d) { return d == DType::kF8_E4M3 || d == DType::kF8_E5M2 || d == DType::kF8_E8M0; }

}  // namespace sgt::io
