#pragma once
// A model loaded by infer::load_model (app.h) for callers that run many requests on it (the eval layer): the
// BAGEL module, its autoencoder (only when loaded for generation) and the tokenizer.
#include <memory>

#include "model/autoencoder.h"
#include "model/bagel.h"
#include "model/config.h"
#include "text/tokenizer.h"

namespace sgt::infer {

struct LoadedModel {
  model::BagelConfig config;
  model::Bagel model{nullptr};    // in eval mode, on the requested device and dtype
  model::AutoEncoder ae{nullptr};  // null unless loaded with need_gen
  std::unique_ptr<text::Tokenizer> tok;
};

}  // namespace sgt::infer
