#pragma once
// The layout vocabulary of a packed sequence, torch-free and shared by data (the packer), model (attention) and
// infer (cached chunks). Several samples are packed one after another into one sequence of L tokens; each sample
// is a run of splits, each split one attention mode (docs/attention.md):
//   causal - text: a token sees the earlier splits of its sample and the tokens of its split up to itself;
//   full   - a ViT image or a clean VAE image: bidirectional inside the split, sees the earlier splits;
//   noise  - a noisy VAE image: like full, but no other split ever sees it.
// Nothing crosses samples. The mask itself is built in one place (model/attention.h).
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/enum_names.h"

namespace sgt::data {

enum class AttnMode { kCausal, kFull, kNoise };
constexpr auto enum_names(AttnMode) {
  return std::array{EnumName{AttnMode::kCausal, "causal"}, EnumName{AttnMode::kFull, "full"},
                    EnumName{AttnMode::kNoise, "noise"}};
}
const char* to_string(AttnMode m);                     // its name in the table above
AttnMode attn_mode_from_string(const std::string& s);  // the inverse; unknown names list the three

struct Split {
  int64_t start = 0;
  int64_t len = 0;
  AttnMode mode = AttnMode::kCausal;
  int64_t sample = 0;
};

struct PackLayout {
  std::vector<Split> splits;  // sequence order, contiguous, covering [0, total_len)

  // samples[i] = the (length, mode) of each split of sample i.
  static PackLayout from_samples(const std::vector<std::vector<std::pair<int64_t, AttnMode>>>& samples);
  // Appends a split of `len` tokens right after the last one, in sample `sample` (the last split's sample or the
  // next one).
  void push(int64_t len, AttnMode mode, int64_t sample);
  int64_t total_len() const { return splits.empty() ? 0 : splits.back().start + splits.back().len; }
  int64_t num_samples() const { return splits.empty() ? 0 : splits.back().sample + 1; }
  // [start, end) of sample s.
  std::pair<int64_t, int64_t> sample_range(int64_t s) const;
  std::vector<int64_t> split_lens() const;
  std::vector<AttnMode> modes() const;
  void validate() const;  // contiguity, positive lengths, samples numbered 0.. in order
};

}  // namespace sgt::data
