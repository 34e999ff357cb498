#include "model/image_tokens.h"

#include <cstring>

#include "core/error.h"

namespace sgt::model {

torch::Tensor image_to_tensor(const data::Image& img) {
  SGT_CHECK(!img.empty() && img.width > 0 && img.height > 0, "model.image", "empty image");
  const data::Image rgb = img.channels == 3 ? img : data::convert_channels(img, 3);
  auto bytes = torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {rgb.height, rgb.width, 3}, torch::kUInt8);
  // [H, W, 3] uint8 -> [3, H, W] float in [-1, 1]
  return bytes.permute({2, 0, 1}).to(torch::kFloat32).div(127.5).sub(1.0).contiguous();
}

data::Image tensor_to_image(const torch::Tensor& x) {
  SGT_CHECK(x.dim() == 3 && x.size(0) == 3, "model.image", "expected [3, H, W], got {}",
            sgt::shape_str(x.sizes().vec()));
  auto v = x.detach().to(torch::kCPU, torch::kFloat32).add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8);
  v = v.permute({1, 2, 0}).contiguous();  // [H, W, 3]
  data::Image out(x.size(2), x.size(1), 3);
  std::memcpy(out.pixels.data(), v.data_ptr<uint8_t>(), out.pixels.size());
  return out;
}

}  // namespace sgt::model
