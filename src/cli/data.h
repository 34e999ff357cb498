#pragma once
#include <CLI/CLI.hpp>

namespace sgt::cli {
// The `data` subcommand of app (created on first call); data children (inspect, render, bench) add to it.
CLI::App* data_command(CLI::App& app);
}  // namespace sgt::cli
