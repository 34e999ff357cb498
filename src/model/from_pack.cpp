#include "model/from_pack.h"

#include "core/error.h"

namespace sgt::model {

PackLayout layout_from_pack(const data::Pack& pack) {
  const size_t n = pack.split_lens.size();
  SGT_CHECK(pack.split_starts.size() == n && pack.attn_modes.size() == n && pack.split_sample.size() == n,
            "model.pack", "pack has {} split lengths, {} starts, {} modes, {} sample ids", n, pack.split_starts.size(),
            pack.attn_modes.size(), pack.split_sample.size());
  PackLayout layout;
  for (size_t i = 0; i < n; ++i) {
    AttnMode mode = AttnMode::kCausal;
    switch (pack.attn_modes[i]) {
      case data::AttnMode::kCausal: mode = AttnMode::kCausal; break;
      case data::AttnMode::kFull: mode = AttnMode::kFull; break;
      case data::AttnMode::kNoise: mode = AttnMode::kNoise; break;
    }
    layout.splits.push_back({pack.split_starts[i], pack.split_lens[i], mode, pack.split_sample[i]});
  }
  layout.validate();
  return layout;
}

}  // namespace sgt::model
