#include "core/env.h"

#include <cstdlib>

#include "core/error.h"
#include "core/launch.h"

namespace sgt::env {

std::optional<std::string> get(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int64_t get_int(const char* name, int64_t fallback) {
  auto v = get(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    int64_t x = std::stoll(*v, &used);
    SGT_CHECK(used == v->size(), "env", "{}={} is not an integer", name, *v);
    return x;
  } catch (const std::logic_error&) {
    SGT_FAIL("env", "{}={} is not an integer", name, *v);
  }
}

// The launch variables are read by core/launch.cpp only; these are its non-throwing view.
int rank() { return static_cast<int>(launch_env_or_single().rank); }
int world_size() { return static_cast<int>(launch_env_or_single().world_size); }
int local_rank() { return static_cast<int>(launch_env_or_single().local_rank); }

std::string log_level() { return get("SGT_LOG_LEVEL").value_or("info"); }
bool log_all_ranks() { return get_int("SGT_LOG_ALL_RANKS", 0) != 0; }

std::optional<bool> progress() {
  auto v = get("SGT_PROGRESS");
  if (!v) return std::nullopt;
  return *v != "0";
}

int64_t max_image_pixels() {
  constexpr int64_t kPilMaxImagePixels = 89'478'485;  // PIL.Image.MAX_IMAGE_PIXELS: int(1024 * 1024 * 1024 // 4 // 3)
  const int64_t v = get_int("SGT_MAX_IMAGE_PIXELS", kPilMaxImagePixels);
  SGT_CHECK(v >= 0, "env", "SGT_MAX_IMAGE_PIXELS={} is negative (0 = no limit)", v);
  return v;
}

int64_t max_prompt_tokens() {
  const int64_t v = get_int("SGT_MAX_PROMPT_TOKENS", 8192);
  SGT_CHECK(v >= 0, "env", "SGT_MAX_PROMPT_TOKENS={} is negative (0 = no limit)", v);
  return v;
}

}  // namespace sgt::env
