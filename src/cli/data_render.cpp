// sgt data render: renders proxy-task examples (data/proxy_tasks.h) from webdataset shards holding jpg + SA-1B
// json (+ optional depth.png), e.g. the synthetic world, into a folder to look at:
//   <out>/<key>.input.png, <key>.target.png, <key>.txt (the instruction)
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/data.h"
#include "cli/enum_option.h"
#include "core/config.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/proxy_tasks.h"
#include "data/sa1b.h"
#include "data/webdataset.h"
#include "io/atomic_file.h"
#include "io/safe_path.h"

namespace sgt::cli {
namespace {

struct RenderArgs {
  std::vector<std::string> shards;
  std::string out, instructions, task_config;
  data::ProxyTaskConfig task;
  uint64_t seed = 0;
  int64_t limit = 16;
};

void run_render(const RenderArgs& a) {
  data::ProxyTaskConfig cfg = a.task;
  if (!a.task_config.empty()) cfg = config::load_file<data::ProxyTaskConfig>(a.task_config);
  auto instr = std::make_shared<const data::Instructions>(
      a.instructions.empty() ? data::Instructions::builtin() : data::Instructions::load(a.instructions));
  auto task = data::make_proxy_task(cfg, instr);
  std::filesystem::create_directories(a.out);
  const auto shards = data::expand_shard_list(a.shards);
  SGT_CHECK(!shards.empty(), "data render", "--shards {} expand to no shard", fmt::join(a.shards, " "));
  data::WdsReader reader(shards);
  data::BadSampleCounter bad;
  data::WdsSample s;
  int64_t n = 0;
  while (n < a.limit) {
    try {
      if (!reader.next(s)) break;
    } catch (const std::exception& e) {
      bad.record(e, reader.current_shard());
      reader.skip_shard();
      continue;
    }
    try {
      // The key comes from a tar member name: a hostile one (absolute, `..`) is a bad sample, never a write
      // outside --out. Keys with folders (sam_selection/sa_1) get their folders inside --out.
      const std::string base = io::prepare_path_inside(a.out, s.key, "data render");
      data::ProxySource src;
      src.image = data::convert_channels(data::decode_image(s.at("jpg"), s.key), 3);
      if (s.has("json")) {
        const auto& j = s.at("json");
        auto rec = data::parse_sa1b_json(std::string_view(reinterpret_cast<const char*>(j.data()), j.size()),
                                         s.key + ".json", task->config().max_masks);
        data::check_sa1b_image_size(s.at("jpg"), rec, s.url + ":" + s.key + ".jpg");  // never stretched onto the masks
        for (auto& ann : rec.annotations) src.instances.push_back(std::move(ann.segmentation));
      }
      if (s.has("depth.png")) src.depth = data::decode_image(s.at("depth.png"), s.key + ".depth.png");
      Rng rng = Rng::derive(a.seed, hash64(s.key));  // colours and instruction fixed per image and seed
      const auto ex = task->make(src, rng);
      data::write_png(base + ".input.png", ex.input);
      data::write_png(base + ".target.png", ex.target);
      io::atomic_write_text(base + ".txt", ex.instruction + "\n");
      ++n;
    } catch (const std::exception& e) {
      bad.record(e, s.url + ":" + s.key);
    }
  }
  std::printf("rendered %lld %s examples into %s; %s\n", static_cast<long long>(n), std::string(name_of(cfg.task)).c_str(), a.out.c_str(),
              bad.summary().c_str());
  // Rendering nothing is a failure, not a success with an empty folder (--limit 0 asked for nothing).
  SGT_CHECK(n > 0 || a.limit <= 0, "data render", "rendered nothing from {} shard(s) {}: {}", shards.size(),
            fmt::join(a.shards, " "), bad.summary());
}

}  // namespace

void register_data_render(CLI::App& app) {
  auto args = std::make_shared<RenderArgs>();
  auto* cmd = data_command(app)->add_subcommand("render", "Render proxy-task inputs / targets / instructions from shards");
  cmd->add_option("--shards", args->shards, "shard paths or brace patterns (jpg + SA-1B json [+ depth.png])")
      ->required();
  cmd->add_option("--out", args->out, "output folder")->required();
  cmd->add_option("--instructions", args->instructions,
                  "instructions.json (task -> templates); default: one built-in template per task");
  add_enum_option(cmd, "--task", args->task.task, "the proxy task");
  cmd->add_option("--task-config", args->task_config, "JSON ProxyTaskConfig (replaces --task/--mask-resize)");
  add_enum_option(cmd, "--mask-resize", args->task.mask_resize, "instance-map resize (bicubic: the reference's)");
  cmd->add_option("--seed", args->seed, "seed of the per-image colour / instruction streams");
  cmd->add_option("--limit", args->limit, "examples to render");
  cmd->callback([args] { run_render(*args); });
}

}  // namespace sgt::cli
