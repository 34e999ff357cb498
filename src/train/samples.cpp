#include "train/samples.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/depth_file.h"
#include "data/instructions.h"
#include "data/resize.h"
#include "data/sa1b.h"
#include "data/sources.h"

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

bool exists(const std::string& path) { return std::filesystem::is_regular_file(path); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
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
  using F = data::SourceFormat;
  const bool vqa_format = format == F::kLlavaJson || format == F::kLlavaJsonl || format == F::kLlavaParquet;
  const bool proxy_format = format == F::kSgtList || format == F::kSa1bFolder;
  // A LLaVA file is not SA-1B data (and a file list holds no conversations): refuse the pairing before any read.
  SGT_CHECK(!(vqa_format && kind != SourceKind::kVqa) && !(proxy_format && kind != SourceKind::kProxy), "train.config",
            "source '{}': format {} needs kind {}", name, format, vqa_format ? "vqa" : "proxy");
  SGT_CHECK(mask_shards.empty() || (format == F::kWebdataset && kind == SourceKind::kProxy), "train.config",
            "source '{}': mask_shards are for webdataset proxy sources", name);
  SGT_CHECK(records_per_unit >= 1, "train.config", "source '{}': records_per_unit {} must be >= 1", name,
            records_per_unit);
  SGT_CHECK(depth_suffix.empty() || lower(depth_suffix).ends_with(".png") || lower(depth_suffix).ends_with(".npy"),
            "train.config", "source '{}': depth_suffix '{}' must end in .png or .npy", name, depth_suffix);
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
    instr_ = std::make_shared<const data::Instructions>(src_.instructions.empty()
                                                           ? data::Instructions::builtin()
                                                           : data::Instructions::load(src_.instructions));
    task_ = data::make_proxy_task(src_.task, instr_);
  }
}

void SampleDecoder::read_list_files(data::WdsSample& raw) const {
  using F = data::SourceFormat;
  if (src_.format != F::kSgtList && src_.format != F::kSa1bFolder) return;
  const auto& p = raw.at("path");
  std::string image(p.begin(), p.end());
  raw.fields.erase("path");
  if (!src_.image_root.empty() && !image.starts_with("/")) image = src_.image_root + "/" + image;
  namespace fs = std::filesystem;
  const fs::path ip(image);
  SGT_BAD_SAMPLE(exists(image), data::BadSampleReason::kMissingField, "train.samples",
                 "image {} (listed in {}) does not exist", image, raw.url);
  std::string ext = lower(ip.extension().string());
  raw.fields[ext.empty() ? "jpg" : ext.substr(1) == "jpeg" ? "jpg" : ext.substr(1)] = data::read_file_bytes(image);
  const std::string base = (ip.parent_path() / ip.stem()).string();
  if (src_.format == F::kSgtList && src_.task.task == data::ProxyTaskKind::kSegment) {
    const std::string mask =
        src_.mask_root.empty() ? data::sgt_mask_path(image) : src_.mask_root + "/" + ip.stem().string() + ".png";
    SGT_BAD_SAMPLE(exists(mask), data::BadSampleReason::kMissingField, "train.samples",
                   "target mask {} of image {} (listed in {}) does not exist", mask, image, raw.url);
    raw.fields["mask.png"] = data::read_file_bytes(mask);
  } else if (src_.format == F::kSa1bFolder) {
    SGT_BAD_SAMPLE(exists(base + ".json"), data::BadSampleReason::kMissingField, "train.samples",
                   "{} has no {} beside it", image, base + ".json");
    raw.fields["json"] = data::read_file_bytes(base + ".json");
  }
  if (!src_.depth_suffix.empty() && exists(base + src_.depth_suffix))
    raw.fields[lower(src_.depth_suffix).ends_with(".npy") ? "depth.npy" : "depth.png"] =
        data::read_file_bytes(base + src_.depth_suffix);
  SGT_BAD_SAMPLE(src_.task.task != data::ProxyTaskKind::kDepth || raw.has("depth.png") || raw.has("depth.npy"),
                 data::BadSampleReason::kMissingField, "train.samples", "depth target {} of image {} does not exist",
                 src_.depth_suffix.empty() ? std::string("(no depth_suffix set)") : base + src_.depth_suffix, image);
}

TrainSample SampleDecoder::decode(data::WdsSample& raw, Rng& rng) const {
  read_list_files(raw);
  TrainSample s = src_.kind == SourceKind::kProxy ? decode_proxy(raw, rng) : decode_vqa(raw, rng);
  s.key = raw.key;
  s.source = index_;
  return s;
}

