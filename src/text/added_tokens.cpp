#include "text/added_tokens.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "text/unicode.h"

namespace sgt::text {
namespace {

// Rust regex `\w$` on s[0, end) and `^\w` on s[begin, ...): the single_word test.
bool ends_with_word(std::string_view s, size_t end) {
  if (end == 0) return false;
  int len;
  return has_flag(decode_utf8_before(s, end, len), kWord);
}
bool starts_with_word(std::string_view s, size_t begin) {
  if (begin >= s.size()) return false;
  int len;
  return has_flag(decode_utf8(reinterpret_cast<const unsigned char*>(s.data()) + begin, len), kWord);
}
// Start of the `\s*$` run that ends at `end`.
size_t space_run_before(std::string_view s, size_t end) {
  while (end > 0) {
    int len;
    if (!has_flag(decode_utf8_before(s, end, len), kSpace)) break;
    end -= len;
  }
  return end;
}
// End of the `^\s*` run that starts at `begin`.
size_t space_run_after(std::string_view s, size_t begin) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (begin < s.size()) {
    int len;
    if (!has_flag(decode_utf8(p + begin, len), kSpace)) break;
    begin += len;
  }
  return begin;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns) {
  tokens_.clear();
  std::vector<std::map<uint8_t, uint32_t>> children(1);
  std::vector<int32_t> terminal(1, -1);
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (patterns[t].empty()) continue;
    uint32_t node = 0;
    for (unsigned char b : patterns[t]) {
      auto it = children[node].find(b);
      if (it == children[node].end()) {
        it = children[node].emplace(b, static_cast<uint32_t>(children.size())).first;
        children.emplace_back();
        terminal.push_back(-1);
      }
      node = it->second;
    }
    SGT_CHECK(terminal[node] < 0, "text.tokenizer", "added tokens {} and {} both match {:?}",
              tokens_[terminal[node]].id, tokens[t].id, patterns[t]);
    terminal[node] = static_cast<int32_t>(tokens_.size());
    tokens_.push_back(tokens[t]);
    first_byte_[static_cast<unsigned char>(patterns[t][0])] = true;
  }
  nodes_.assign(children.size(), Node{});
  edges_.clear();
  for (size_t n = 0; n < children.size(); ++n) {
    nodes_[n].first_edge = static_cast<uint32_t>(edges_.size());
    nodes_[n].edge_count = static_cast<uint32_t>(children[n].size());
    nodes_[n].token = terminal[n];
    for (const auto& [byte, child] : children[n]) edges_.push_back({byte, child});
  }
}

std::pair<size_t, int32_t> AddedTokenMatcher::longest_at(std::string_view s, size_t i) const {
  uint32_t node = 0;
  std::pair<size_t, int32_t> best{0, -1};
  for (size_t k = i; k < s.size(); ++k) {
    const Node& nd = nodes_[node];
    const Edge* first = edges_.data() + nd.first_edge;
    const Edge* last = first + nd.edge_count;
    const auto b = static_cast<uint8_t>(s[k]);
    const Edge* e = std::lower_bound(first, last, b, [](const Edge& x, uint8_t v) { return x.byte < v; });
    if (e == last || e->byte != b) break;
    node = e->child;
    if (nodes_[node].token >= 0) best = {k + 1, nodes_[node].token};
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view s, bool split_special_tokens, std::vector<Split>& out) const {
  size_t start_offset = 0;
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    if (!first_byte_[p[i]]) {
      ++i;
      continue;
    }
    const auto [match_end, t] = longest_at(s, i);
    if (t < 0) {
      ++i;
      continue;
    }
    size_t start = i, stop = match_end;
    i = match_end;  // the search resumes after the match even when the rules below discard it
    const AddedToken& tok = tokens_[t];
    if (split_special_tokens && tok.special) continue;
    if (tok.single_word && (ends_with_word(s, start) || starts_with_word(s, stop))) continue;
    if (tok.lstrip) start = std::max(space_run_before(s, start), start_offset);
    if (tok.rstrip) stop = space_run_after(s, stop);
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), -1});
}

}  // namespace sgt::text
