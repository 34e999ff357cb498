// sgt: one binary, one thin file per subcommand. Errors from the library are caught here, once, and printed as
// a single line; the exit status is non-zero.
#include <cstdio>
#include <exception>
#include <new>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

namespace {

// The policy is one line per error: newlines become " | ", and a message echoing a huge input (a 100 kB prompt, a
// megabyte JSON value) keeps its head and tail around a note of what was cut.
std::string one_line(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  std::string out;
  for (char c : msg) {
    if (c == '\n') out += " | ";
    else if (c != '\r') out += c;
  }
  constexpr size_t kHead = 600, kTail = 200;
  if (out.size() > kHead + kTail + 64)
    out = out.substr(0, kHead) + " ... (" + std::to_string(out.size() - kHead - kTail) + " characters cut) ... " +
          out.substr(out.size() - kTail);
  return out;
}

// libtorch's CPU allocator reports a refused allocation as a plain c10::Error ("DefaultCPUAllocator: can't allocate
// memory: you tried to allocate N bytes. Error code 12 ..."): worded like every other out-of-memory error.
std::optional<std::string> host_oom(const std::string& what) {
  if (what.find("can't allocate memory") == std::string::npos) return std::nullopt;
  std::string size;
  const std::string tag = "tried to allocate ";
  if (const auto at = what.find(tag); at != std::string::npos) {
    const auto digits = what.substr(at + tag.size(), what.find(' ', at + tag.size()) - at - tag.size());
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos)
      size = fmt::format(" of {:.1f} MiB", std::stod(digits) / (1 << 20));
  }
  return fmt::format("[memory] out of memory: an allocation{} was refused (host memory or its limit, e.g. ulimit -v); "
                     "a smaller input, batch or model, or more memory, is needed",
                     size);
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "sgt: error: %s\n", one_line(msg).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sgt: Semantic Generative Tuning for unified multimodal models (C++/libtorch)"};
  app.require_subcommand(1);
  // --help shows each option's default from the variable it is bound to, as each command set it (one source).
  app.option_defaults()->always_capture_default();
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
  } catch (const sgt::Interrupted& e) {  // stopped on request after saving: 128 + signal, as a shell reports it
    std::fprintf(stderr, "sgt: %s\n", one_line(e.what()).c_str());
    return 128 + e.signal();
  } catch (const sgt::Error& e) {
    return fail(e.what());
  } catch (const c10::OutOfMemoryError& e) {
    return fail("[torch] out of memory: " + std::string(e.what_without_backtrace()));
  } catch (const c10::Error& e) {  // libtorch's own checks: its message without the 20-40 line C++ backtrace
    if (auto oom = host_oom(e.what_without_backtrace())) return fail(*oom);
    return fail("[torch] " + std::string(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return fail("[memory] out of memory (std::bad_alloc): an allocation was refused; a smaller input, batch or "
                "model, or more memory, is needed");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
