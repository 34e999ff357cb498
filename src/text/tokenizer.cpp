// Encoding, decoding and lookups of text::Tokenizer (loading is in tokenizer_load.cpp).
#include "text/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "core/error.h"
#include "text/byte_level.h"
#include "text/pretokenize.h"
#include "text/tokenizer_impl.h"
#include "text/unicode.h"

namespace sgt::text {

Tokenizer Tokenizer::with_added_tokens_below(TokenId limit) const {
  auto im = std::make_shared<Impl>();
  im->source = impl_->source;
  im->nfc = impl_->nfc;
  im->bpe = impl_->bpe;
  im->non_byte_vocab = impl_->non_byte_vocab;
  im->non_byte_ids = impl_->non_byte_ids;
  im->names = impl_->names;
  for (const auto& t : impl_->added)
    if (t.id < limit) im->added.push_back(t);
  for (const auto& name : {im->names.bos, im->names.eos, im->names.pad, im->names.unk})
    SGT_CHECK(!name || im->vocab_id(*name) >= 0 ||
                  std::any_of(im->added.begin(), im->added.end(), [&](const auto& t) { return t.content == *name; }),
              "text.tokenizer", "{}: special token {:?} would be dropped by keeping the added tokens below {}",
              im->source, *name, limit);
  im->finish(im->bpe->size());
  return Tokenizer(std::move(im));
}

void Tokenizer::Impl::finish(size_t vocab_ids) {
  size_t size = vocab_ids;
  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  std::unordered_set<std::string> special_contents;
  std::unordered_map<TokenId, std::string> added_decode;  // HF simple_id_to_token: the normalised form if any
  for (const auto& t : added) {
    SGT_CHECK(t.id >= 0, "text.tokenizer", "added token {:?} has a negative id in {}", t.content, source);
    size = std::max(size, static_cast<size_t>(t.id) + 1);
    if (t.content.empty()) continue;  // HF ignores empty added tokens
    SGT_CHECK(added_by_content.emplace(t.content, t.id).second, "text.tokenizer",
              "added token {:?} appears twice in {}", t.content, source);
    if (t.special) special_contents.insert(t.content);
    std::string pattern = t.content;
    if (t.normalized && this->nfc) pattern = text::nfc(t.content);
    added_decode[t.id] = pattern;
    (t.normalized ? normalized : raw).push_back(t);
    (t.normalized ? normalized_patterns : raw_patterns).push_back(std::move(pattern));
  }
  raw_matcher.build(raw, raw_patterns);
  normalized_matcher.build(normalized, normalized_patterns);

  decode_offsets.assign(size + 1, 0);
  kind.assign(size, kMissing);
  for (size_t id = 0; id < size; ++id) {
    decode_offsets[id] = decode_arena.size();
    const auto tid = static_cast<TokenId>(id);
    if (auto it = added_decode.find(tid); it != added_decode.end()) {
      // HF's ByteLevel decoder: byte-level characters stand for their bytes; a string with any other character is
      // taken as its UTF-8.
      const auto bytes = byte_level::decode(it->second);
      decode_arena += bytes ? *bytes : it->second;
    } else if (id < vocab_ids && bpe->has_bytes(tid)) {
      decode_arena += bpe->bytes(tid);
    } else if (auto nb = non_byte_vocab.find(tid); nb != non_byte_vocab.end()) {
      decode_arena += nb->second;
    } else {
      continue;
    }
    kind[id] = kNormal;
  }
  // skip_special_tokens drops every id whose decoder string (see added_decode) is the content of a special token.
  // One pass with a set lookup (a loop over the special contents times the added tokens was quadratic: 30k
  // special tokens took half a minute to load).
  for (const auto& [id, str] : added_decode)
    if (special_contents.count(str)) kind[id] = kSpecial;
  for (const auto& content : special_contents)
    if (const TokenId v = vocab_id(content); v >= 0 && !added_decode.count(v)) kind[v] = kSpecial;
  decode_offsets[size] = decode_arena.size();
}

TokenId Tokenizer::Impl::vocab_id(std::string_view token) const {
  if (auto bytes = byte_level::decode(token)) return bytes->empty() ? -1 : bpe->lookup(*bytes);
  const auto it = non_byte_ids.find(std::string(token));
  return it == non_byte_ids.end() ? -1 : it->second;
}

void Tokenizer::Impl::encode_pretokenized(std::string_view text, std::vector<TokenId>& out) const {
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = qwen2_piece_end(text, pos);
    bpe->encode_word(text.substr(pos, end - pos), out);
    pos = end;
  }
}

