// libFuzzer target for the config visitor (core/config.h): JSON text through config::parse and from_json<T> for
// the torch-free configs of the data layer (packing, proxy-task mixture with nested task configs, image
// transform, synthetic world, loader), each with its validate(), and for a struct of this file that uses every
// field kind the visitor reads (bool, narrow and wide integers, float, double, string, optional, vector, nested
// vector, string map, nested config, vector and optional of configs). The input is an object whose keys name the
// parts ({"packing": {...}, "world": {...}, ...}); the whole object is read as one config, and every part on its
// own. Reading must succeed or raise sgt::Error; what it reads must round-trip: to_json -> from_json -> to_json is
// the same JSON. Crashes, sanitizer reports, other exception types and broken invariants (__builtin_trap) are
// findings.
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/loader.h"
#include "data/packing.h"
#include "data/proxy_tasks.h"
#include "data/world.h"

namespace {

using sgt::config::Json;

struct Inner {
  int64_t heads = 4;
  double eps = 1e-6;
  template <class V>
  void visit(V&& v) {
    v("heads", heads);
    v("eps", eps);
  }
  void validate() const { SGT_CHECK(heads > 0, "fuzz", "heads {} must be > 0", heads); }
};

struct Fields {
  bool flag = false;
  uint8_t small = 7;
  int32_t count = 3;
  uint64_t big = 0;
  double ratio = 0.5;
  float scale = 1.5f;
  std::string name = "x";
  std::optional<double> maybe;
  std::optional<int64_t> maybe_int;
  std::vector<int64_t> list{1, 2};
  std::vector<std::vector<double>> nested;
  std::map<std::string, std::string> words;
  std::map<std::string, double> weights{{"ce", 1.0}};
  Inner inner;
  std::vector<Inner> blocks;
  std::optional<Inner> opt_inner;
  template <class V>
  void visit(V&& v) {
    v("flag", flag);
    v("small", small);
    v("count", count);
    v("big", big);
    v("ratio", ratio);
    v("scale", scale);
    v("name", name);
    v("maybe", maybe);
    v("maybe_int", maybe_int);
    v("list", list);
    v("nested", nested);
    v("words", words);
    v("weights", weights);
    v("inner", inner);
    v("blocks", blocks);
    v("opt_inner", opt_inner);
  }
};

struct Top {
  sgt::data::PackingConfig packing;
  sgt::data::ProxyMixConfig proxy{{sgt::data::ProxyTaskConfig{}}, {1.0}};
  sgt::data::ImageTransformConfig transform;
  sgt::data::WorldConfig world;
  sgt::data::LoaderConfig loader{.shards = {"a.tar"}};
  Fields fields;
  template <class V>
  void visit(V&& v) {
    v("packing", packing);
    v("proxy", proxy);
    v("transform", transform);
    v("world", world);
    v("loader", loader);
    v("fields", fields);
  }
};

// Reads j as T; when that works, the written JSON must read back to the same JSON.
template <class T>
void read_and_round_trip(const Json& j, const char* what) {
  T value;
  try {
    value = sgt::config::from_json<T>(j, what);
  } catch (const sgt::Error&) {
    return;
  }
  const Json once = sgt::config::to_json(value);
  try {
    const Json twice = sgt::config::to_json(sgt::config::from_json<T>(once, what));
    if (twice.dump() == once.dump()) return;
    std::fprintf(stderr, "%s: round trip changed\n%s\nto\n%s\n", what, once.dump().c_str(), twice.dump().c_str());
  } catch (const sgt::Error& e) {
    std::fprintf(stderr, "%s: written config does not read back: %s\n%s\n", what, e.what(), once.dump().c_str());
  }
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Json j;
  try {
    j = sgt::config::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const sgt::Error&) {
    return 0;
  }
  read_and_round_trip<Top>(j, "top");
  if (!j.is_object()) return 0;
  auto part = [&](const char* key) -> const Json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  if (auto* p = part("packing")) read_and_round_trip<sgt::data::PackingConfig>(*p, "packing");
  if (auto* p = part("proxy")) read_and_round_trip<sgt::data::ProxyMixConfig>(*p, "proxy");
  if (auto* p = part("task")) read_and_round_trip<sgt::data::ProxyTaskConfig>(*p, "task");
  if (auto* p = part("transform")) read_and_round_trip<sgt::data::ImageTransformConfig>(*p, "transform");
  if (auto* p = part("world")) read_and_round_trip<sgt::data::WorldConfig>(*p, "world");
  if (auto* p = part("loader")) read_and_round_trip<sgt::data::LoaderConfig>(*p, "loader");
  if (auto* p = part("fields")) read_and_round_trip<Fields>(*p, "fields");
  return 0;
}
