#pragma once
// COCO run-length encoding of binary masks, bit-exact with pycocotools (cocoapi common/maskApi.c).
// Runs are over the mask flattened in column-major (Fortran) order: pixel (x, y) has linear index x*h + y.
// Runs alternate 0,1,0,... and always start with a (possibly empty) 0-run; the counts sum to h*w.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sgt::data {

struct Rle {
  int64_t height = 0, width = 0;
  std::vector<uint32_t> counts;  // uncompressed run lengths, column-major
};

// mask: row-major [height, width], nonzero = foreground.
Rle rle_encode(const uint8_t* mask, int64_t height, int64_t width);
// out_row_major: [height, width] bytes, written as 0/1.
void rle_decode(const Rle& rle, uint8_t* out_row_major);
std::vector<uint8_t> rle_decode(const Rle& rle);
// Paints `value` into a row-major [height, width, channels] buffer where the mask is 1 (fast path for
// rendering instance maps; no intermediate mask). `value` has `channels` bytes.
void rle_paint(const Rle& rle, uint8_t* out_hwc, int64_t channels, const uint8_t* value);
// Fills `value` into a column-major [width, height] buffer where the mask is 1: every run is one contiguous
// std::fill, so painting ~100 SA-1B masks into an instance-id map is memory-bandwidth bound. Transpose once.
void rle_fill_colmajor(const Rle& rle, uint8_t* buf_colmajor, uint8_t value);
void rle_fill_colmajor(const Rle& rle, uint16_t* buf_colmajor, uint16_t value);

// The compressed 'counts' string (LEB128-like 6-bit chars with deltas), as pycocotools' rleToString.
std::string rle_to_string(const Rle& rle);
// Parses a compressed 'counts' string. Throws sgt::Error on characters outside '0'..'o', a truncated group,
// negative counts, or counts that do not sum to height*width.
Rle rle_from_string(std::string_view counts, int64_t height, int64_t width);
// Checks the invariants (sum == h*w, non-negative sizes); throws sgt::Error naming `what` otherwise.
void rle_validate(const Rle& rle, std::string_view what = "rle");

uint64_t rle_area(const Rle& rle);
// [x, y, w, h] as pycocotools toBbox (zeros for an empty mask).
std::array<double, 4> rle_bbox(const Rle& rle);
// Mean pixel centre {x, y} of the mask (pixel (x, y) has centre (x + 0.5, y + 0.5)); nullopt for an empty mask.
std::optional<std::array<double, 2>> rle_centroid(const Rle& rle);

}  // namespace sgt::data
