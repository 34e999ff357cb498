// sgt segment: SGT's proxy tasks (image + instruction -> colour-coded instance map, edge, depth, ...) in the
// training layout [ViT(input)] [instruction] [noisy VAE]; one request or a JSONL batch.
#include <memory>

#include "cli/commands.h"
#include "cli/infer_args.h"
#include "core/error.h"

namespace sgt::cli {

void register_segment(CLI::App& app) {
  struct Args {
    infer::ModelArgs model;
    infer::ImageTaskArgs task;
    std::string batch;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("segment", "Run a proxy task (segmentation, edge, depth, ...) on an image");
  add_model_options(cmd, a->model);
  add_image_task_options(cmd, a->task);
  cmd->add_option("--batch", a->batch,
                  "JSONL of requests {image, instruction, output[, seed, width, height, vit_width, vit_height]}; "
                  "consecutive requests on one image reuse its cached context");
  add_image_gen_options(cmd, a->task.gen);
  cmd->callback([a] {
    if (!a->batch.empty()) {
      SGT_CHECK(a->task.image.empty() && a->task.output.empty(), "cli.segment",
                "--batch takes the images and outputs from the JSONL file; drop --image / --output");
      infer::run_segment_batch(a->model, a->batch, a->task);
    } else {
      infer::run_segment(a->model, a->task);
    }
  });
}

}  // namespace sgt::cli
