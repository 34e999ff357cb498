#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace sgt::model {

namespace {
constexpr int64_t kMinCapacity = 256;  // tokens; a prompt and a short answer fit without regrowing
}  // namespace

KVSession::KVSession(KVCache& cache, int64_t layers, int64_t n, bool update)
    : cache_(cache), layers_(layers), n_(n), len_(cache.kv_len), update_(update), in_place_(false) {
  SGT_CHECK(n > 0 && len_ >= 0, "model.kv_cache", "a forward of {} tokens over a cache of {}", n, len_);
  auto& s = cache_.store;
  SGT_CHECK(s || len_ == 0, "model.kv_cache", "a view of {} cached tokens has no store", len_);
  if (s) {
    SGT_CHECK(static_cast<int64_t>(s->k.size()) == layers, "model.kv_cache",
              "the cache holds {} layers, the model has {}", s->k.size(), layers);
    SGT_CHECK(s->used >= len_, "model.kv_cache", "the view sees {} tokens, its store holds {}", len_, s->used);
  }
  // No store yet, or another view appended past this one (its rows must not be overwritten): without update,
  // attend to the cached rows (if any) and the new ones concatenated; with update, a store of this view's own,
  // whose buffers ensure() fills with the rows this view sees.
  if (!s || s->used != len_) {
    if (!update) return;
    from_ = s;  // null when there was no store
    s = std::make_shared<KVStore>();
    s->k.resize(static_cast<size_t>(layers));
    s->v.resize(static_cast<size_t>(layers));
    s->used = len_;
  }
  in_place_ = true;
  preserve_ = len_;
}

torch::Tensor& KVSession::ensure(std::vector<torch::Tensor>& own, const std::vector<torch::Tensor>* from,
                                 int64_t layer, const torch::Tensor& like) {
  torch::Tensor& buf = own[static_cast<size_t>(layer)];
  const int64_t need = len_ + n_;
  if (buf.defined() && !from && buf.size(0) >= need) {
    SGT_CHECK(buf.scalar_type() == like.scalar_type() && buf.device() == like.device() &&
                  buf.size(1) == like.size(1) && buf.size(2) == like.size(2),
              "model.kv_cache", "layer {}: cached rows {} {} and new rows {} {} differ", layer,
              sgt::shape_str(buf.sizes().vec()), c10::toString(buf.scalar_type()),
              sgt::shape_str(like.sizes().vec()), c10::toString(like.scalar_type()));
    return buf;
  }
  const torch::Tensor& old = from ? (*from)[static_cast<size_t>(layer)] : buf;
  const int64_t cap = std::max({need, kMinCapacity, old.defined() ? 2 * old.size(0) : int64_t{0}});
  auto grown = torch::empty({cap, like.size(1), like.size(2)}, like.options());
  if (preserve_ > 0) {
    SGT_CHECK(old.defined() && old.size(0) >= preserve_, "model.kv_cache", "layer {} lost its cached rows", layer);
    grown.slice(0, 0, preserve_).copy_(old.slice(0, 0, preserve_));
  }
  buf = grown;
  return buf;
}

std::pair<torch::Tensor, torch::Tensor> KVSession::extend(int64_t layer, const torch::Tensor& k,
                                                          const torch::Tensor& v) {
  SGT_CHECK(layer >= 0 && layer < layers_ && k.dim() == 3 && k.size(0) == n_ && k.sizes() == v.sizes(),
            "model.kv_cache", "layer {}: new keys {} and values {} must be [{}, kv_heads, head_dim]", layer,
            sgt::shape_str(k.sizes().vec()), sgt::shape_str(v.sizes().vec()), n_);
  if (!in_place_) {
    if (len_ == 0) return {k, v};
    const auto& s = *cache_.store;
    const auto& ck = s.k[static_cast<size_t>(layer)];
    const auto& cv = s.v[static_cast<size_t>(layer)];
    return {torch::cat({ck.slice(0, 0, len_), k}, 0), torch::cat({cv.slice(0, 0, len_), v}, 0)};
  }
  auto& s = *cache_.store;
  auto& K = ensure(s.k, from_ ? &from_->k : nullptr, layer, k);
  auto& V = ensure(s.v, from_ ? &from_->v : nullptr, layer, v);
  K.slice(0, len_, len_ + n_).copy_(k);
  V.slice(0, len_, len_ + n_).copy_(v);
  return {K.slice(0, 0, len_ + n_), V.slice(0, 0, len_ + n_)};
}

void KVSession::commit() {
  if (!update_) return;
  cache_.store->used = len_ + n_;
  cache_.kv_len = len_ + n_;
}

}  // namespace sgt::model
