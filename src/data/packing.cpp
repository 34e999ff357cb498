#include "data/packing.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace sgt::data {

int64_t SamplePlan::num_tokens() const {
  int64_t n = 0;
  for (const auto& it : items) {
    n += 2;
    n += it.kind == SplitKind::kText ? static_cast<int64_t>(it.text_ids.size()) : it.grid_h * it.grid_w;
  }
  return n;
}

void PackingConfig::validate() const {
  SGT_CHECK(expected_num_tokens > 0 && max_num_tokens >= expected_num_tokens, "packing",
            "need 0 < expected_num_tokens ({}) <= max_num_tokens ({})", expected_num_tokens, max_num_tokens);
  SGT_CHECK(max_num_tokens_per_sample > 0 && max_num_tokens_per_sample <= max_num_tokens, "packing",
            "max_num_tokens_per_sample {} must be in (0, max_num_tokens {}]", max_num_tokens_per_sample,
            max_num_tokens);
  // A pack is one sequence through the model: 2^24 tokens is far beyond any attention budget, and bounding it keeps
  // the token arithmetic of the plans far from overflow.
  constexpr int64_t kMaxPackTokens = int64_t{1} << 24;
  SGT_CHECK(max_num_tokens <= kMaxPackTokens, "packing", "max_num_tokens {} is above the limit of {}", max_num_tokens,
            kMaxPackTokens);
  SGT_CHECK(max_buffer_size >= 0, "packing", "max_buffer_size {} < 0", max_buffer_size);
  SGT_CHECK(prefer_buffer_before >= 0, "packing", "prefer_buffer_before {} < 0", prefer_buffer_before);
  for (double p : {text_cond_dropout_prob, vit_cond_dropout_prob, vae_cond_dropout_prob})
    SGT_CHECK(p >= 0 && p <= 1, "packing", "dropout probability {} outside [0, 1]", p);
  SGT_CHECK(bos_id >= 0 && eos_id >= 0 && vision_start_id >= 0 && vision_end_id >= 0, "packing",
            "special token ids must be >= 0 (bos {}, eos {}, vision_start {}, vision_end {})", bos_id, eos_id,
            vision_start_id, vision_end_id);
  SGT_CHECK(vit_max_patches_per_side >= 1 && vae_max_latent_side >= 1, "packing",
            "vit_max_patches_per_side {} and vae_max_latent_side {} must be >= 1", vit_max_patches_per_side,
            vae_max_latent_side);
}

void PackingConfig::check_fits(int64_t min_tokens, const std::string& what) const {
  SGT_CHECK(min_tokens <= max_num_tokens_per_sample, "packing",
            "{}: its smallest sample takes {} tokens, above packing.max_num_tokens_per_sample {} (no sample could "
            "ever be packed; raise the budget or lower data.sizes)",
            what, min_tokens, max_num_tokens_per_sample);
}

void check_image_side(const std::string& key, int64_t side, const std::string& stride_key, int64_t stride,
                      int64_t max_grid, const std::string& max_grid_key) {
  SGT_CHECK(stride >= 1 && stride <= kMaxImageSide, "config", "{} {} must be in [1, {}]", stride_key, stride,
            kMaxImageSide);
  SGT_CHECK(side >= stride && side <= kMaxImageSide, "config", "{} {} must be in [{} ({}), {}]", key, side,
            stride_key, stride, kMaxImageSide);
  SGT_CHECK(side % stride == 0, "config", "{} {} must be a multiple of {} {}", key, side, stride_key, stride);
  if (max_grid > 0)
    SGT_CHECK(side / stride <= max_grid, "config",
              "{} {} gives a {}x{} patch grid, above {} {} (side / {} must be <= {})", key, side, side / stride,
              side / stride, max_grid_key, max_grid, stride_key, max_grid);
}

int64_t min_proxy_sample_tokens(int64_t vit_side, int64_t vit_stride, int64_t vae_side, int64_t vae_stride) {
  return proxy_task_plan(0, vit_side, vit_side, {}, vae_side, vae_side, vit_stride, vae_stride).num_tokens();
}

int64_t min_vqa_sample_tokens(int64_t vit_side, int64_t vit_stride) {
  SGT_CHECK(vit_stride > 0 && vit_side > 0 && vit_side % vit_stride == 0, "packing",
            "ViT side {} must be a positive multiple of {}", vit_side, vit_stride);
  SamplePlan plan;
  PlanItem vit;
  vit.kind = SplitKind::kVitImage;
  vit.grid_h = vit.grid_w = vit_side / vit_stride;
  PlanItem question, answer;
  answer.text_ids = {0};
  plan.items = {vit, question, answer};
  return plan.num_tokens();
}

