#pragma once
// Model-driven halves of the linear probe and the attention allocation (docs/eval.md, "Linear separability",
// "Attention allocation"). One understanding sample is laid out as `sgt chat` lays it out (infer::understand):
//   [<|vision_start|> ViT patches <|vision_end|>] (full, RoPE 0) [<|im_start|> prompt <|im_end|>] (causal)
//   [<|im_start|>] (the query from which the first answer token is predicted)
// and run once through the packed forward (model::Bagel) with the decoder's analysis hooks (model/qwen2.h
// ForwardHooks): on_layer gives the per-layer hidden states, on_attention the post-RoPE q / k.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/image.h"
#include "eval/attention.h"
#include "infer/app.h"
#include "model/bagel.h"
#include "text/tokenizer.h"

namespace sgt::eval {

struct UnderstandingSample {
  model::BagelPackedInputs inputs;       // one sample (batch 1), tensors on the model's device
  std::vector<int64_t> image_positions;  // [P] sequence positions of the ViT patches
  int64_t query_position = 0;            // the final <|im_start|> (L - 1)
  // [L]: ViT patches kVit; every text-vocabulary token, the vision markers included, kText (decided up front,
  // docs/eval.md, "Attention allocation": nothing is excluded as a sink).
  std::vector<KeyType> key_types;
};
// image is resized to vit_w x vit_h (0 = keep, rounded down to a multiple of the ViT patch) as in infer::understand.
UnderstandingSample understanding_sample(model::Bagel& m, const text::Tokenizer& tok, const data::Image& image,
                                         const std::string& prompt, int64_t vit_w = 0, int64_t vit_h = 0);

enum class FeaturePool { kImageMean, kLastToken };
FeaturePool feature_pool_from_string(const std::string& s);  // "image-mean" | "last"

// Every decoder layer's output hidden states (the residual stream; the last one is pre-norm), pooled: the mean
// over the ViT patch positions, or the query (last) token. -> [layers, hidden] float32 on the CPU.
torch::Tensor layer_features(model::Bagel& m, const UnderstandingSample& s, FeaturePool pool);
// Adds one sample to alloc: queries = {the final <|im_start|>}, allowed = that row of the packed attention rule.
void add_attention_sample(model::Bagel& m, const UnderstandingSample& s, AttentionAllocation& alloc);

// JSONL lists. Relative image paths are taken relative to the list file's folder.
struct LabelledImage {
  std::string image;
  int64_t label = 0;
};
std::vector<LabelledImage> read_labelled_images(const std::string& path);  // {"image": path, "label": int >= 0}
struct PromptedImage {
  std::string image, prompt;
};
std::vector<PromptedImage> read_prompted_images(const std::string& path);  // {"image": path, "prompt": text}

struct AnalysisOptions {
  int64_t vit_w = 0, vit_h = 0;  // ViT input size (0 = the image's, rounded down to a multiple of 14)
  bool progress = true;
};
// Loads the model (understanding only) and extracts features [N, layers, hidden] (float32) and labels [N] (int64)
// with the same prompt for every image.
std::pair<torch::Tensor, torch::Tensor> extract_probe_features(const infer::ModelArgs& m,
                                                               const std::vector<LabelledImage>& items,
                                                               const std::string& prompt, FeaturePool pool,
                                                               const AnalysisOptions& opt = {});
// Loads the model and returns the per-layer mean shares over the list.
std::vector<AttentionShares> model_attention_shares(const infer::ModelArgs& m, const std::vector<PromptedImage>& items,
                                                    const AnalysisOptions& opt = {});

}  // namespace sgt::eval
