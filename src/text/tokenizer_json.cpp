#include "text/tokenizer_json.h"

#include "core/error.h"
#include "core/json_limited.h"

namespace sgt::text {
namespace {

using Json = nlohmann::json;

class Sax : public nlohmann::json_sax<Json> {
 public:
  Sax(TokenizerJson& out, bool vocab_at_root) : out_(out), vocab_at_root_(vocab_at_root) {}
  const std::string& error() const { return error_; }

  bool null() override { return value(Json(nullptr)); }
  bool boolean(bool v) override { return value(Json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == kVocab) return vocab_id(v);
    return value(Json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == kVocab) return vocab_id(static_cast<int64_t>(v));
    return value(Json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(Json(v)); }
  bool binary(binary_t&) override { return fail("binary values are not JSON"); }
  bool string(string_t& v) override {
    if (mode_ == kMerges) {  // "a b" form
      const size_t sp = v.find(' ');
      if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos)
        return fail("merge " + std::to_string(out_.merges.size()) + " is not two tokens separated by one space");
      out_.merges.emplace_back(v.substr(0, sp), v.substr(sp + 1));
      return true;
    }
    if (mode_ == kMergePair) {
      pair_.push_back(std::move(v));
      return true;
    }
    if (mode_ == kVocab) return fail("vocabulary ids must be numbers");
    return value(Json(std::move(v)));
  }
  bool key(string_t& k) override {
    key_ = std::move(k);  // in model.vocab: the token string, taken by vocab_id()
    return true;
  }
  bool start_object(std::size_t) override {
    if (mode_ != kDom) return fail("unexpected object in model.vocab or model.merges");
    if (at_model_field("vocab") || (vocab_at_root_ && stack_.empty())) {
      mode_ = kVocab;
      out_.has_vocab = true;
      return true;
    }
    return open(Json::object());
  }
  bool end_object() override {
    if (mode_ == kVocab) {
      mode_ = kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == kMerges) {
      mode_ = kMergePair;
      pair_.clear();
      return true;
    }
    if (mode_ != kDom) return fail("unexpected array in model.vocab or model.merges");
    if (at_model_field("merges")) {
      mode_ = kMerges;
      out_.has_merges = true;
      return true;
    }
    return open(Json::array());
  }
  bool end_array() override {
    if (mode_ == kMergePair) {
      if (pair_.size() != 2) return fail("merge " + std::to_string(out_.merges.size()) + " is not a pair of strings");
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = kMerges;
      return true;
    }
    if (mode_ == kMerges) {
      mode_ = kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(e.what());
  }

 private:
  enum Mode { kDom, kVocab, kMerges, kMergePair };

  // The next container or value opens directly under root["model"] with the given key.
  bool at_model_field(const char* field) const {
    return stack_.size() == 2 && path_.size() == 2 && path_[1] == "model" && key_ == field;
  }
  bool vocab_id(int64_t id) {
    out_.vocab.emplace_back(std::move(key_), id);
    return true;
  }
  Json* insert(Json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    Json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool value(Json v) {
    if (mode_ != kDom) return fail("unexpected value in model.vocab or model.merges");
    insert(std::move(v));
    return true;
  }
  bool open(Json container) {
    const std::string key = stack_.empty() || stack_.back()->is_array() ? std::string() : key_;
    stack_.push_back(insert(std::move(container)));
    path_.resize(stack_.size());
    path_.back() = key;
    return true;
  }
  bool fail(const std::string& message) {
    if (error_.empty()) error_ = message;
    return false;
  }

  TokenizerJson& out_;
  bool vocab_at_root_;
  std::vector<Json*> stack_;
  std::vector<std::string> path_;  // path_[i]: the key under which stack_[i] was opened
  std::string key_;
  std::vector<std::string> pair_;
  Mode mode_ = kDom;
  std::string error_;
};

}  // namespace

namespace {
TokenizerJson parse(const std::string& text, const std::string& where, bool vocab_at_root) {
  TokenizerJson out;
  check_json_depth(text, where);  // same limit as every other JSON file we read
  Sax sax(out, vocab_at_root);
  const bool ok = Json::sax_parse(text, &sax);
  SGT_CHECK(ok && sax.error().empty(), "text.tokenizer", "cannot parse {}: {}", where,
            sax.error().empty() ? std::string("malformed JSON") : sax.error());
  return out;
}
}  // namespace

TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& where) {
  TokenizerJson out = parse(text, where, false);
  SGT_CHECK(out.rest.is_object(), "text.tokenizer", "{} is not a JSON object", where);
  return out;
}

std::vector<std::pair<std::string, int64_t>> parse_vocab_json(const std::string& text, const std::string& where) {
  TokenizerJson out = parse(text, where, true);
  SGT_CHECK(out.has_vocab, "text.tokenizer", "{} is not a JSON object of token -> id", where);
  return std::move(out.vocab);
}

}  // namespace sgt::text
