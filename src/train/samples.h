#pragma once
// Training samples: what one decoded webdataset sample becomes before packing (torch-free).
//
//   proxy  (SGT generative proxy task, docs/data.md, "SAM-SGT samples"): [ViT image of the input] -> [instruction] ->
//          [noisy VAE latent of the target] with MSE; images[0] = input at the ViT size, images[1] = target at the
//          VAE size.
//   vqa    (understanding, docs/model.md, "Training samples"): [ViT image] -> [question] -> [answer] with CE on the
//          answer; images[0] = the image at the ViT size.
// Sources read jpg + SA-1B json (+ depth.png) for proxy samples and jpg + cvbench.json (world) or LLaVA-style
// conversations for VQA samples.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/image.h"
#include "data/packing.h"
#include "data/proxy_tasks.h"
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
  template <class V>
  void visit(V&& v) {
    v("name", name);
    v("kind", kind);
    v("shards", shards);
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
  SourceConfig src_;
  int64_t index_;
  ImageSizes sizes_;
  std::shared_ptr<const text::Tokenizer> tok_;
  std::unique_ptr<data::ProxyTask> task_;
};

// Plan of a VQA sample: ViT image (CFG-droppable) -> question (no loss) -> answer (CE).
data::SamplePlan vqa_plan(uint64_t key, int64_t vit_w, int64_t vit_h, std::vector<int64_t> question_ids,
                          std::vector<int64_t> answer_ids, int64_t vit_patch = 14);

}  // namespace sgt::train
