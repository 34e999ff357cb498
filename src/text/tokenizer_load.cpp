// Loading text::Tokenizer from HF tokenizer.json, or from vocab.json + merges.txt + tokenizer_config.json.
// Only what the Qwen2 tokenizer uses is implemented; any other component or flag is refused with an error naming
// it, rather than silently tokenizing differently from the reference.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <unordered_map>

#include "core/assets.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "text/byte_level.h"
#include "text/pretokenize.h"
#include "text/tokenizer.h"
#include "text/tokenizer_impl.h"
#include "text/tokenizer_json.h"

namespace sgt::text {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
constexpr const char* kComp = "text.tokenizer";

std::string dump(const Json& j) {
  std::string s = j.dump();
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

bool flag(const Json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SGT_CHECK(j[key].is_boolean(), kComp, "{}: {} must be true or false, not {}", where, key, dump(j[key]));
  return j[key].get<bool>();
}

std::string type_of(const Json& j, const std::string& where, const char* what) {
  SGT_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), kComp, "{}: {} has no type: {}", where, what,
            dump(j));
  return j["type"].get<std::string>();
}

bool empty_or_null(const Json& j, const char* key) {
  return !j.contains(key) || j[key].is_null() || (j[key].is_string() && j[key].get<std::string>().empty());
}

void check_normalizer(const Json& n, Tokenizer::Impl& im, const std::string& where) {
  if (n.is_null()) {
    im.nfc = false;
    return;
  }
  const std::string type = type_of(n, where, "normalizer");
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array() && n["normalizers"].size() <= 1) {
    if (n["normalizers"].empty()) {
      im.nfc = false;
      return;
    }
    check_normalizer(n["normalizers"][0], im, where);
    return;
  }
  SGT_CHECK(type == "NFC", kComp, "{}: normalizer {} is not supported (sgt implements NFC only)", where, dump(n));
  im.nfc = true;
}

void check_pre_tokenizer(const Json& p, const std::string& where) {
  const std::string what = fmt::format(
      "{}: pre_tokenizer {} is not supported (sgt implements the Qwen2 Split regex followed by ByteLevel "
      "without prefix space or regex)",
      where, dump(p));
  SGT_CHECK(!p.is_null() && type_of(p, where, "pre_tokenizer") == "Sequence" && p.contains("pretokenizers") &&
                p["pretokenizers"].is_array() && p["pretokenizers"].size() == 2,
            kComp, "{}", what);
  const Json& split = p["pretokenizers"][0];
  const Json& bl = p["pretokenizers"][1];
  const bool split_ok = type_of(split, where, "pre_tokenizer") == "Split" && split.contains("pattern") &&
                        split["pattern"].is_object() && split["pattern"].contains("Regex") &&
                        split["pattern"]["Regex"] == std::string(kQwen2SplitPattern) &&
                        split.value("behavior", "") == "Isolated" && !flag(split, "invert", false, where);
  const bool bl_ok = type_of(bl, where, "pre_tokenizer") == "ByteLevel" && !flag(bl, "add_prefix_space", true, where) &&
                     !flag(bl, "use_regex", true, where);
  SGT_CHECK(split_ok && bl_ok, kComp, "{}", what);
}

void check_model(const Json& m, const std::string& where) {
  SGT_CHECK(type_of(m, where, "model") == "BPE", kComp, "{}: model type {} is not supported (BPE only)", where,
            dump(m["type"]));
  SGT_CHECK(!m.contains("dropout") || m["dropout"].is_null() || m["dropout"] == 0.0, kComp,
            "{}: BPE dropout {} is not supported", where, dump(m["dropout"]));
  SGT_CHECK(m.value("unk_token", Json()).is_null(), kComp, "{}: BPE unk_token is not supported", where);
  SGT_CHECK(empty_or_null(m, "continuing_subword_prefix") && empty_or_null(m, "end_of_word_suffix"), kComp,
            "{}: BPE continuing_subword_prefix / end_of_word_suffix are not supported", where);
  SGT_CHECK(!flag(m, "byte_fallback", false, where), kComp, "{}: BPE byte_fallback is not supported", where);
}

AddedToken parse_added(const Json& j, std::optional<TokenId> id, const std::string& where) {
  SGT_CHECK(j.is_object() && j.contains("content") && j["content"].is_string(), kComp,
            "{}: added token without content: {}", where, dump(j));
  AddedToken t;
  t.content = j["content"].get<std::string>();
  if (id) {
    t.id = *id;
  } else {
    SGT_CHECK(j.contains("id") && j["id"].is_number_integer(), kComp, "{}: added token {:?} has no integer id", where,
              t.content);
    t.id = j["id"].get<TokenId>();
  }
  t.single_word = flag(j, "single_word", false, where);
  t.lstrip = flag(j, "lstrip", false, where);
  t.rstrip = flag(j, "rstrip", false, where);
  t.normalized = flag(j, "normalized", true, where);
  t.special = flag(j, "special", false, where);
  return t;
}

