// sgt: one binary, one thin file per subcommand. Errors from the library are caught here, once, and printed as
// a single line; the exit status is non-zero.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"sgt: Semantic Generative Tuning for unified multimodal models (C++/libtorch)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sgt 0.1.0");
  std::string log_level;
  app.add_option("--log-level", log_level, "debug | info | warn | error (default: $SGT_LOG_LEVEL or info)");
  app.parse_complete_callback([&] {
    if (!log_level.empty()) sgt::log::set_level(sgt::log::parse_level(log_level));
  });
  sgt::cli::register_inspect(app);
  sgt::cli::register_env(app);
  sgt::cli::register_tokenize(app);
  sgt::cli::register_world(app);
  sgt::cli::register_tune(app);
  sgt::cli::register_data_inspect(app);
  sgt::cli::register_data_render(app);
  sgt::cli::register_chat(app);
  sgt::cli::register_generate(app);
  sgt::cli::register_edit(app);
  sgt::cli::register_segment(app);
  sgt::cli::register_eval(app);
  sgt::cli::register_eval_world(app);
  sgt::cli::register_eval_pope(app);
  sgt::cli::register_eval_analysis(app);
  sgt::cli::register_data_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const sgt::Error& e) {
    std::fprintf(stderr, "sgt: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sgt: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
