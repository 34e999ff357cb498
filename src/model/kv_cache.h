#pragma once
// KV cache of one sample for inference (docs/attention.md, "Cached decoding"). Per decoder layer the keys and
// values of every cached token, after q/k-norm and RoPE, in buffers that are allocated ahead (capacity grows
// geometrically) and written in place, so appending a token costs a copy of that token, not of the cache.
//
// A KVCache is a view (store, kv_len) and is cheap to copy; copies share the store and each sees the first kv_len
// rows. A copy is a snapshot: a forward that appends to a view whose store holds rows beyond the view's kv_len
// (another copy appended since) first forks the store (copies the kv_len rows it sees), so no copy ever sees rows
// it did not append. Not thread-safe: views sharing a store must be used from one thread.
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace sgt::model {

struct KVStore {
  std::vector<torch::Tensor> k, v;  // per layer [capacity, kv_heads, head_dim]; undefined until first written
  int64_t used = 0;                 // rows [0, used) hold appended tokens; rows past it are scratch
};

struct KVCache {
  std::shared_ptr<KVStore> store;  // null until the first append
  int64_t kv_len = 0;              // cached tokens this view sees
};

// One forward's use of a cache: given each layer's new keys and values, the keys and values the layer attends to
// (the cached rows, then the new ones). Made once per forward, before the layers; commit() after the last layer.
class KVSession {
 public:
  // layers: the decoder's layer count; n: tokens of this forward; update: append them (else the cache is left as
  // it was: the new rows are written as scratch where this view owns the store's end, else concatenated).
  KVSession(KVCache& cache, int64_t layers, int64_t n, bool update);
  // k, v [n, kv_heads, head_dim] of layer `layer` -> [kv_len + n, kv_heads, head_dim] each.
  std::pair<torch::Tensor, torch::Tensor> extend(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
  // update: the view (and the store's used rows) grow by n.
  void commit();
  int64_t cached() const { return len_; }

 private:
  torch::Tensor& ensure(std::vector<torch::Tensor>& own, const std::vector<torch::Tensor>* from, int64_t layer,
                        const torch::Tensor& like);
  KVCache& cache_;
  std::shared_ptr<KVStore> from_;  // the store rows are copied from when forked, else null
  int64_t layers_, n_, len_;
  int64_t preserve_ = 0;  // rows a (re)allocated buffer keeps
  bool update_, in_place_;
};

}  // namespace sgt::model
