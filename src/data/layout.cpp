#include "data/layout.h"

#include "core/error.h"

namespace sgt::data {

// The table's names are string literals, so the view is NUL-terminated.
const char* to_string(AttnMode m) { return name_of(m).data(); }

AttnMode attn_mode_from_string(const std::string& s) { return enum_from_name<AttnMode>(s, "attention mode"); }

PackLayout PackLayout::from_samples(const std::vector<std::vector<std::pair<int64_t, AttnMode>>>& samples) {
  PackLayout out;
  for (size_t s = 0; s < samples.size(); ++s) {
    SGT_CHECK(!samples[s].empty(), "data.layout", "sample {} has no splits", s);
    for (const auto& [len, mode] : samples[s]) out.splits.push_back({out.total_len(), len, mode, static_cast<int64_t>(s)});
  }
  out.validate();
  return out;
}

void PackLayout::push(int64_t len, AttnMode mode, int64_t sample) {
  splits.push_back({total_len(), len, mode, sample});
}

void PackLayout::validate() const {
  int64_t pos = 0, sample = 0;
  for (size_t i = 0; i < splits.size(); ++i) {
    const Split& sp = splits[i];
    SGT_CHECK(sp.len > 0, "data.layout", "split {} has length {}", i, sp.len);
    SGT_CHECK(sp.start == pos, "data.layout", "split {} starts at {}, expected {} (splits must be contiguous)", i,
              sp.start, pos);
    SGT_CHECK(sp.sample == sample || sp.sample == sample + 1, "data.layout",
              "split {} belongs to sample {} after sample {} (samples numbered in order)", i, sp.sample, sample);
    SGT_CHECK(i > 0 || sp.sample == 0, "data.layout", "first split belongs to sample {}, expected 0", sp.sample);
    sample = sp.sample;
    pos += sp.len;
  }
}

std::pair<int64_t, int64_t> PackLayout::sample_range(int64_t s) const {
  int64_t b = -1, e = -1;
  for (const Split& sp : splits) {
    if (sp.sample != s) continue;
    if (b < 0) b = sp.start;
    e = sp.start + sp.len;
  }
  SGT_CHECK(b >= 0, "data.layout", "sample {} not in the layout ({} samples)", s, num_samples());
  return {b, e};
}

std::vector<int64_t> PackLayout::split_lens() const {
  std::vector<int64_t> out;
  out.reserve(splits.size());
  for (const Split& sp : splits) out.push_back(sp.len);
  return out;
}

std::vector<AttnMode> PackLayout::modes() const {
  std::vector<AttnMode> out;
  out.reserve(splits.size());
  for (const Split& sp : splits) out.push_back(sp.mode);
  return out;
}

}  // namespace sgt::data
