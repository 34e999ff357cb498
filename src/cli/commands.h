#pragma once
// Each subcommand lives in its own cli/<name>.cpp and registers itself here; main.cpp only dispatches.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace sgt::cli {

// Adds the subcommand to app and sets its callback; the callback throws sgt::Error on failure.
void register_inspect(CLI::App& app);

}  // namespace sgt::cli
