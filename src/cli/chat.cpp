// sgt chat: understanding with BAGEL (docs/inference.md, "Text decoding"): [image] + question -> answer on standard
// output.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/infer_args.h"

namespace sgt::cli {

void register_chat(CLI::App& app) {
  struct Args {
    infer::ModelArgs model;
    infer::ChatArgs chat;
    bool print_ids = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("chat", "Answer a question about an image (greedy or sampled decoding)");
  add_model_options(cmd, a->model);
  cmd->add_option("--image", a->chat.image, "input image (PNG or JPEG); omit for text only");
  cmd->add_option("--question,-q", a->chat.question, "the question")->required();
  cmd->add_option("--vit-width", a->chat.vit_w, "ViT input width, a multiple of 14 (default: chosen by --resize)");
  cmd->add_option("--vit-height", a->chat.vit_h, "ViT input height, a multiple of 14");
  add_enum_option(cmd, "--resize", a->chat.resize,
                  "ViT size not given: bagel = Bagel.chat (VLM rule: sides 378-980, stride 14); inferencer = "
                  "InterleaveInferencer, the app's Understanding tab and its think path (VAE rule 512-1024 stride 16, "
                  "then the ViT rule 224-980 stride 14 on the resized image); keep = the image's size, rounded down");
  cmd->add_option("--max-length", a->chat.text.max_length, "maximum decoding steps");
  cmd->add_flag("--sample", a->chat.text.do_sample, "sample from softmax(logits / T) instead of greedy argmax");
  cmd->add_option("--temperature", a->chat.text.temperature, "sampling temperature");
  cmd->add_flag("--think", a->chat.text.think, "prepend BAGEL's think system prompt");
  cmd->add_option("--seed", a->chat.text.seed, "sampling seed");
  cmd->add_flag("--print-ids", a->print_ids, "after the answer, print its token ids on one line (space-separated)");
  cmd->callback([a] {
    auto answer = infer::run_chat(a->model, a->chat);
    std::fwrite(answer.text.data(), 1, answer.text.size(), stdout);
    std::fputc('\n', stdout);
    if (a->print_ids) {
      for (size_t i = 0; i < answer.ids.size(); ++i) std::printf("%s%lld", i ? " " : "", (long long)answer.ids[i]);
      std::fputc('\n', stdout);
    }
  });
}

}  // namespace sgt::cli