void Tokenizer::Impl::encode_normalizable(std::string_view text, std::vector<TokenId>& out,
                                          bool split_special_tokens) const {
  if (text.empty()) return;
  std::string normalized_buf;
  const std::string_view normalized = (nfc && text::nfc(text, normalized_buf)) ? normalized_buf : text;
  if (normalized_matcher.empty()) {
    encode_pretokenized(normalized, out);
    return;
  }
  std::vector<Split> splits;
  normalized_matcher.split(normalized, split_special_tokens, splits);
  for (const auto& s : splits) {
    if (s.id >= 0)
      out.push_back(s.id);
    else
      encode_pretokenized(normalized.substr(s.begin, s.end - s.begin), out);
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  encode_into(text, out, options);
  return out;
}

void Tokenizer::encode_into(std::string_view text, std::vector<TokenId>& out, const EncodeOptions& options) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  const Impl& im = *impl_;
  if (im.raw_matcher.empty()) {
    im.encode_normalizable(text, out, options.split_special_tokens);
    return;
  }
  std::vector<Split> splits;
  im.raw_matcher.split(text, options.split_special_tokens, splits);
  for (const auto& s : splits) {
    if (s.id >= 0)
      out.push_back(s.id);
    else
      im.encode_normalizable(text.substr(s.begin, s.end - s.begin), out, options.split_special_tokens);
  }
}

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(std::span<const std::string> texts,
                                                          const EncodeOptions& options, int threads) const {
  std::vector<std::vector<TokenId>> out(texts.size());
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(threads, texts.size()));
  if (threads <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) encode_into(texts[i], out[i], options);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < texts.size();)
        encode_into(texts[i], out[i], options);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(texts.size());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string Tokenizer::decode_bytes(std::span<const TokenId> ids, const DecodeOptions& options) const {
  const Impl& im = *impl_;
  std::string out;
  for (TokenId id : ids) {
    SGT_CHECK(id >= 0 && static_cast<size_t>(id) < im.kind.size() && im.kind[id] != Impl::kMissing, "text.tokenizer",
              "cannot decode id {}: not in the vocabulary of {} ({} ids)", id, im.source, im.kind.size());
    if (options.skip_special_tokens && im.kind[id] == Impl::kSpecial) continue;
    out.append(im.decode_arena, im.decode_offsets[id], im.decode_offsets[id + 1] - im.decode_offsets[id]);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, const DecodeOptions& options) const {
  std::string bytes = decode_bytes(ids, options);
  if (is_valid_utf8(bytes)) return bytes;
  return utf8_lossy(bytes);
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  const Impl& im = *impl_;
  if (auto it = im.added_by_content.find(std::string(token)); it != im.added_by_content.end()) return it->second;
  if (const TokenId id = im.vocab_id(token); id >= 0) return id;
  return std::nullopt;
}

TokenId Tokenizer::require_id(std::string_view token) const {
  auto id = token_to_id(token);
  SGT_CHECK(id.has_value(), "text.tokenizer", "token {:?} is not in {}", token, impl_->source);
  return *id;
}

std::string Tokenizer::id_to_token(TokenId id) const {
  const Impl& im = *impl_;
  for (const auto& t : im.added)
    if (t.id == id) return t.content;
  if (id >= 0 && static_cast<size_t>(id) < im.bpe->size() && im.bpe->has_bytes(id))
    return byte_level::encode(im.bpe->bytes(id));
  if (auto it = im.non_byte_vocab.find(id); it != im.non_byte_vocab.end()) return it->second;
  SGT_FAIL("text.tokenizer", "id {} is not in the vocabulary of {}", id, im.source);
}

bool Tokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->kind.size() && impl_->kind[id] == Impl::kSpecial;
}

size_t Tokenizer::vocab_size() const { return impl_->kind.size(); }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
const SpecialTokenNames& Tokenizer::special_names() const { return impl_->names; }
const std::string& Tokenizer::source() const { return impl_->source; }

TokenId Tokenizer::eos_id() const {
  SGT_CHECK(impl_->names.eos.has_value(), "text.tokenizer", "no eos_token: {} has no tokenizer_config.json naming one",
            impl_->source);
  return require_id(*impl_->names.eos);
}

TokenId Tokenizer::pad_id() const {
  SGT_CHECK(impl_->names.pad.has_value(), "text.tokenizer", "no pad_token: {} has no tokenizer_config.json naming one",
            impl_->source);
  return require_id(*impl_->names.pad);
}

}  // namespace sgt::text
