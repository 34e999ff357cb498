// Per-layer features and attention allocation from a BAGEL forward (eval/model_analysis.h).
#include "eval/model_analysis.h"

#include <filesystem>
#include <memory>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/progress.h"
#include "infer/context.h"
#include "infer/generate.h"
#include "infer/loaded.h"
#include "io/atomic_file.h"
#include "model/attention.h"

namespace sgt::eval {
namespace fs = std::filesystem;

namespace {

torch::Tensor run_with(model::Bagel& m, const UnderstandingSample& s, model::ForwardHooks hooks) {
  torch::NoGradGuard ng;
  model::BagelPackedInputs in = s.inputs;
  in.hooks = std::move(hooks);
  return m->forward(in);
}

std::string resolve(const std::string& list, const std::string& image) {
  const fs::path p(image);
  return p.is_absolute() ? image : (fs::path(list).parent_path() / p).string();
}

// Calls f(where, object) for each non-blank line of a JSONL file.
template <class F>
void for_each_line(const std::string& path, F&& f) {
  std::istringstream lines(io::read_text_file(path));
  std::string line;
  for (int64_t no = 1; std::getline(lines, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, no);
    auto j = config::parse(line, where);
    SGT_CHECK(j.is_object(), "eval.model", "{}: each line must be a JSON object", where);
    f(where, j);
  }
}

data::Image load_rgb(const std::string& path) { return data::convert_channels(data::read_image(path), 3); }

}  // namespace

UnderstandingSample understanding_sample(model::Bagel& m, const text::Tokenizer& tok, const data::Image& image,
                                         const std::string& prompt, int64_t vit_w, int64_t vit_h) {
  const auto& cfg = m->config();
  SGT_CHECK(cfg.visual_und, "eval.model", "the model was built without visual_und: it has no ViT path");
  const infer::Markers mk = infer::markers_from(tok);
  const auto& w = m->language_model->model->embed_tokens->weight;
  UnderstandingSample s;
  std::vector<std::pair<int64_t, model::AttnMode>> splits;
  // Same chunks and RoPE ids as infer::understand: the image at 0, the prompt from 1, then <|im_start|>.
  auto vit = infer::vit_chunk(cfg, infer::prepare_image(image, vit_w, vit_h, cfg.vit.patch_size), 0, mk);
  infer::append_to_pack(s.inputs, splits, vit, model::AttnMode::kFull);
  const auto ids32 = tok.encode(prompt);
  const std::vector<int64_t> ids(ids32.begin(), ids32.end());
  auto text = infer::text_chunk(ids, 1, mk);
  infer::append_to_pack(s.inputs, splits, text, model::AttnMode::kCausal);
  infer::Chunk start;
  start.length = 1;
  start.text_ids = torch::full({1}, mk.im_start, torch::kInt64);
  start.text_indexes = torch::zeros({1}, torch::kInt64);
  start.position_ids = torch::full({1}, 1 + text.length, torch::kInt64);
  infer::append_to_pack(s.inputs, splits, start, model::AttnMode::kCausal);
  s.inputs.layout = model::PackLayout::from_samples({splits});
  s.inputs.impl = model::AttentionImpl::kSplitwise;
  const int64_t L = s.inputs.sequence_length, P = vit.vit_patches.size(0);
  for (int64_t i = 1; i <= P; ++i) s.image_positions.push_back(i);
  s.query_position = L - 1;
  s.key_types.assign(L, KeyType::kText);
  for (int64_t p : s.image_positions) s.key_types[p] = KeyType::kVit;
  // Onto the model's device (indexes) and dtype (patches); index tensors must live with the hidden states.
  auto& in = s.inputs;
  for (torch::Tensor* t : {&in.packed_text_ids, &in.packed_text_indexes, &in.packed_position_ids,
                           &in.packed_vit_position_ids, &in.packed_vit_token_indexes})
    *t = t->to(w.device());
  in.packed_vit_tokens = in.packed_vit_tokens.to(w.device(), w.scalar_type());
  return s;
}

FeaturePool feature_pool_from_string(const std::string& s) {
  if (s == "image-mean") return FeaturePool::kImageMean;
  if (s == "last") return FeaturePool::kLastToken;
  SGT_FAIL("eval.model", "--pool must be image-mean or last, got '{}'", s);
}

torch::Tensor layer_features(model::Bagel& m, const UnderstandingSample& s, FeaturePool pool) {
  const int64_t layers = m->config().llm.num_hidden_layers;
  std::vector<torch::Tensor> per(layers);
  const auto dev = m->language_model->model->embed_tokens->weight.device();
  const torch::Tensor img = torch::tensor(s.image_positions, torch::kInt64).to(dev);
  model::ForwardHooks hooks;
  hooks.on_layer = [&](int64_t layer, const torch::Tensor& h) {  // h [L, hidden]
    per[layer] = (pool == FeaturePool::kImageMean ? h.index_select(0, img).to(torch::kFloat32).mean(0)
                                                  : h[s.query_position].to(torch::kFloat32))
                     .cpu();
  };
  run_with(m, s, std::move(hooks));
  for (int64_t l = 0; l < layers; ++l)
    SGT_CHECK(per[l].defined(), "eval.model", "layer {} of {} reported no hidden states", l, layers);
  return torch::stack(per);  // [layers, hidden]
}

void add_attention_sample(model::Bagel& m, const UnderstandingSample& s, AttentionAllocation& alloc) {
  // The query's row of the packed rule [1, L]: causal over everything before it (the image block is visible).
  auto allowed = model::sample_attention_mask(s.inputs.layout, 0).slice(0, s.query_position, s.query_position + 1);
  alloc.set_sample(s.key_types, {s.query_position}, allowed);
  model::ForwardHooks hooks;
  hooks.on_attention = alloc.hook();
  run_with(m, s, std::move(hooks));
}

std::vector<LabelledImage> read_labelled_images(const std::string& path) {
  std::vector<LabelledImage> out;
  for_each_line(path, [&](const std::string& where, const config::Json& j) {
    SGT_CHECK(j.contains("image") && j["image"].is_string() && j.contains("label") && j["label"].is_number_integer() &&
                  j["label"].get<int64_t>() >= 0,
              "eval.model", "{}: need \"image\" (string) and \"label\" (integer >= 0)", where);
    out.push_back({resolve(path, j["image"].get<std::string>()), j["label"].get<int64_t>()});
  });
  SGT_CHECK(!out.empty(), "eval.model", "{}: no labelled images", path);
  return out;
}

std::vector<PromptedImage> read_prompted_images(const std::string& path) {
  std::vector<PromptedImage> out;
  for_each_line(path, [&](const std::string& where, const config::Json& j) {
    SGT_CHECK(j.contains("image") && j["image"].is_string() && j.contains("prompt") && j["prompt"].is_string(),
              "eval.model", "{}: need \"image\" and \"prompt\" (strings)", where);
    out.push_back({resolve(path, j["image"].get<std::string>()), j["prompt"].get<std::string>()});
  });
  SGT_CHECK(!out.empty(), "eval.model", "{}: no samples", path);
  return out;
}

std::pair<torch::Tensor, torch::Tensor> extract_probe_features(const infer::ModelArgs& m,
                                                               const std::vector<LabelledImage>& items,
                                                               const std::string& prompt, FeaturePool pool,
                                                               const AnalysisOptions& opt) {
  SGT_CHECK(!items.empty(), "eval.model", "no images to extract features from");
  auto l = infer::load_model(m, false);
  std::unique_ptr<Progress> bar;
  if (opt.progress) bar = std::make_unique<Progress>("probe-features", static_cast<int64_t>(items.size()), "img");
  std::vector<torch::Tensor> feats;
  std::vector<int64_t> labels;
  for (const auto& it : items) {
    auto s = understanding_sample(l->model, *l->tok, load_rgb(it.image), prompt, opt.vit_w, opt.vit_h);
    feats.push_back(layer_features(l->model, s, pool));
    labels.push_back(it.label);
    if (bar) bar->advance(1);
  }
  if (bar) bar->finish();
  return {torch::stack(feats), torch::tensor(labels, torch::kInt64)};
}

std::vector<AttentionShares> model_attention_shares(const infer::ModelArgs& m, const std::vector<PromptedImage>& items,
                                                    const AnalysisOptions& opt) {
  SGT_CHECK(!items.empty(), "eval.model", "no samples for the attention allocation");
  auto l = infer::load_model(m, false);
  AttentionAllocation alloc(l->config.llm.num_hidden_layers);
  std::unique_ptr<Progress> bar;
  if (opt.progress) bar = std::make_unique<Progress>("attention", static_cast<int64_t>(items.size()), "img");
  for (const auto& it : items) {
    add_attention_sample(l->model, understanding_sample(l->model, *l->tok, load_rgb(it.image), it.prompt, opt.vit_w,
                                                        opt.vit_h),
                         alloc);
    if (bar) bar->advance(1);
  }
  if (bar) bar->finish();
  return alloc.mean();
}

}  // namespace sgt::eval
