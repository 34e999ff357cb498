// sgt edit: image editing with BAGEL (spec-bagel.md §2.7, §4.1): clean VAE + ViT conditions + instruction.
#include <memory>

#include "cli/commands.h"
#include "cli/infer_args.h"

namespace sgt::cli {

namespace {

void add_image_task_options(CLI::App* cmd, infer::ImageTaskArgs& t) {
  cmd->add_option("--image,-i", t.image, "input image (PNG or JPEG)")->required();
  cmd->add_option("--instruction", t.instruction, "the instruction");
  cmd->add_option("--output,-o", t.output, "output PNG");
  cmd->add_option("--width", t.width, "output width (default: input width rounded down to the VAE multiple)");
  cmd->add_option("--height", t.height, "output height");
  cmd->add_option("--vit-width", t.vit_w, "ViT input width, a multiple of 14 (default: input, rounded down)");
  cmd->add_option("--vit-height", t.vit_h, "ViT input height, a multiple of 14");
}

}  // namespace

void register_edit(CLI::App& app) {
  struct Args {
    infer::ModelArgs model;
    infer::ImageTaskArgs task;
  };
  auto a = std::make_shared<Args>();
  a->task.gen.cfg_img_scale = 2.0;  // edit recommendation (spec §4.5 table)
  a->task.gen.cfg_interval_lo = 0.0;
  a->task.gen.cfg_renorm_type = "text_channel";
  auto* cmd = app.add_subcommand("edit", "Edit an image following an instruction");
  add_model_options(cmd, a->model);
  add_image_task_options(cmd, a->task);
  add_image_gen_options(cmd, a->task.gen);
  cmd->callback([a] { infer::run_edit(a->model, a->task); });
}

}  // namespace sgt::cli
