#pragma once
// Image resizing that matches Pillow's Image.resize (libImaging/Resample.c): separable, antialiased
// convolution with the filter support scaled by the downscale factor, 8-bit fixed-point coefficients.
#include <cstdint>

#include "data/image.h"

namespace sgt::data {

// PIL Image.resize(..., BICUBIC) (a = -0.5); max abs difference to PIL stated in tests/data/test_image.cpp.
Image resize_bicubic(const Image& img, int64_t out_w, int64_t out_h);
// PIL BILINEAR (triangle filter, antialiased).
Image resize_bilinear(const Image& img, int64_t out_w, int64_t out_h);
// PIL Image.resize(..., NEAREST): bit-exact.
Image resize_nearest(const Image& img, int64_t out_w, int64_t out_h);

}  // namespace sgt::data
