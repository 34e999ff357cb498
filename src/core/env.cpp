#include "core/env.h"

#include <cstdlib>

#include "core/error.h"

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

static int first_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (get(n)) return static_cast<int>(get_int(n, fallback));
  return fallback;
}

int rank() { return first_int({"RANK", "SLURM_PROCID"}, 0); }
int world_size() { return first_int({"WORLD_SIZE", "SLURM_NTASKS"}, 1); }
int local_rank() { return first_int({"LOCAL_RANK", "SLURM_LOCALID"}, 0); }

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
