#include "train/samples.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/instructions.h"
#include "data/resize.h"
#include "data/sa1b.h"

namespace sgt::train {
namespace {

std::string_view as_text(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

data::Image load_rgb(const data::WdsSample& raw, int64_t min_side) {
  for (const char* ext : {"jpg", "jpeg", "png"}) {
    if (raw.has(ext)) return data::convert_channels(data::decode_image(raw.at(ext), raw.key + "." + ext, min_side), 3);
  }
  SGT_BAD_SAMPLE(false, data::BadSampleReason::kMissingField, "train.samples", "sample {} has no jpg/png image",
                 raw.key);
  return {};
}

data::Image to_square(const data::Image& img, int64_t side, bool nearest) {
  if (img.width == side && img.height == side) return img;
  return nearest ? data::resize_nearest(img, side, side) : data::resize_bicubic(img, side, side);
}

}  // namespace

void ImageSizes::validate() const {
  // Sides in [stride, 4096] and multiples of their stride (data/packing.h: check_image_side): a side of 10^5 made
  // every resize allocate tens of GB and every sample too long to pack, so sgt tune spun without a step.
  data::check_image_side("data.sizes.vit_side", vit_side, "data.sizes.vit_stride", vit_stride);
  data::check_image_side("data.sizes.vae_side", vae_side, "data.sizes.vae_stride", vae_stride);
}

void ImageSizes::check_model(int64_t vit_patch, int64_t vae_pixels_per_token) const {
  SGT_CHECK(vit_stride == vit_patch, "train.config",
            "data.sizes.vit_stride {} must equal the model's ViT patch size {} (vit.patch_size)", vit_stride, vit_patch);
  SGT_CHECK(vae_stride == vae_pixels_per_token, "train.config",
            "data.sizes.vae_stride {} must equal the model's pixels per latent token {} (AE downsample x "
            "latent_patch_size)",
            vae_stride, vae_pixels_per_token);
}

void SourceConfig::validate() const {
  SGT_CHECK(!shards.empty(), "train.config", "source '{}' has no shards", name);
  SGT_CHECK(weight > 0, "train.config", "source '{}': weight {} must be > 0", name, weight);
  if (kind == SourceKind::kProxy) task.validate();
}

data::SamplePlan vqa_plan(uint64_t key, int64_t vit_w, int64_t vit_h, std::vector<int64_t> question_ids,
                          std::vector<int64_t> answer_ids, int64_t vit_patch) {
  SGT_CHECK(vit_w > 0 && vit_h > 0 && vit_w % vit_patch == 0 && vit_h % vit_patch == 0 && !answer_ids.empty(),
            "train.samples", "VQA sample {}: image {}x{} must be a multiple of {}, answer non-empty", key, vit_w, vit_h,
            vit_patch);
  data::SamplePlan plan;
  plan.key = key;
  data::PlanItem vit;
  vit.kind = data::SplitKind::kVitImage;
  vit.grid_h = vit_h / vit_patch;
  vit.grid_w = vit_w / vit_patch;
  vit.image_slot = 0;
  data::PlanItem q;
  q.kind = data::SplitKind::kText;
  q.text_ids = std::move(question_ids);
  data::PlanItem a;
  a.kind = data::SplitKind::kText;
  a.loss = true;
  a.text_ids = std::move(answer_ids);
  plan.items = {vit, q, a};
  return plan;
}

SampleDecoder::SampleDecoder(const SourceConfig& src, int64_t source_index, const ImageSizes& sizes,
                             std::shared_ptr<const text::Tokenizer> tokenizer)
    : src_(src), index_(source_index), sizes_(sizes), tok_(std::move(tokenizer)) {
  src_.validate();
  sizes_.validate();
  SGT_CHECK(tok_ != nullptr, "train.samples", "source '{}' needs a tokenizer", src_.name);
  if (src_.kind == SourceKind::kProxy) {
    auto instr = std::make_shared<const data::Instructions>(src_.instructions.empty()
                                                                ? data::Instructions::builtin()
                                                                : data::Instructions::load(src_.instructions));
    task_ = data::make_proxy_task(src_.task, instr);
  }
}

TrainSample SampleDecoder::decode(data::WdsSample& raw, Rng& rng) const {
  TrainSample s = src_.kind == SourceKind::kProxy ? decode_proxy(raw, rng) : decode_vqa(raw, rng);
  s.key = raw.key;
  s.source = index_;
  return s;
}

TrainSample SampleDecoder::decode_proxy(data::WdsSample& raw, Rng& rng) const {
  data::ProxySource ps;
  ps.image = load_rgb(raw, std::min(sizes_.vit_side, sizes_.vae_side));
  if (raw.has("json")) {
    auto rec = data::parse_sa1b_json(as_text(raw.at("json")), raw.key + ".json", src_.task.max_masks);
    for (auto& ann : rec.annotations) ps.instances.push_back(std::move(ann.segmentation));
    // With DCT scaling the decoded image can be smaller than the masks: bring it to the mask size.
    if (!ps.instances.empty() && (ps.instances[0].width != ps.image.width ||
                                  ps.instances[0].height != ps.image.height)) {
      ps.image = data::resize_bicubic(ps.image, ps.instances[0].width, ps.instances[0].height);
    }
  }
  if (raw.has("depth.png")) ps.depth = data::decode_image(raw.at("depth.png"), raw.key + ".depth.png");
  data::ProxyExample ex = task_->make(ps, rng);
  const bool label_map = src_.task.task == data::ProxyTaskKind::kSegment || src_.task.task == data::ProxyTaskKind::kEdge;
  TrainSample s;
  s.images.push_back(to_square(ex.input, sizes_.vit_side, false));
  // Label maps keep their exact colours (NEAREST); natural targets use bicubic.
  s.images.push_back(to_square(ex.target, sizes_.vae_side, label_map));
  s.text = ex.instruction;
  auto ids = tok_->encode(ex.instruction);
  s.plan = data::proxy_task_plan(hash64(raw.key), sizes_.vit_side, sizes_.vit_side,
                                 std::vector<int64_t>(ids.begin(), ids.end()), sizes_.vae_side, sizes_.vae_side,
                                 sizes_.vit_stride, sizes_.vae_stride);
  s.plan.items[0].enable_cfg = true;  // ViT condition dropout (0.3 in BAGEL) trains the image-free CFG branch
  return s;
}

TrainSample SampleDecoder::decode_vqa(data::WdsSample& raw, Rng& rng) const {
  SGT_BAD_SAMPLE(raw.has("cvbench.json"), data::BadSampleReason::kMissingField, "train.samples",
                 "VQA sample {} has no .cvbench.json", raw.key);
  nlohmann::json qs;
  try {
    qs = nlohmann::json::parse(as_text(raw.at("cvbench.json")));
  } catch (const std::exception& e) {
    SGT_BAD_SAMPLE(false, data::BadSampleReason::kBadJson, "train.samples", "{}.cvbench.json: {}", raw.key, e.what());
  }
  SGT_BAD_SAMPLE(qs.is_array() && !qs.empty(), data::BadSampleReason::kBadJson, "train.samples",
                 "{}.cvbench.json must be a non-empty array", raw.key);
  const auto& q = qs[rng.below(qs.size())];
  SGT_BAD_SAMPLE(q.contains("prompt") && q["prompt"].is_string() && q.contains("answer") && q["answer"].is_string(),
                 data::BadSampleReason::kBadJson, "train.samples", "{}.cvbench.json: question without prompt/answer",
                 raw.key);
  TrainSample s;
  s.images.push_back(to_square(load_rgb(raw, sizes_.vit_side), sizes_.vit_side, false));
  const std::string question =
      q["prompt"].get<std::string>() + "\nAnswer with the option's letter from the given choices directly.";
  s.text = question;
  s.answer = q["answer"].get<std::string>();
  auto qi = tok_->encode(question);
  auto ai = tok_->encode(q["answer"].get<std::string>());
  s.plan = vqa_plan(hash64(raw.key), sizes_.vit_side, sizes_.vit_side, std::vector<int64_t>(qi.begin(), qi.end()),
                    std::vector<int64_t>(ai.begin(), ai.end()), sizes_.vit_stride);
  return s;
}

}  // namespace sgt::train
