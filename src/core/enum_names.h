#pragma once
// One name table per enum, shared by configs (core/config.h reads and writes enums as their names), CLI options
// and messages. An enum opts in with an ADL-found table next to its declaration:
//
//   enum class LrKind { kConstant, kCosine };
//   constexpr auto enum_names(LrKind) {
//     return std::array{sgt::EnumName{LrKind::kConstant, "constant"}, sgt::EnumName{LrKind::kCosine, "cosine"}};
//   }
//
// A table may list several names for one value (aliases such as "bf16" beside "bfloat16"); the first one is the
// value's name when written. Unknown names are refused with the list of known ones.
#include <array>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"  // (also brings fmt)

namespace sgt {

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};
template <class E>
EnumName(E, const char*) -> EnumName<E>;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(E e) {
  { enum_names(e)[0].name } -> std::convertible_to<std::string_view>;
};

// The name a value is written as (its first entry in the table).
template <NamedEnum E>
std::string_view name_of(E value) {
  for (const auto& entry : enum_names(E{}))
    if (entry.value == value) return entry.name;
  SGT_FAIL("config", "enum value {} has no name in its table", static_cast<long long>(value));
}

// Every name in the table, aliases included, in table order: "a | b | c" for messages and --help.
template <NamedEnum E>
std::string enum_choices(std::string_view sep = " | ") {
  std::string out;
  for (const auto& entry : enum_names(E{})) {
    if (!out.empty()) out += sep;
    out += entry.name;
  }
  return out;
}

// The value named `name`; `where` names the file and key (or the option) for the error.
template <NamedEnum E>
E enum_from_name(std::string_view name, std::string_view where) {
  for (const auto& entry : enum_names(E{}))
    if (entry.name == name) return entry.value;
  SGT_FAIL("config", "{}: unknown value '{}' (known: {})", where, name, enum_choices<E>(", "));
}

// Every (name, value) pair, aliases included (the choices of a CLI option).
template <NamedEnum E>
std::vector<std::pair<std::string, E>> enum_name_map() {
  std::vector<std::pair<std::string, E>> out;
  for (const auto& entry : enum_names(E{})) out.emplace_back(std::string(entry.name), entry.value);
  return out;
}

}  // namespace sgt

// Named enums format as their names: fmt::format("{}", ProxyTaskKind::kSegment) == "segment".
template <sgt::NamedEnum E>
struct fmt::formatter<E> : fmt::formatter<std::string_view> {
  auto format(E value, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(sgt::name_of(value), ctx);
  }
};
