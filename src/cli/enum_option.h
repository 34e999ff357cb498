#pragma once
// CLI options whose values are the names of an enum's table (core/enum_names.h): the choices in --help come from
// the table, and the default shown is the live value's name.
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/enum_names.h"

namespace sgt::cli {

template <NamedEnum E>
std::vector<std::string> enum_option_names() {
  std::vector<std::string> out;
  for (const auto& [name, value] : enum_name_map<E>()) out.push_back(name);
  return out;
}

// `value` is set from its name. An unknown name is an sgt::Error (one line, exit 1) naming the option and its config
// key ("--cfg-renorm-type (cfg_renorm_type): unknown value 'local' (known: ...)").
template <NamedEnum E>
CLI::Option* add_enum_option(CLI::App* cmd, const std::string& flag, E& value, const std::string& help) {
  std::string key = flag.substr(flag.find_first_not_of('-'));
  for (char& c : key) c = c == '-' ? '_' : c;
  const std::string where = flag + " (" + key + ")";
  return cmd
      ->add_option_function<std::string>(
          flag, [&value, where](const std::string& name) { value = enum_from_name<E>(name, where); },
          help + " (" + enum_choices<E>(" | ") + ")")
      ->default_str(std::string(name_of(value)));
}

// An override that may be absent (the config's value stays): a string checked against the table, turned into the
// enum by the caller with enum_from_name.
template <NamedEnum E>
CLI::Option* add_enum_override(CLI::App* cmd, const std::string& flags, std::string& name, const std::string& help) {
  return cmd->add_option(flags, name, help + " (" + enum_choices<E>(" | ") + ")")
      ->check(CLI::IsMember(enum_option_names<E>()).description(""));
}

}  // namespace sgt::cli