// Vocabulary (token string -> id) and merges (pairs of token strings, in rank order) into the BPE model.
void build_model(Tokenizer::Impl& im, const std::vector<std::pair<std::string, int64_t>>& vocab,
                 const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges) {
  int64_t max_id = -1;
  for (const auto& [tok, id] : vocab) {
    SGT_CHECK(id >= 0 && id < (int64_t{1} << 31), kComp, "{}: token {:?} has id {}", im.source, tok, id);
    max_id = std::max(max_id, id);
  }
  std::vector<std::optional<std::string>> bytes(static_cast<size_t>(max_id + 1));
  std::vector<uint8_t> seen(bytes.size(), 0);
  std::unordered_map<std::string_view, TokenId> by_string;
  by_string.reserve(vocab.size());
  for (const auto& [tok, id] : vocab) {
    SGT_CHECK(!seen[id], kComp, "{}: id {} appears twice in the vocabulary", im.source, id);
    seen[id] = 1;
    by_string.emplace(tok, static_cast<TokenId>(id));
    if (auto b = byte_level::decode(tok))
      bytes[id] = std::move(*b);
    else if (im.non_byte_vocab.emplace(static_cast<TokenId>(id), tok).second)
      im.non_byte_ids.emplace(tok, static_cast<TokenId>(id));
  }
  std::vector<BpeMerge> resolved;
  resolved.reserve(merges.size());
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    joined = a + b;
    auto ia = by_string.find(a), ib = by_string.find(b), ij = by_string.find(joined);
    SGT_CHECK(ia != by_string.end() && ib != by_string.end(), kComp,
              "{}: merge {} ({:?} {:?}) uses a token outside "
              "the vocabulary",
              im.source, r, a, b);
    SGT_CHECK(ij != by_string.end(), kComp, "{}: merge {} gives {:?}, which is not in the vocabulary", im.source, r,
              joined);
    resolved.push_back({ia->second, ib->second, ij->second});
  }
  im.bpe = std::make_shared<const BpeModel>(std::move(bytes), resolved, ignore_merges);
}

// HF's AddedVocabulary::add_tokens, which is also how it reads tokenizer.json: the id written in the file is only
// checked (a mismatch is a warning); a token gets the id its content already has (an earlier added token or a
// vocabulary entry), otherwise the next free id after the vocabulary. A repeated content takes the later flags.
void add_tokens(Tokenizer::Impl& im, const std::vector<AddedToken>& tokens, size_t vocab_entries) {
  TokenId next = static_cast<TokenId>(vocab_entries);
  std::unordered_map<std::string, size_t> index;  // content -> position in im.added
  for (AddedToken t : tokens) {
    if (t.content.empty()) continue;
    TokenId id;
    if (auto it = index.find(t.content); it != index.end())
      id = im.added[it->second].id;
    else if (const TokenId v = im.vocab_id(t.content); v >= 0)
      id = v;
    else
      id = next++;
    if (t.id >= 0 && t.id != id)
      log::warn("[text.tokenizer] {}: added token {:?} is written with id {} but gets id {} (as in HF tokenizers)",
                im.source, t.content, t.id, id);
    t.id = id;
    if (auto it = index.find(t.content); it != index.end()) {
      im.added[it->second] = t;
    } else {
      index.emplace(t.content, im.added.size());
      im.added.push_back(t);
    }
  }
}

std::optional<std::string> token_name(const Json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const Json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  SGT_FAIL(kComp, "tokenizer_config.json: {} is neither a string nor an added token: {}", key, dump(v));
}

Json read_config(const std::string& path, SpecialTokenNames& names) {
  if (path.empty()) return Json::object();
  Json config;
  try {
    config = Json::parse(io::read_text_file(path));
  } catch (const Json::exception& e) {
    SGT_FAIL(kComp, "cannot parse {}: {}", path, e.what());
  }
  SGT_CHECK(config.is_object(), kComp, "{} is not a JSON object", path);
  names.bos = token_name(config, "bos_token");
  names.eos = token_name(config, "eos_token");
  names.pad = token_name(config, "pad_token");
  names.unk = token_name(config, "unk_token");
  return config;
}

std::string beside(const std::string& path, const char* name) { return (fs::path(path).parent_path() / name).string(); }

