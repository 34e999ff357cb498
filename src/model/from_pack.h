#pragma once
// Bridge from the data layer's packed sequences (data/packing.h) to the model's attention layout.
#include "data/packing.h"
#include "model/attention.h"

namespace sgt::model {

// The split structure of a data::Pack (split_starts / split_lens / attn_modes / split_sample) as a PackLayout.
PackLayout layout_from_pack(const data::Pack& pack);

}  // namespace sgt::model
