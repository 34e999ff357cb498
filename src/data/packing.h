#pragma once
// BAGEL sequence plans and NaViT packing (docs/model.md, "Images as tokens", "Packed sequences"; docs/attention.md;
// Bagel's data/dataset_base.py, `PackedDataset.pack_sequence`), torch-free.
//
// A sample is a plan: an ordered list of splits (text, ViT image, VAE image) with loss / CFG flags. The packer
// lays several samples one after another into one flat sequence and records what the model needs, as plain
// vectors of int64 (the model layer converts them to tensors):
//   text split      [<|im_start|>, t1..tn, <|im_end|>]   mode causal, position ids consecutive
//   ViT split       [<|vision_start|>, P tokens, <|vision_end|>]   mode full, one position id, then +1
//   clean VAE split [<|vision_start|>, h*w tokens, <|vision_end|>] mode full, one position id, then +1
//   noisy VAE split same layout, mode noise, one position id, counter NOT advanced
// Position ids restart at 0 for each sample. Dropped CFG conditions emit no tokens; dropped images still advance
// the position counter by 1, dropped text does not (as in BAGEL).
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/layout.h"

namespace sgt::data {

enum class SplitKind { kText, kVitImage, kVaeImage };

struct PlanItem {
  SplitKind kind = SplitKind::kText;
  bool loss = false;        // text: CE on its tokens; VAE image: noisy target with MSE
  bool enable_cfg = false;  // may be dropped (text / ViT / VAE condition dropout)
  std::vector<int64_t> text_ids;  // text splits: token ids without <|im_start|>/<|im_end|>
  int64_t grid_h = 0, grid_w = 0; // image splits: patch grid (ViT: H/14 x W/14, VAE: H/16 x W/16)
  int64_t image_slot = -1;        // image splits: index into the sample's own image list
};

struct SamplePlan {
  uint64_t key = 0;  // caller's id for the sample (to find its pixels); copied into the pack
  std::vector<PlanItem> items;
  // BAGEL's cost: sequence tokens + 2 per plan item (the markers).
  int64_t num_tokens() const;
};

struct PackingConfig {
  int64_t expected_num_tokens = 16384;   // yield a pack as soon as it reaches this many tokens
  int64_t max_num_tokens = 36864;        // hard budget per pack
  int64_t max_num_tokens_per_sample = 16384;  // longer samples are skipped (counted)
  int64_t max_buffer_size = 50;          // overflow buffer
  int64_t prefer_buffer_before = 16384;  // drain the buffer first while the pack is shorter than this
  double text_cond_dropout_prob = 0.1;
  double vit_cond_dropout_prob = 0.4;
  double vae_cond_dropout_prob = 0.1;
  // Qwen2 special token ids.
  int64_t bos_id = 151644;           // <|im_start|>
  int64_t eos_id = 151645;           // <|im_end|>
  int64_t vision_start_id = 151652;  // <|vision_start|>
  int64_t vision_end_id = 151653;    // <|vision_end|>
  int64_t vit_max_patches_per_side = 70;  // ViT pos id = i*70 + j
  int64_t vae_max_latent_side = 64;       // latent pos id = i*64 + j

