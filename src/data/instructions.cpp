#include "data/instructions.h"

#include "core/config.h"
#include "core/error.h"

namespace sgt::data {

const std::vector<std::string>& builtin_depth_instructions() {
  static const std::vector<std::string> kList = {
      "Estimate the depth of this image.",
      "Generate the depth map of this image.",
      "Predict a depth map for the scene.",
      "Show how far each pixel is from the camera.",
      "Render the scene depth, near regions bright and far regions dark.",
      "Convert this image into a depth map.",
  };
  return kList;
}

Instructions Instructions::from_map(std::map<std::string, std::vector<std::string>> lists) {
  Instructions out;
  for (const auto& [name, list] : lists) {
    SGT_CHECK(!list.empty(), "instructions", "list '{}' is empty", name);
    for (size_t i = 0; i < list.size(); ++i)
      SGT_CHECK(!list[i].empty(), "instructions", "list '{}' entry {} is empty", name, i);
  }
  out.lists_ = std::move(lists);
  if (!out.lists_.count("depth")) out.lists_["depth"] = builtin_depth_instructions();
  return out;
}

Instructions Instructions::builtin() {
  Instructions out = from_map({
      {"segment", {"Segment instances with different colors."}},
      {"edge", {"Draw the edges of this image."}},
      {"recon", {"Reconstruct this image."}},
      {"inpainting", {"Fill in the masked regions of this image."}},
      {"denoise", {"Remove the noise from this image."}},
      {"deblurring", {"Make this blurry image sharp."}},
      {"derain", {"Remove the rain from this image."}},
      {"super_resolution", {"Increase the resolution of this image."}},
      {"enhance", {"Enhance the quality of this image."}},
  });
  out.source_ = "<built-in>";
  return out;
}

Instructions Instructions::load(const std::string& path) {
  const auto j = config::load_json_file(path);
  SGT_CHECK(j.is_object(), "instructions", "{}: expected an object of task -> list of strings", path);
  std::map<std::string, std::vector<std::string>> lists;
  for (auto it = j.begin(); it != j.end(); ++it) {
    SGT_CHECK(it.value().is_array(), "instructions", "{}: '{}' is not an array", path, it.key());
    auto& dst = lists[it.key()];
    for (const auto& s : it.value()) {
      SGT_CHECK(s.is_string(), "instructions", "{}: '{}' holds a non-string {}", path, it.key(), s.dump());
      dst.push_back(s.get<std::string>());
    }
  }
  Instructions out;
  try {
    out = from_map(std::move(lists));
  } catch (const Error& e) {
    SGT_FAIL("instructions", "{}: {}", path, e.detail());
  }
  out.source_ = path;
  return out;
}

const std::vector<std::string>& Instructions::list(const std::string& name) const {
  auto it = lists_.find(name);
  SGT_CHECK(it != lists_.end(), "instructions", "{}: no list '{}' (known: {})", source_, name,
            fmt::join(names(), ", "));
  return it->second;
}

const std::string& Instructions::draw(const std::string& name, Rng& rng) const {
  const auto& l = list(name);
  return l[rng.below(l.size())];
}

std::vector<std::string> Instructions::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : lists_) out.push_back(k);
  return out;
}

}  // namespace sgt::data
