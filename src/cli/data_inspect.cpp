// sgt data inspect PATH...: what a data file holds. Tar shards (.tar, .tar.gz, .tgz): samples grouped by
// webdataset key with their members and sizes; images: size and channels; SA-1B .json: annotation statistics;
// .jsonl: LLaVA record statistics. Bad samples are counted by reason instead of stopping the listing.
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/data.h"
#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/llava.h"
#include "data/sa1b.h"
#include "data/tar.h"
#include "data/webdataset.h"

namespace sgt::cli {
namespace {

struct DataInspectArgs {
  std::vector<std::string> paths;
  int64_t max_samples = 20;  // samples listed per shard; all are counted
};

bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

void inspect_shards(const std::vector<std::string>& shards, const DataInspectArgs& args) {
  data::WdsReader reader(shards);
  data::BadSampleCounter bad(0);
  std::map<std::string, int64_t> ext_counts;
  int64_t n = 0;
  uint64_t bytes = 0;
  for (;;) {
    data::WdsSample s;
    try {
      if (!reader.next(s)) break;
    } catch (const std::exception& e) {
      std::printf("  ! %s\n", e.what());
      bad.record(e);
      continue;
    }
    ++n;
    std::string members;
    for (const auto& [ext, v] : s.fields) {
      ++ext_counts[ext];
      bytes += v.size();
      members += fmt::format(" {}({})", ext, v.size());
    }
    if (n <= args.max_samples) std::printf("  %s [%s]:%s\n", s.key.c_str(), s.url.c_str(), members.c_str());
  }
  std::printf("%lld samples, %llu bytes in %zu shard(s)\n", static_cast<long long>(n),
              static_cast<unsigned long long>(bytes), shards.size());
  for (const auto& [ext, c] : ext_counts) std::printf("  .%s: %lld\n", ext.c_str(), static_cast<long long>(c));
  std::printf("%s\n", bad.summary().c_str());
  SGT_CHECK(n > 0, "data inspect", "read no sample from {} shard(s) ({}): {}", shards.size(),
            fmt::join(shards.begin(), shards.begin() + std::min<size_t>(3, shards.size()), ", "), bad.summary());
}

void inspect_sa1b_json(const std::string& path) {
  const auto bytes = data::read_file_bytes(path);
  const auto rec = data::parse_sa1b_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                         path);
  uint64_t area_sum = 0, area_min = UINT64_MAX, area_max = 0;
  for (const auto& a : rec.annotations) {
    const uint64_t area = data::rle_area(a.segmentation);
    area_sum += area;
    area_min = std::min(area_min, area);
    area_max = std::max(area_max, area);
  }
  std::printf("%s: image %lld (%s) %lldx%lld, %zu annotations", path.c_str(),
              static_cast<long long>(rec.image.image_id), rec.image.file_name.c_str(),
              static_cast<long long>(rec.image.width), static_cast<long long>(rec.image.height),
              rec.annotations.size());
  if (!rec.annotations.empty())
    std::printf(", mask area min %llu / mean %.0f / max %llu px", static_cast<unsigned long long>(area_min),
                double(area_sum) / rec.annotations.size(), static_cast<unsigned long long>(area_max));
  std::printf("\n");
}

void inspect_jsonl(const std::string& path) {
  data::LlavaJsonlReader reader(path);
  data::BadSampleCounter bad(0);
  int64_t n = 0, images = 0, turns = 0;
  for (;;) {
    data::LlavaRecord rec;
    try {
      if (!reader.next(rec)) break;
    } catch (const std::exception& e) {
      std::printf("  ! %s\n", e.what());
      bad.record(e);
      continue;
    }
    ++n;
    images += static_cast<int64_t>(rec.images.size());
    turns += static_cast<int64_t>(rec.turns.size());
  }
  std::printf("%s: %lld records, %lld images, %lld turns; %s\n", path.c_str(), static_cast<long long>(n),
              static_cast<long long>(images), static_cast<long long>(turns), bad.summary().c_str());
  SGT_CHECK(n > 0, "data inspect", "read no record from {}: {}", path, bad.summary());
}

void run_data_inspect(const DataInspectArgs& args) {
  std::vector<std::string> shards;
  const auto paths = data::expand_shard_list(args.paths);
  SGT_CHECK(!paths.empty(), "data inspect", "the paths {} expand to nothing", fmt::join(args.paths, " "));
  for (const auto& p : paths) {
    // A URL (pipe:CMD, file:PATH) names a shard; other schemes are refused here, naming the pipe: form to use.
    const data::ShardUrl url = data::parse_shard_url(p);
    const std::string& t = url.target;
    if (url.kind == data::ShardUrl::Kind::kPipe || ends_with(t, ".tar") || ends_with(t, ".tar.gz") ||
        ends_with(t, ".tgz")) {
      shards.push_back(p);
    } else if (ends_with(t, ".jsonl")) {
      inspect_jsonl(t);
    } else if (ends_with(t, ".json")) {
      inspect_sa1b_json(t);
    } else {
      const auto bytes = data::read_file_bytes(t);
      const auto info = data::probe_image(bytes, p);
      const auto img = data::decode_image(bytes, p);  // full decode: reports corrupt data, not only headers
      std::printf("%s: %s %lldx%lld, %lld channel(s), %zu bytes\n", p.c_str(),
                  info.format == data::ImageFormat::kJpeg ? "JPEG" : "PNG", static_cast<long long>(img.width),
                  static_cast<long long>(img.height), static_cast<long long>(img.channels), bytes.size());
    }
  }
  if (!shards.empty()) inspect_shards(shards, args);
}

}  // namespace

void register_data_inspect(CLI::App& app) {
  auto args = std::make_shared<DataInspectArgs>();
  auto* cmd = data_command(app)->add_subcommand(
      "inspect", "Show what tar shards (brace lists allowed), images, SA-1B .json or LLaVA .jsonl files hold");
  cmd->add_option("paths", args->paths, "files or shard patterns like 'sa-{000..009}.tar'")->required();
  cmd->add_option("--max-samples", args->max_samples, "samples listed (all are counted)");
  cmd->callback([args] { run_data_inspect(*args); });
}

}  // namespace sgt::cli
