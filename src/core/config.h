#pragma once
// Typed config structs loaded from JSON.
//
// A config is a plain aggregate with defaults that lists its fields once:
//
//   struct LLMConfig {
//     int64_t hidden_size = 64;
//     template <class V> void visit(V&& v) { v("hidden_size", hidden_size); }
//     void validate() const;   // optional: derived invariants, throws sgt::Error
//   };
//
// from_json rejects unknown keys (naming them and the file), type-checks every field, keeps defaults for
// missing ones and runs validate(); to_json writes every field, so JSON -> struct -> JSON round-trips. Enums are
// written and read as their names (core/enum_names.h); an unknown name is refused with the known ones listed.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "core/error.h"

namespace sgt::config {

using Json = nlohmann::ordered_json;

namespace detail {
struct ProbeVisitor {
  template <class F>
  void operator()(const char*, F&) {}
};
template <class T>
concept Visitable = requires(T t, ProbeVisitor p) { t.visit(p); };
template <class T>
concept Validatable = requires(const T t) { t.validate(); };
// State files (loader, mixer, trainer) set `static constexpr bool kAllKeysRequired = true;`: a missing key is an
// error there (a config keeps its default instead). std::optional fields may still be absent.
template <class T>
concept AllKeysRequired = requires { requires T::kAllKeysRequired; };
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsStringMap : std::false_type {};
template <class T>
struct IsStringMap<std::map<std::string, T>> : std::true_type {};
}  // namespace detail

template <class T>
T from_json(const Json& j, const std::string& where);
template <class T>
Json to_json(const T& value);

namespace detail {

template <class F>
void read_value(const Json& j, F& out, const std::string& where) {
  if constexpr (std::is_same_v<F, Json>) {  // free-form JSON kept as it is (e.g. per-source bad-sample counts)
    out = j;
  } else if constexpr (Visitable<F>) {
    out = from_json<F>(j, where);
  } else if constexpr (IsOptional<F>::value) {
    if (j.is_null()) {
      out.reset();
    } else {
      typename F::value_type inner{};
      read_value(j, inner, where);
      out = std::move(inner);
    }
  } else if constexpr (IsVector<F>::value) {
    SGT_CHECK(j.is_array(), "config", "{}: expected an array, got {}", where, j.type_name());
    out.clear();
    for (size_t i = 0; i < j.size(); ++i) {
      typename F::value_type item{};
      read_value(j[i], item, where + "[" + std::to_string(i) + "]");
      out.push_back(std::move(item));
    }
  } else if constexpr (IsStringMap<F>::value) {
    SGT_CHECK(j.is_object(), "config", "{}: expected an object, got {}", where, j.type_name());
    out.clear();
    for (auto it = j.begin(); it != j.end(); ++it) read_value(it.value(), out[it.key()], where + "." + it.key());
  } else if constexpr (std::is_same_v<F, bool>) {
    SGT_CHECK(j.is_boolean(), "config", "{}: expected a boolean, got {}", where, j.dump());
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<F>) {
    SGT_CHECK(j.is_number_integer(), "config", "{}: expected an integer, got {}", where, j.dump());
    out = j.get<F>();
  } else if constexpr (std::is_floating_point_v<F>) {
    SGT_CHECK(j.is_number(), "config", "{}: expected a number, got {}", where, j.dump());
    out = j.get<F>();
  } else if constexpr (std::is_same_v<F, std::string>) {
    SGT_CHECK(j.is_string(), "config", "{}: expected a string, got {}", where, j.dump());
    out = j.get<std::string>();
  } else if constexpr (NamedEnum<F>) {
    SGT_CHECK(j.is_string(), "config", "{}: expected one of {}, got {}", where, enum_choices<F>(", "), j.dump());
    out = enum_from_name<F>(j.get<std::string>(), where);
  } else {
    static_assert(!std::is_enum_v<F>, "an enum in a config needs an enum_names() table (core/enum_names.h)");
    out = j.get<F>();
  }
}

template <class F>
Json write_value(const F& v) {
  if constexpr (std::is_same_v<F, Json>) {
    return v;
  } else if constexpr (Visitable<F>) {
    return to_json(v);
  } else if constexpr (IsOptional<F>::value) {
    return v ? write_value(*v) : Json(nullptr);
  } else if constexpr (IsVector<F>::value) {
    Json arr = Json::array();
    for (const auto& x : v) arr.push_back(write_value(x));
    return arr;
  } else if constexpr (IsStringMap<F>::value) {
    Json obj = Json::object();
    for (const auto& [k, x] : v) obj[k] = write_value(x);
    return obj;
  } else if constexpr (NamedEnum<F>) {
    return Json(std::string(name_of(v)));
  } else {
    return Json(v);
  }
}

struct Reader {
  const Json& j;
  const std::string& where;
  std::set<std::string> known;
  std::vector<std::string> missing;  // non-optional keys the object lacks
  template <class F>
  void operator()(const char* key, F& field) {
    known.insert(key);
    auto it = j.find(key);
    if (it != j.end()) {
      read_value(*it, field, where + "." + key);
    } else if constexpr (!IsOptional<F>::value) {
      missing.push_back(key);
    }
  }
};

struct Writer {
  Json& j;
  template <class F>
  void operator()(const char* key, const F& field) {
    j[key] = write_value(field);
  }
};

}  // namespace detail

template <class T>
T from_json(const Json& j, const std::string& where) {
  static_assert(detail::Visitable<T>, "config types list their fields with visit()");
  SGT_CHECK(j.is_object(), "config", "{}: expected a JSON object, got {}", where, j.type_name());
  T value{};
  detail::Reader reader{j, where, {}, {}};
  value.visit(reader);
  std::vector<std::string> unknown;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!reader.known.count(it.key())) unknown.push_back(it.key());
  if (!unknown.empty()) {
    SGT_FAIL("config", "{}: unknown key(s) {} (known: {})", where, fmt::join(unknown, ", "),
             fmt::join(reader.known, ", "));
  }
  if constexpr (detail::AllKeysRequired<T>) {
    if (!reader.missing.empty()) SGT_FAIL("config", "{}: missing key(s) {}", where, fmt::join(reader.missing, ", "));
  }
  if constexpr (detail::Validatable<T>) {
    try {
      value.validate();
    } catch (const Error& e) {  // the file the bad value came from, in front of the component's own message
      if (e.detail().rfind(where, 0) == 0) throw;
      throw_error(e.component().c_str(), where + ": " + e.detail());
    }
  }
  return value;
}

template <class T>
Json to_json(const T& value) {
  Json j = Json::object();
  detail::Writer writer{j};
  T copy = value;  // visit() is non-const by design (one field list for reading and writing)
  copy.visit(writer);
  return j;
}

// Parse JSON text; syntax errors name the source and the byte offset.
Json parse(const std::string& text, const std::string& where);
Json load_json_file(const std::string& path);

// Calls fn(line_json, "path:line") for every non-blank line of a JSONL file, in order. A malformed line throws
// (naming path and line) unless skip_malformed, which drops it (the torn last line of a killed run's log).
void for_each_jsonl(const std::string& path, const std::function<void(const Json&, const std::string&)>& fn,
                    bool skip_malformed = false);

template <class T>
T load_file(const std::string& path) {
  return from_json<T>(load_json_file(path), path);
}

}  // namespace sgt::config