std::string config_beside(const std::string& path) {
  const std::string c = beside(path, "tokenizer_config.json");
  return fs::exists(c) ? c : std::string();
}

}  // namespace

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path, const std::string& config_path) {
  auto im = std::make_shared<Impl>();
  im->source = path;
  TokenizerJson tj = parse_tokenizer_json(io::read_text_file(path), path);
  const Json& j = tj.rest;
  for (const char* k : {"truncation", "padding"})
    SGT_CHECK(!j.contains(k) || j[k].is_null(), kComp, "{}: {} is not supported (pad and truncate the ids instead)",
              path, k);
  SGT_CHECK(j.contains("model") && tj.has_vocab, kComp, "{}: no model.vocab", path);
  check_model(j["model"], path);
  check_normalizer(j.value("normalizer", Json()), *im, path);
  check_pre_tokenizer(j.value("pre_tokenizer", Json()), path);
  const Json decoder = j.value("decoder", Json());
  SGT_CHECK(!decoder.is_null() && type_of(decoder, path, "decoder") == "ByteLevel", kComp,
            "{}: decoder {} is not supported (ByteLevel only)", path, dump(decoder));
  const Json post = j.value("post_processor", Json());
  SGT_CHECK(post.is_null() || type_of(post, path, "post_processor") == "ByteLevel", kComp,
            "{}: post_processor {} is not supported (ByteLevel, which changes no ids, or none)", path, dump(post));
  build_model(*im, tj.vocab, tj.merges, flag(j["model"], "ignore_merges", false, path));
  if (j.contains("added_tokens")) {
    SGT_CHECK(j["added_tokens"].is_array(), kComp, "{}: added_tokens is not a list", path);
    std::vector<AddedToken> tokens;
    for (const auto& t : j["added_tokens"]) tokens.push_back(parse_added(t, std::nullopt, path));
    add_tokens(*im, tokens, tj.vocab.size());
  }
  read_config(config_path, im->names);
  im->finish(im->bpe->size());
  return Tokenizer(std::move(im));
}

Tokenizer Tokenizer::from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                       const std::string& config_path) {
  auto im = std::make_shared<Impl>();
  im->source = vocab_path;
  im->nfc = true;
  const auto vocab = parse_vocab_json(io::read_text_file(vocab_path), vocab_path);
  std::vector<std::pair<std::string, std::string>> merges;
  const std::string text = io::read_text_file(merges_path);
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.starts_with("#version")) continue;
    const size_t sp = line.find(' ');
    SGT_CHECK(sp != std::string_view::npos && line.find(' ', sp + 1) == std::string_view::npos, kComp,
              "{}:{}: a merge is two tokens separated by one space, not {:?}", merges_path, line_no, line);
    merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  build_model(*im, vocab, merges, false);
  const Json config = read_config(config_path, im->names);
  if (config.contains("added_tokens_decoder")) {
    const Json& dec = config["added_tokens_decoder"];
    SGT_CHECK(dec.is_object(), kComp, "{}: added_tokens_decoder is not an object", config_path);
    std::vector<AddedToken> tokens;
    for (const auto& [key, value] : dec.items()) {
      TokenId id = -1;
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
      SGT_CHECK(ec == std::errc() && end == key.data() + key.size(), kComp,
                "{}: added_tokens_decoder key {:?} is not an id", config_path, key);
      tokens.push_back(parse_added(value, id, config_path));
    }
    std::sort(tokens.begin(), tokens.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    add_tokens(*im, tokens, vocab.size());
  }
  im->finish(im->bpe->size());
  // transformers' Qwen2Tokenizer adds the named special tokens when missing; we require them to be present.
  for (const auto& name : {im->names.bos, im->names.eos, im->names.pad, im->names.unk})
    SGT_CHECK(!name || im->added_by_content.count(*name) || im->vocab_id(*name) >= 0, kComp,
              "{}: special token {:?} is neither an added token nor in {}", config_path, *name, vocab_path);
  return Tokenizer(std::move(im));
}

Tokenizer Tokenizer::load(const std::string& path) {
  SGT_CHECK(fs::exists(path), kComp, "tokenizer file or folder {} does not exist", path);
  if (fs::is_directory(path)) {
    const fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json")) return load((dir / "tokenizer.json").string());
    SGT_CHECK(fs::exists(dir / "vocab.json"), kComp, "{} holds neither tokenizer.json nor vocab.json", path);
    return load((dir / "vocab.json").string());
  }
  if (fs::path(path).filename() == "vocab.json") {
    const std::string merges = beside(path, "merges.txt");
    SGT_CHECK(fs::exists(merges), kComp, "{} has no merges.txt beside it", path);
    return from_vocab_merges(path, merges, config_beside(path));
  }
  return from_tokenizer_json(path, config_beside(path));
}

std::string find_tokenizer(const std::string& hint) {
  if (!hint.empty()) {
    log::debug("tokenizer: {} (given)", hint);  // sgt tune logs where a given one came from
    return hint;
  }
  if (const char* env = std::getenv("SGT_TOKENIZER"); env && *env) {
    log::info("tokenizer: {} ($SGT_TOKENIZER)", env);
    return env;
  }
  // The Qwen tokenizer shipped in assets/ (assets/README.md); require_asset names every folder it looked in.
  const FoundAsset found = require_asset(kDefaultTokenizerAsset);
  log::info("tokenizer: {} (the project's assets, found via the {})", found.path, found.origin);
  return found.path;
}

}  // namespace sgt::text
