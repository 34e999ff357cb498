#pragma once
// The attention rule of a packed layout (docs/attention.md) written out token by token, as a scalar oracle for
// the tensor mask builder (model/attention.h) and the packer: for tokens q, k of the same sample
//   allowed(q, k) = [k <= q OR (split(q) == split(k) AND mode(split(q)) != causal)]
//                   AND NOT [mode(split(k)) == noise AND split(k) != split(q)]
// and false across samples.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "data/layout.h"

namespace sgt::oracle {

inline bool allowed(const data::PackLayout& layout, int64_t q, int64_t k) {
  if (q < 0 || k < 0 || q >= layout.total_len() || k >= layout.total_len())
    throw std::out_of_range("attention oracle: token index outside the layout");
  auto split_of = [&](int64_t t) {
    auto it = std::upper_bound(layout.splits.begin(), layout.splits.end(), t,
                               [](int64_t v, const data::Split& s) { return v < s.start; });
    return static_cast<size_t>(it - layout.splits.begin()) - 1;
  };
  const size_t sq = split_of(q), sk = split_of(k);
  const data::Split &a = layout.splits[sq], &b = layout.splits[sk];
  if (a.sample != b.sample) return false;
  const bool base = k <= q || (sq == sk && a.mode != data::AttnMode::kCausal);
  return base && !(b.mode == data::AttnMode::kNoise && sk != sq);
}

// Row-major [n, n] 0/1 mask of sample s (row = query).
inline std::vector<uint8_t> dense_mask(const data::PackLayout& layout, int64_t s) {
  const auto [b, e] = layout.sample_range(s);
  const int64_t n = e - b;
  std::vector<uint8_t> m(static_cast<size_t>(n * n));
  for (int64_t q = 0; q < n; ++q)
    for (int64_t k = 0; k < n; ++k) m[static_cast<size_t>(q * n + k)] = allowed(layout, b + q, b + k) ? 1 : 0;
  return m;
}

}  // namespace sgt::oracle
