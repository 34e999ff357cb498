#pragma once
// Loss terms of one micro-batch (docs/model.md, "Loss"), as SUMS so that the trainer can normalise them by global
// token counts: CE summed over the text tokens that carry loss; MSE = per-token mean over latent channels, summed
// over the noisy latent tokens. Both are computed in fp32.
#include <torch/torch.h>

#include "model/bagel.h"
#include "train/batch.h"

namespace sgt::train {

struct LossTerms {
  torch::Tensor ce_sum;   // scalar (0 when the batch has no CE tokens)
  torch::Tensor mse_sum;  // scalar (0 when the batch has no noisy latents)
};

// hidden: final hidden states [L, hidden] of model->forward(batch.inputs).
LossTerms compute_losses(model::Bagel& model, const torch::Tensor& hidden, const TrainBatch& batch);

}  // namespace sgt::train
