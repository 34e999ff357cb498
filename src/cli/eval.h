#pragma once
// Shared by the `sgt eval ...` subcommand files (eval.cpp, eval_world.cpp, eval_analysis.cpp).
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace sgt::cli {
// The `eval` subcommand of app (created on first call).
CLI::App* eval_command(CLI::App& app);
// Writes pretty JSON atomically when path is not empty, and says so.
void write_json_out(const std::string& path, const nlohmann::ordered_json& j);
// Writes a Markdown summary atomically when path is not empty, and says so (every benchmark's --markdown).
void write_markdown_out(const std::string& path, const std::string& markdown);
}  // namespace sgt::cli
