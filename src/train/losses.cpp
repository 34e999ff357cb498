#include "train/losses.h"

namespace sgt::train {

LossTerms compute_losses(model::Bagel& model, const torch::Tensor& hidden, const TrainBatch& batch) {
  LossTerms t;
  const auto zero = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(hidden.device()));
  t.ce_sum = zero;
  t.mse_sum = zero;
  if (batch.ce_tokens > 0) {
    auto logits = model->text_logits(hidden, batch.ce_indexes).to(torch::kFloat32);  // [N_ce, vocab]
    t.ce_sum = torch::nn::functional::cross_entropy(
        logits, batch.ce_labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  }
  if (batch.mse_tokens > 0) {
    auto v = model->velocity(hidden, batch.mse_indexes, batch.mse_inputs, batch.mse_timesteps)
                 .to(torch::kFloat32);  // [N_mse, patch_latent_dim]
    t.mse_sum = (v - batch.mse_targets).pow(2).mean(-1).sum();
  }
  return t;
}

}  // namespace sgt::train