namespace {

void check_item(const PlanItem& it, const PackingConfig& cfg, uint64_t key, size_t idx) {
  if (it.kind == SplitKind::kText) return;
  SGT_CHECK(it.grid_h > 0 && it.grid_w > 0, "packing", "sample {} item {}: empty image grid {}x{}", key, idx,
            it.grid_h, it.grid_w);
  const int64_t side = it.kind == SplitKind::kVitImage ? cfg.vit_max_patches_per_side : cfg.vae_max_latent_side;
  SGT_CHECK(it.grid_h <= side && it.grid_w <= side, "packing",
            "sample {} item {}: image grid {}x{} exceeds the position table side {}", key, idx, it.grid_h, it.grid_w,
            side);
  SGT_CHECK(!(it.kind == SplitKind::kVitImage && it.loss), "packing", "sample {} item {}: ViT images carry no loss",
            key, idx);
}

}  // namespace

SamplePlan proxy_task_plan(uint64_t key, int64_t input_w, int64_t input_h, std::vector<int64_t> instruction_ids,
                           int64_t target_w, int64_t target_h, int64_t vit_patch, int64_t vae_patch) {
  SGT_CHECK(vit_patch > 0 && vae_patch > 0 && input_w % vit_patch == 0 && input_h % vit_patch == 0 &&
                target_w % vae_patch == 0 && target_h % vae_patch == 0 && input_w > 0 && input_h > 0 &&
                target_w > 0 && target_h > 0,
            "packing", "sample {}: input {}x{} must be a multiple of {} and target {}x{} of {}", key, input_w, input_h,
            vit_patch, target_w, target_h, vae_patch);
  SamplePlan plan;
  plan.key = key;
  PlanItem vit;
  vit.kind = SplitKind::kVitImage;
  vit.grid_h = input_h / vit_patch;
  vit.grid_w = input_w / vit_patch;
  vit.image_slot = 0;
  PlanItem text;
  text.kind = SplitKind::kText;
  text.text_ids = std::move(instruction_ids);
  text.enable_cfg = true;
  PlanItem vae;
  vae.kind = SplitKind::kVaeImage;
  vae.loss = true;
  vae.grid_h = target_h / vae_patch;
  vae.grid_w = target_w / vae_patch;
  vae.image_slot = 1;
  plan.items = {vit, text, vae};
  return plan;
}

void append_sample(Pack& p, const SamplePlan& plan, const PackingConfig& cfg, Rng& rng) {
  const int64_t sample = static_cast<int64_t>(p.sample_keys.size());
  const int64_t start_len = p.length();
  int64_t rope = 0;
  // A split is opened at the current length and closed (its length known) once its tokens are pushed.
  int64_t split_start = 0;
  AttnMode split_mode = AttnMode::kCausal;
  auto open_split = [&](AttnMode mode) {
    split_start = p.length();
    split_mode = mode;
  };
  auto push_text = [&](int64_t id, int64_t pos) {
    p.text_indexes.push_back(p.length());
    p.text_ids.push_back(id);
    p.position_ids.push_back(pos);
  };
  auto close_split = [&] { p.layout.push(p.length() - split_start, split_mode, sample); };

  for (size_t idx = 0; idx < plan.items.size(); ++idx) {
    const PlanItem& it = plan.items[idx];
    check_item(it, cfg, plan.key, idx);
    if (it.kind == SplitKind::kText) {
      if (it.enable_cfg && rng.uniform() < cfg.text_cond_dropout_prob) continue;  // dropped text: no advance
      open_split(AttnMode::kCausal);
      const int64_t first = p.length();
      push_text(cfg.bos_id, rope++);
      for (int64_t t : it.text_ids) push_text(t, rope++);
      push_text(cfg.eos_id, rope++);
      if (it.loss) {
        // inputs [IS, t1..tn], labels [t1..tn, IE]
        for (size_t i = 0; i <= it.text_ids.size(); ++i) {
          p.ce_loss_indexes.push_back(first + static_cast<int64_t>(i));
          p.label_ids.push_back(i < it.text_ids.size() ? it.text_ids[i] : cfg.eos_id);
        }
      }
      close_split();
      continue;
    }
    const bool vit = it.kind == SplitKind::kVitImage;
    const bool noisy = !vit && it.loss;
    if (it.enable_cfg && !noisy) {
      const double prob = vit ? cfg.vit_cond_dropout_prob : cfg.vae_cond_dropout_prob;
      if (rng.uniform() < prob) {
        ++rope;  // BAGEL advances the position also for a dropped condition image
        continue;
      }
    }
    open_split(noisy ? AttnMode::kNoise : AttnMode::kFull);
    push_text(cfg.vision_start_id, rope);
    PackedImage img;
    img.sample = sample;
    img.plan_item = static_cast<int64_t>(idx);
    img.image_slot = it.image_slot;
    img.grid_h = it.grid_h;
    img.grid_w = it.grid_w;
    img.first_token = p.length();
    img.noisy = noisy;
    const int64_t side = vit ? cfg.vit_max_patches_per_side : cfg.vae_max_latent_side;
    for (int64_t i = 0; i < it.grid_h; ++i) {
      for (int64_t j = 0; j < it.grid_w; ++j) {
        const int64_t at = p.length();
        (vit ? p.vit_token_indexes : p.vae_token_indexes).push_back(at);
        (vit ? p.vit_position_ids : p.latent_position_ids).push_back(i * side + j);
        if (noisy) p.mse_loss_indexes.push_back(at);
        p.position_ids.push_back(rope);
      }
    }
    push_text(cfg.vision_end_id, rope);
    if (vit) {
      p.vit_images.push_back(img);
    } else {
      img.timestep_raw = noisy ? rng.normal() : -std::numeric_limits<double>::infinity();
      p.vae_images.push_back(img);
    }
    if (!noisy) ++rope;  // noisy latents do not advance the counter
    close_split();
  }
  p.sample_keys.push_back(plan.key);
  p.sample_lens.push_back(p.length() - start_len);
}