TrainSample SampleDecoder::decode_proxy(data::WdsSample& raw, Rng& rng) const {
  data::ProxySource ps;
  const bool prerendered = src_.task.task == data::ProxyTaskKind::kSegment &&
                           (raw.has("mask.png") || (!src_.mask_root.empty() && src_.format == data::SourceFormat::kWebdataset));
  // A pre-rendered mask is resized to the full image size as SGT's loader does, so no DCT-scaled decode then.
  ps.image = load_rgb(raw, prerendered ? 0 : std::min(sizes_.vit_side, sizes_.vae_side));
  if (raw.has("json")) {
    auto rec = data::parse_sa1b_json(as_text(raw.at("json")), raw.key + ".json", src_.task.max_masks);
    // A JPEG whose size is not the JSON's (e.g. transposed) is a bad sample, not stretched onto the masks.
    if (raw.has("jpg")) data::check_sa1b_image_size(raw.at("jpg"), rec, raw.key + ".jpg");
    for (auto& ann : rec.annotations) ps.instances.push_back(std::move(ann.segmentation));
    // With DCT scaling the decoded image can be smaller than the masks: bring it to the mask size.
    if (!ps.instances.empty() && (ps.instances[0].width != ps.image.width ||
                                  ps.instances[0].height != ps.image.height)) {
      ps.image = data::resize_bicubic(ps.image, ps.instances[0].width, ps.instances[0].height);
    }
  }
  if (raw.has("depth.png")) ps.depth = data::decode_depth_png(raw.at("depth.png"), raw.key + ".depth.png");
  if (raw.has("depth.npy")) ps.depth = data::decode_depth_npy(raw.at("depth.npy"), raw.key + ".depth.npy");
  std::string mask_file = raw.has("mask.png") ? raw.key + ".mask.png" : "";
  if (mask_file.empty() && !src_.mask_root.empty() && src_.format == data::SourceFormat::kWebdataset) {
    mask_file = src_.mask_root + "/" + raw.key + ".png";
    SGT_BAD_SAMPLE(exists(mask_file), data::BadSampleReason::kMissingField, "train.samples",
                   "target mask {} of sample {} does not exist", mask_file, raw.key);
    raw.fields["mask.png"] = data::read_file_bytes(mask_file);
  }
  data::ProxyExample ex;
  if (prerendered) {
    // SAM-SGT: the target is the pre-rendered colour mask, resized to the image (BAGEL data/sam_190k.py,
    // Sam190KDataset.__iter__: PIL resize, bicubic for RGB); the instruction is drawn as ProxyTask::make does.
    data::Image mask = data::convert_channels(data::decode_image(raw.at("mask.png"), mask_file), 3);
    if (mask.width != ps.image.width || mask.height != ps.image.height) {
      SGT_BAD_SAMPLE(src_.task.mask_resize != data::MaskResize::kReject, data::BadSampleReason::kSizeMismatch,
                     "train.samples", "mask {} is {}x{} but the image is {}x{} (task.mask_resize: reject)", mask_file,
                     mask.width, mask.height, ps.image.width, ps.image.height);
      mask = src_.task.mask_resize == data::MaskResize::kNearest
                 ? data::resize_nearest(mask, ps.image.width, ps.image.height)
                 : data::resize_bicubic(mask, ps.image.width, ps.image.height);
    }
    ex.task = task_->name();
    ex.input = ps.image;
    ex.target = std::move(mask);
    ex.instruction = instr_->draw(data::instruction_list_for(src_.task.task), rng);
  } else {
    ex = task_->make(ps, rng);
  }
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

data::SamplePlan conversation_plan(uint64_t key, const std::vector<data::ConversationPiece>& pieces,
                                   const text::Tokenizer& tok, int64_t vit_side, int64_t vit_patch) {
  SGT_CHECK(vit_side > 0 && vit_side % vit_patch == 0, "train.samples", "conversation {}: ViT side {} not a multiple of {}",
            key, vit_side, vit_patch);
  data::SamplePlan plan;
  plan.key = key;
  bool any_loss = false;
  for (const auto& p : pieces) {
    data::PlanItem it;
    if (p.is_image) {
      it.kind = data::SplitKind::kVitImage;
      it.grid_h = it.grid_w = vit_side / vit_patch;
      it.image_slot = p.image;
    } else {
      auto ids = tok.encode(p.text);
      if (ids.empty()) continue;  // BAGEL keeps a text split only when it has tokens
      it.kind = data::SplitKind::kText;
      it.loss = p.loss;
      it.text_ids.assign(ids.begin(), ids.end());
      any_loss = any_loss || p.loss;
    }
    plan.items.push_back(std::move(it));
  }
  SGT_BAD_SAMPLE(any_loss, data::BadSampleReason::kBadText, "train.samples",
                 "conversation {} has no assistant text to train on", key);
  return plan;
}

TrainSample SampleDecoder::decode_conversation(data::LlavaSample ls, uint64_t key) const {
  TrainSample s;
  for (auto& img : ls.images) s.images.push_back(to_square(img, sizes_.vit_side, false));
  const auto pieces = data::conversation_pieces(ls.record, static_cast<int64_t>(s.images.size()));
  s.plan = conversation_plan(key, pieces, *tok_, sizes_.vit_side, sizes_.vit_stride);
  for (const auto& p : pieces) {
    if (p.is_image) continue;
    if (!p.loss && s.text.empty()) s.text = p.text;
    if (p.loss && s.answer.empty()) s.answer = p.text;
  }
  return s;
}

TrainSample SampleDecoder::decode_vqa(data::WdsSample& raw, Rng& rng) const {
  using F = data::SourceFormat;
  if (src_.format == F::kLlavaJson || src_.format == F::kLlavaJsonl) {
    auto rec = data::parse_llava_record(as_text(raw.at("json")), raw.url + ":" + raw.key);
    return decode_conversation(data::load_llava_images(std::move(rec), src_.image_root, sizes_.vit_side),
                               hash64(raw.key));
  }
  if (src_.format == F::kLlavaParquet) {
    nlohmann::json row;
    try {
      row = nlohmann::json::from_cbor(raw.at("row.cbor"));
    } catch (const std::exception& e) {
      SGT_BAD_SAMPLE(false, data::BadSampleReason::kBadJson, "train.samples", "{} {}: {}", raw.url, raw.key, e.what());
    }
    return decode_conversation(data::decode_llava_wds(data::parquet_row_sample(row, raw.url, raw.key), sizes_.vit_side),
                               hash64(raw.key));
  }
  if (!raw.has("cvbench.json") && raw.has("json"))
    return decode_conversation(data::decode_llava_wds(raw, sizes_.vit_side), hash64(raw.key));
  SGT_BAD_SAMPLE(raw.has("cvbench.json"), data::BadSampleReason::kMissingField, "train.samples",
                 "VQA sample {} has no .cvbench.json or LLaVA .json record", raw.key);
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
