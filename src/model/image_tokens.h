#pragma once
// Pixels <-> tensors for the model's two image paths (docs/model.md, "Image transforms"): ToTensor then
// Normalize(mean 0.5, std 0.5), i.e. x = v/255*2 - 1 in [-1, 1]. Both the ViT (understanding) and the VAE
// (generation) take images in this range; the inverse rounds and clamps back to 8 bits.
#include <torch/torch.h>

#include "data/image.h"

namespace sgt::model {

// RGB data::Image [H, W, 3] uint8 -> float32 [3, H, W] in [-1, 1]. Gray / RGBA inputs are converted to RGB.
torch::Tensor image_to_tensor(const data::Image& img);
// float [3, H, W] in [-1, 1] (any float dtype, any device) -> RGB data::Image; values are clamped, then rounded.
data::Image tensor_to_image(const torch::Tensor& x);

}  // namespace sgt::model