void Pack::validate() const {
  int64_t total = 0;
  for (int64_t l : sample_lens) total += l;
  SGT_CHECK(total == length(), "packing", "sample_lens sum {} != sequence length {}", total, length());
  layout.validate();
  SGT_CHECK(layout.total_len() == length(), "packing", "the splits cover {} tokens, the sequence has {}",
            layout.total_len(), length());
  SGT_CHECK(layout.num_samples() == static_cast<int64_t>(sample_lens.size()), "packing",
            "the splits belong to {} samples, the pack has {}", layout.num_samples(), sample_lens.size());
  const size_t n_tok = text_indexes.size() + vit_token_indexes.size() + vae_token_indexes.size();
  SGT_CHECK(n_tok == static_cast<size_t>(length()), "packing", "text {} + vit {} + vae {} tokens != length {}",
            text_indexes.size(), vit_token_indexes.size(), vae_token_indexes.size(), length());
  SGT_CHECK(ce_loss_indexes.size() == label_ids.size(), "packing", "{} CE indexes but {} labels",
            ce_loss_indexes.size(), label_ids.size());
}

// ---- Packer ----

Packer::Packer(PackingConfig cfg, uint64_t seed) : cfg_(std::move(cfg)), rng_(seed) { cfg_.validate(); }

void Packer::place(const SamplePlan& plan) {
  append_sample(cur_, plan, cfg_, rng_);
  cur_tokens_ = cur_.length();
}

void Packer::drain_buffer() {
  while (!buffer_.empty() && cur_tokens_ < cfg_.prefer_buffer_before &&
         cur_tokens_ + buffer_.front().num_tokens() <= cfg_.max_num_tokens) {
    SamplePlan s = std::move(buffer_.front());
    buffer_.pop_front();
    place(s);
  }
}

void Packer::finish(std::vector<Pack>& out) {
  if (cur_.sample_keys.empty()) return;
  out.push_back(std::move(cur_));
  cur_ = Pack{};
  cur_tokens_ = 0;
  drain_buffer();
}

std::vector<Pack> Packer::add(SamplePlan plan) {
  std::vector<Pack> out;
  const int64_t n = plan.num_tokens();
  if (n > cfg_.max_num_tokens_per_sample) {
    ++skipped_too_long_;
    return out;
  }
  drain_buffer();
  if (cur_tokens_ + n > cfg_.max_num_tokens) {
    if (static_cast<int64_t>(buffer_.size()) < cfg_.max_buffer_size) {
      buffer_.push_back(std::move(plan));
      return out;
    }
    finish(out);  // the pack cannot take it and the buffer is full: close the pack, keep the sample
    if (cur_tokens_ + n > cfg_.max_num_tokens) {
      buffer_.push_back(std::move(plan));
      return out;
    }
  }
  place(plan);
  while (cur_tokens_ >= cfg_.expected_num_tokens) finish(out);
  return out;
}

std::vector<Pack> Packer::flush() {
  std::vector<Pack> out;
  while (!cur_.sample_keys.empty() || !buffer_.empty()) {
    if (cur_.sample_keys.empty()) {
      place(buffer_.front());  // every buffered sample fits an empty pack (max_per_sample <= max)
      buffer_.pop_front();
    }
    while (!buffer_.empty() && cur_tokens_ + buffer_.front().num_tokens() <= cfg_.max_num_tokens) {
      place(buffer_.front());
      buffer_.pop_front();
    }
    out.push_back(std::move(cur_));
    cur_ = Pack{};
    cur_tokens_ = 0;
  }
  return out;
}

}  // namespace sgt::data
