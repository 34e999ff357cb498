#pragma once
// Instruction templates per proxy task (SGT's consts.py lists, shipped as fixtures/sgt-prompts/instructions.json),
// drawn uniformly at random per sample with an explicit sgt::Rng, as the reference does.
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"

namespace sgt::data {

class Instructions {
 public:
  // Reads {"task": ["template", ...], ...}; every list must be a non-empty array of non-empty strings.
  // A "depth" list is added from built-in templates when the file has none (the SGT release ships none).
  static Instructions load(const std::string& path);
  static Instructions from_map(std::map<std::string, std::vector<std::string>> lists);
  // One template per task in our own words, so the built-in world runs with no files; real runs load SGT's lists.
  static Instructions builtin();

  bool has(const std::string& list) const { return lists_.count(list) != 0; }
  // Throws sgt::Error naming the list and the known ones.
  const std::vector<std::string>& list(const std::string& name) const;
  const std::string& draw(const std::string& name, Rng& rng) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::vector<std::string>> lists_;
  std::string source_ = "<memory>";
};

// Built-in depth templates (ours; UniMRG-style phrasing), used when the instruction file has no "depth" list.
const std::vector<std::string>& builtin_depth_instructions();

}  // namespace sgt::data
