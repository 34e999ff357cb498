// Anchor translation unit for the shared precompiled torch header (see src/CMakeLists.txt).
namespace sgt::detail {
int pch_anchor() { return 0; }
}  // namespace sgt::detail
