// libtorch ships fmt's headers (they shadow any system fmt) but not its compiled part. This one translation unit
// compiles fmt's out-of-line functions, so the rest of the code base includes fmt without FMT_HEADER_ONLY
// (which costs ~7 s of compile time per file).
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
}  // namespace detail
FMT_END_NAMESPACE
