#pragma once
// Depth maps from an estimator, read per sample as the depth proxy task's target (docs/data.md, "Sources", depth):
// a 16-bit (or 8-bit) gray PNG or a 2-D .npy array. Larger values are taken as farther (data/proxy_tasks.h,
// ProxySource::depth); an estimator that writes inverse depth (near = large) wants task.depth_near_bright = false.
// Both are min-max stretched to 0..255 here, at full precision, so a 16-bit map whose values span a few hundred
// levels keeps them (a plain 16 -> 8 bit conversion would keep the top byte only).
#include <cstdint>
#include <span>
#include <string>

#include "data/image.h"

namespace sgt::data {

// 1-channel image, min-max stretched (a flat map becomes 0). Corrupt data, a non-finite value, a non-2-D array or
// an unsupported dtype throw BadSampleError(kCorruptImage) naming `name`.
Image decode_depth_png(std::span<const uint8_t> bytes, const std::string& name);
// .npy version 1-3, C order, dtypes <f4 <f8 <f2 <u2 <i2 <u4 <i4 |u1; shape (H, W), (H, W, 1) or (1, H, W).
Image decode_depth_npy(std::span<const uint8_t> bytes, const std::string& name);

}  // namespace sgt::data