  template <class V>
  void visit(V&& v) {
    v("expected_num_tokens", expected_num_tokens);
    v("max_num_tokens", max_num_tokens);
    v("max_num_tokens_per_sample", max_num_tokens_per_sample);
    v("max_buffer_size", max_buffer_size);
    v("prefer_buffer_before", prefer_buffer_before);
    v("text_cond_dropout_prob", text_cond_dropout_prob);
    v("vit_cond_dropout_prob", vit_cond_dropout_prob);
    v("vae_cond_dropout_prob", vae_cond_dropout_prob);
    v("bos_id", bos_id);
    v("eos_id", eos_id);
    v("vision_start_id", vision_start_id);
    v("vision_end_id", vision_end_id);
    v("vit_max_patches_per_side", vit_max_patches_per_side);
    v("vae_max_latent_side", vae_max_latent_side);
  }
  void validate() const;
  // Throws when a sample of `min_tokens` tokens (the smallest one a source can produce, e.g.
  // min_proxy_sample_tokens) exceeds max_num_tokens_per_sample: every sample would be skipped as too long and the
  // mixer would wait forever for one that fits. `what` names the source for the message.
  void check_fits(int64_t min_tokens, const std::string& what) const;
};

// Largest training image side (pixels) a config may ask for: 4096^2 RGB is 48 MiB per image, and a side of 10^5
// would make every resize allocate tens of GB.
inline constexpr int64_t kMaxImageSide = 4096;
// Checks a configured image side: in [stride, kMaxImageSide] and a multiple of stride (> 0, <= kMaxImageSide);
// with max_grid > 0 also side / stride <= max_grid (the position table side, max_grid_key). Errors name the keys
// (e.g. "data.sizes.vae_side"), the value and the bound.
void check_image_side(const std::string& key, int64_t side, const std::string& stride_key, int64_t stride,
                      int64_t max_grid = 0, const std::string& max_grid_key = {});
// Tokens of the smallest proxy-task sample at these sizes (square images, an empty instruction) and of the
// smallest VQA sample (square ViT image, empty question, a one-token answer), counted as SamplePlan::num_tokens.
int64_t min_proxy_sample_tokens(int64_t vit_side, int64_t vit_stride, int64_t vae_side, int64_t vae_stride);
int64_t min_vqa_sample_tokens(int64_t vit_side, int64_t vit_stride);

// One image placed in the pack.
struct PackedImage {
  int64_t sample = 0;      // index into Pack::sample_keys
  int64_t plan_item = 0;   // index of the item in that sample's plan
  int64_t image_slot = -1;
  int64_t grid_h = 0, grid_w = 0;
  int64_t first_token = 0;  // sequence index of its first patch token (after <|vision_start|>)
  bool noisy = false;       // VAE only
  double timestep_raw = 0;  // VAE only: N(0,1) draw for noisy images, -inf for clean ones
};

struct Pack {
  std::vector<uint64_t> sample_keys;
  std::vector<int64_t> sample_lens;  // tokens per sample; sums to length()
  PackLayout layout;                 // the emitted splits in sequence order (data/layout.h)
  std::vector<int64_t> position_ids; // one per token (RoPE id)
  // Text tokens (including the four kinds of markers) and their sequence indexes.
  std::vector<int64_t> text_ids, text_indexes;
  // CE: sequence positions whose hidden state predicts label_ids[i].
  std::vector<int64_t> ce_loss_indexes, label_ids;
  // ViT patches: sequence indexes and per-patch position ids (i*70 + j).
  std::vector<int64_t> vit_token_indexes, vit_position_ids;
  std::vector<PackedImage> vit_images;
  // VAE latents: sequence indexes, latent position ids (i*64 + j), MSE positions.
  std::vector<int64_t> vae_token_indexes, latent_position_ids, mse_loss_indexes;
  std::vector<PackedImage> vae_images;

  int64_t length() const { return static_cast<int64_t>(position_ids.size()); }
  // Checks internal consistency (lengths, index ranges, sums); throws sgt::Error.
  void validate() const;
};

// SGT proxy-task plan (docs/data.md, "SAM-SGT samples"): ViT tokens of the input (no loss) -> instruction text (no
// loss, CFG-droppable) -> noisy VAE latent of the target (MSE). Sizes are in pixels after the transforms; the grids
// are (h / vit_patch, w / vit_patch) and (h / vae_patch, w / vae_patch). Image slots: 0 = input, 1 = target.
SamplePlan proxy_task_plan(uint64_t key, int64_t input_w, int64_t input_h, std::vector<int64_t> instruction_ids,
                           int64_t target_w, int64_t target_h, int64_t vit_patch = 14, int64_t vae_patch = 16);

// Appends one sample to `pack`; `rng` draws the CFG drops and noisy timesteps (in plan order).
void append_sample(Pack& pack, const SamplePlan& plan, const PackingConfig& cfg, Rng& rng);

// Greedy packer with BAGEL's overflow buffer. Unlike BAGEL, a sample that does not fit when the buffer is full is
// kept (moved to the buffer's front) rather than dropped, so no sample is lost.
class Packer {
 public:
  Packer(PackingConfig cfg, uint64_t seed);
  // Offers a sample; returns the packs finished by it (usually none or one).
  std::vector<Pack> add(SamplePlan plan);
  // Packs what is left (buffer included).
  std::vector<Pack> flush();
  int64_t skipped_too_long() const { return skipped_too_long_; }
  int64_t current_tokens() const { return cur_tokens_; }
  int64_t buffered() const { return static_cast<int64_t>(buffer_.size()); }

 private:
  void place(const SamplePlan& plan);
  void drain_buffer();
  void finish(std::vector<Pack>& out);
  PackingConfig cfg_;
  Rng rng_;
  Pack cur_;
  int64_t cur_tokens_ = 0;  // current pack length in tokens
  std::deque<SamplePlan> buffer_;
  int64_t skipped_too_long_ = 0;
};

}  // namespace sgt::data
