// sgt edit: image editing with BAGEL (docs/inference.md, "Contexts"): clean VAE + ViT conditions + instruction.
#include <memory>

#include "cli/commands.h"
#include "cli/infer_args.h"

namespace sgt::cli {

void register_edit(CLI::App& app) {
  struct Args {
    infer::ModelArgs model;
    infer::ImageTaskArgs task;
  };
  auto a = std::make_shared<Args>();
  a->task.gen.cfg_img_scale = 2.0;  // edit recommendation (docs/inference.md, "Classifier-free guidance")
  a->task.gen.cfg_interval_lo = 0.0;
  a->task.gen.cfg_renorm_type = infer::RenormType::kTextChannel;
  auto* cmd = app.add_subcommand("edit", "Edit an image following an instruction");
  add_model_options(cmd, a->model);
  add_image_task_options(cmd, a->task);
  cmd->get_option("--image")->required();
  add_think_options(cmd, a->task.think, a->task.think_text);
  add_image_gen_options(cmd, a->task.gen);
  cmd->callback([a] { infer::run_edit(a->model, a->task); });
}

}  // namespace sgt::cli
