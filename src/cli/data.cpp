// `sgt data ...`: parent of the data subcommands (inspect, render, bench). Children register through
// data_command(), which creates the parent on first use.
#include "cli/data.h"

namespace sgt::cli {

CLI::App* data_command(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == "data") return sub;
  auto* cmd = app.add_subcommand("data", "Data tools: inspect shards, images, SA-1B JSON and JSONL");
  cmd->require_subcommand(1);
  return cmd;
}

}  // namespace sgt::cli
