// sgt generate: text-to-image with BAGEL (docs/inference.md, "Image sampler", "Classifier-free guidance"), written
// as PNG.
#include <memory>

#include "cli/commands.h"
#include "cli/infer_args.h"

namespace sgt::cli {

void register_generate(CLI::App& app) {
  struct Args {
    infer::ModelArgs model;
    infer::GenerateArgs gen;
  };
  auto a = std::make_shared<Args>();
  a->gen.gen.cfg_img_scale = 1.0;  // T2I recommendation (docs/inference.md, "Classifier-free guidance")
  auto* cmd = app.add_subcommand("generate", "Generate an image from a text prompt");
  add_model_options(cmd, a->model);
  cmd->add_option("--prompt,-p", a->gen.prompt, "the prompt")->required();
  cmd->add_option("--output,-o", a->gen.output, "output PNG")->required();
  cmd->add_option("--width", a->gen.width, "output width (a multiple of VAE downsample x latent patch)")->required();
  cmd->add_option("--height", a->gen.height, "output height")->required();
  add_save_latents_option(cmd, a->gen.save_latents);
  add_think_options(cmd, a->gen.think, a->gen.think_text);
  add_image_gen_options(cmd, a->gen.gen);
  cmd->callback([a] { infer::run_generate(a->model, a->gen); });
}

}  // namespace sgt::cli
