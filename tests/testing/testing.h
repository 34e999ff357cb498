#pragma once
// Test helpers: scratch folders and the Python reference scripts under tools/.
#include <functional>
#include <string>
#include <vector>

namespace sgt::testing {

// A fresh folder under the build tree, removed when the object dies (unless SGT_KEEP_TEST_FILES=1).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t");
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing its output.
ProcessResult run_command(const std::string& command);
// Runs tools/<script> with the project's Python (the .venv that holds the reference packages).
ProcessResult run_python_tool(const std::string& script, const std::vector<std::string>& args);
std::string source_dir();
// A file shipped in the repository's assets/ (assets/README.md), e.g. "qwen-tokenizer/tokenizer.json"; throws when
// it is missing.
std::string asset(const std::string& relative);
std::string binary_dir();
std::string shell_quote(const std::string& s);
// The what() of the sgt::Error that fn throws; a test failure and "" when it throws none.
std::string error_message(const std::function<void()>& fn);
// The lines of a command's output that start "sgt: error:" (stdout and stderr arrive merged, so the error need not
// be the last line).
std::vector<std::string> error_lines(const std::string& output);
// A TCP port on 127.0.0.1 that was free a moment ago (for MASTER_PORT of multi-process tests).
int free_port();

}  // namespace sgt::testing
