#pragma once
// Each subcommand lives in its own cli/<name>.cpp and registers itself here; main.cpp only dispatches.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace sgt::cli {

// Adds the subcommand to app and sets its callback; the callback throws sgt::Error on failure.
void register_inspect(CLI::App& app);
void register_env(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_world(CLI::App& app);
void register_data_inspect(CLI::App& app);  // sgt data inspect (parent: cli/data.h data_command)
void register_data_render(CLI::App& app);   // sgt data render (parent: cli/data.h data_command)

}  // namespace sgt::cli
