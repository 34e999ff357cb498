// sgt inspect PATH: the tensors of a safetensors file, a folder or a sharded checkpoint.
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "core/error.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"

namespace sgt::cli {
namespace {

struct InspectArgs {
  std::string path;
  std::string filter = "*";
  bool summary_only = false;
};

std::string human_count(double n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f}", n) : fmt::format("{:.2f} {}", n, units[u]);
}

void run_inspect(const InspectArgs& args) {
  auto src = io::TensorSource::open(args.path);
  std::map<std::string, std::pair<int64_t, uint64_t>> per_dtype;  // dtype -> (elements, bytes)
  int64_t total = 0, shown = 0;
  for (const auto& f : src.files()) {
    std::printf("# %s (%zu tensors)\n", f.path().c_str(), f.tensors().size());
    for (const auto& [k, v] : f.metadata()) std::printf("#   metadata %s = %s\n", k.c_str(), v.c_str());
  }
  for (const auto& name : src.names()) {
    const auto& t = *src.at(name).info;
    if (!io::glob_match(args.filter, name)) continue;
    ++shown;
    total += t.numel();
    auto& d = per_dtype[io::dtype_name(t.dtype)];
    d.first += t.numel();
    d.second += t.nbytes();
    if (!args.summary_only)
      std::printf("%-72s %-8s %-24s %lld\n", name.c_str(), io::dtype_name(t.dtype), shape_str(t.shape).c_str(),
                  static_cast<long long>(t.numel()));
  }
  for (const auto& [dt, v] : per_dtype)
    std::printf("dtype %-8s %s parameters, %s bytes\n", dt.c_str(), human_count(v.first).c_str(),
                human_count(static_cast<double>(v.second)).c_str());
  std::printf("total: %lld tensors, %lld parameters (%s)\n", static_cast<long long>(shown),
              static_cast<long long>(total), human_count(static_cast<double>(total)).c_str());
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "List the tensors of a safetensors file, folder or sharded checkpoint");
  cmd->add_option("path", args->path, "file, folder or *.safetensors.index.json")->required();
  cmd->add_option("--filter", args->filter, "only names matching this glob ('*' wildcards)");
  cmd->add_flag("--summary", args->summary_only, "print only the totals");
  cmd->callback([args] { run_inspect(*args); });
}

}  // namespace sgt::cli
