#pragma once
// Training samples: what one decoded webdataset sample becomes before packing (torch-free).
//
//   proxy  (SGT generative proxy task, docs/data.md, "SAM-SGT samples"): [ViT image of the input] -> [instruction] ->
//          [noisy VAE latent of the target] with MSE; images[0] = input at the ViT size, images[1] = target at the
//          VAE size.
//   vqa    (understanding, docs/model.md, "Training samples"): [ViT image] -> [question] -> [answer] with CE on the
//          answer; images[0] = the image at the ViT size.
//          LLaVA / BAGEL SFT records become multi-turn plans: [text | ViT image]* with CE on every assistant turn
//          (conversation_plan); text-only records have no image.
// Source formats (docs/data.md, "Sources"; data/sources.h): webdataset shards (jpg + SA-1B json, or jpg + a
// pre-rendered mask.png, + depth.png; jpg + cvbench.json or a LLaVA json record), SAM-SGT file lists, extracted
// SA-1B folders, LLaVA JSON arrays and JSONL files with images under image_root.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/image.h"
#include "data/packing.h"
#include "data/llava.h"
#include "data/proxy_tasks.h"
#include "data/sources.h"
#include "data/webdataset.h"
#include "text/tokenizer.h"

namespace sgt::train {

struct TrainSample {
  std::string key;
  int64_t source = 0;  // index into the mix's sources
  data::SamplePlan plan;
  std::vector<data::Image> images;  // by plan image_slot, already at the model's sizes
  std::string text;                 // the instruction (proxy) or question (vqa), for evaluation and logs
  std::string answer;               // vqa: the expected answer
  int64_t num_tokens() const { return plan.num_tokens(); }
};

// Fixed training sizes (pixels). The ViT side must be a multiple of 14, the VAE side a multiple of
// vae_downsample * latent_patch_size (16 for FLUX and for the tiny pixel AE with patch 8).
struct ImageSizes {
  int64_t vit_side = 224;
  int64_t vae_side = 256;
  int64_t vae_stride = 16;  // pixels per latent token (AE downsample x latent patch)
  int64_t vit_stride = 14;
  template <class V>
  void visit(V&& v) {
    v("vit_side", vit_side);
    v("vae_side", vae_side);
    v("vae_stride", vae_stride);
    v("vit_stride", vit_stride);
  }
  // Sides in [stride, data::kMaxImageSide], multiples of their strides; errors name the key, value and bound.
  void validate() const;
  // The strides against the model (known once its config is loaded): vit_patch = vit.patch_size,
  // vae_pixels_per_token = vae.downsample() * latent_patch_size.
  void check_model(int64_t vit_patch, int64_t vae_pixels_per_token) const;
};

// proxy: a generative proxy task (flow matching on its target image); vqa: question answering (cross-entropy).
enum class SourceKind { kProxy, kVqa };
constexpr auto enum_names(SourceKind) {
  return std::array{EnumName{SourceKind::kProxy, "proxy"}, EnumName{SourceKind::kVqa, "vqa"}};
}

// One data source of the mixture.
struct SourceConfig {
  std::string name = "segment";
  SourceKind kind = SourceKind::kProxy;
  std::vector<std::string> shards;
  double weight = 1.0;      // relative sampling weight
  bool mandatory = false;   // every micro-batch holds at least one sample of it (BAGEL's mandatory groups)
  data::ProxyTaskConfig task;  // proxy sources: which proxy task (segment by default; edge, depth, recon, ...)
  std::string instructions;    // proxy sources: instructions.json; empty = built-in templates
  // Layout of `shards` (data/sources.h): tar shards, or list files / folders whose records are cut into units.
  data::SourceFormat format = data::SourceFormat::kWebdataset;
  int64_t records_per_unit = data::kDefaultRecordsPerUnit;
  // Relative image paths of list records (sgt_list lines, LLaVA "image") are resolved against image_root.
  std::string image_root;
  // Pre-rendered segmentation targets: empty = SGT's rule (sam_selection -> sam_mask, jpg -> png) for sgt_list and a
  // "mask.png" member for webdataset; else <mask_root>/<image stem>.png. Their resize to the image size is
  // task.mask_resize (SGT's loader: bicubic).
  std::string mask_root;
  std::vector<std::string> mask_shards;  // webdataset: masks in their own tars, one per shard (data/sources.h)
  // Depth targets read next to the image (list formats: <image path without extension><depth_suffix>; webdataset:
  // the member "depth.png" or "depth.npy"), e.g. ".depth.png" (8/16-bit PNG) or ".npy" (float or integer, 2-D).
  std::string depth_suffix;
  template <class V>
  void visit(V&& v) {
    v("name", name);
    v("kind", kind);
    v("shards", shards);
    v("format", format);
    v("records_per_unit", records_per_unit);
    v("image_root", image_root);
    v("mask_root", mask_root);
    v("mask_shards", mask_shards);
    v("depth_suffix", depth_suffix);
    v("weight", weight);
    v("mandatory", mandatory);
    v("task", task);
    v("instructions", instructions);
  }
  void validate() const;
};

// Turns raw webdataset samples of one source into TrainSamples. Thread-safe (decode runs on loader threads).
class SampleDecoder {
 public:
  SampleDecoder(const SourceConfig& src, int64_t source_index, const ImageSizes& sizes,
                std::shared_ptr<const text::Tokenizer> tokenizer);
  // rng: the loader's per-sample stream (colours, instruction, question choice).
  TrainSample decode(data::WdsSample& raw, Rng& rng) const;

 private:
  TrainSample decode_proxy(data::WdsSample& raw, Rng& rng) const;
  TrainSample decode_vqa(data::WdsSample& raw, Rng& rng) const;
  TrainSample decode_conversation(data::LlavaSample ls, uint64_t key) const;
  void read_list_files(data::WdsSample& raw) const;  // list formats: the image, mask, json and depth files
  SourceConfig src_;
  std::shared_ptr<const data::Instructions> instr_;
  int64_t index_;
  ImageSizes sizes_;
  std::shared_ptr<const text::Tokenizer> tok_;
  std::unique_ptr<data::ProxyTask> task_;
};

// Plan of a VQA sample: ViT image (CFG-droppable) -> question (no loss) -> answer (CE).
data::SamplePlan vqa_plan(uint64_t key, int64_t vit_w, int64_t vit_h, std::vector<int64_t> question_ids,
                          std::vector<int64_t> answer_ids, int64_t vit_patch = 14);

// Plan of a conversation (BAGEL data/vlm_dataset.py, SftJSONLIterableDataset.__iter__): one split per non-empty
// tokenized piece of data::conversation_pieces (user text no loss, assistant text CE, images as ViT splits of
// vit_side x vit_side, no CFG). Throws BadSampleError(kBadText) when no assistant text is left (BAGEL skips those).
data::SamplePlan conversation_plan(uint64_t key, const std::vector<data::ConversationPiece>& pieces,
                                   const text::Tokenizer& tok, int64_t vit_side, int64_t vit_patch = 14);

}  // namespace sgt::train
