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
void register_tune(CLI::App& app);  // sgt tune (the main job)
void register_data_inspect(CLI::App& app);  // sgt data inspect (parent: cli/data.h data_command)
void register_data_render(CLI::App& app);   // sgt data render (parent: cli/data.h data_command)
void register_data_bench(CLI::App& app);    // sgt data bench (parent: cli/data.h data_command)
void register_chat(CLI::App& app);      // infer: understanding
void register_generate(CLI::App& app);  // infer: text-to-image
void register_edit(CLI::App& app);      // infer: editing
void register_segment(CLI::App& app);   // infer: SGT proxy tasks
void register_eval(CLI::App& app);           // sgt eval cvbench | geneval | seg (parent: cli/eval.h)
void register_eval_world(CLI::App& app);     // sgt eval world
void register_eval_pope(CLI::App& app);      // sgt eval pope
void register_eval_analysis(CLI::App& app);  // sgt eval probe | attention
void register_eval_loss(CLI::App& app);      // sgt eval loss (called by register_eval)

}  // namespace sgt::cli
