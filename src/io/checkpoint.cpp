#include "io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/json_limited.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/checksum.h"

namespace sgt::io {
namespace fs = std::filesystem;
namespace {
constexpr const char* kC = "checkpoint";
constexpr const char* kFormat = "sgt-checkpoint";

void fsync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SGT_CHECK(fd >= 0, kC, "cannot open {} to fsync", path);
  ::fsync(fd);
  ::close(fd);
}

// step folders and folders set aside while a step was being replaced, newest step first
std::vector<std::pair<int64_t, std::string>> candidate_dirs(const std::string& root) {
  static const std::regex re(R"(step_(\d+)(\.replaced-\d+)?)");
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !std::regex_match(name, m, re)) continue;
    int64_t step = 0;
    const std::string digits = m[1];
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), step);
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {  // e.g. step_99999999999999999999
      log::warn("[checkpoint] ignoring {}: its step number does not fit in 64 bits", e.path().string());
      continue;
    }
    out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;  // plain step_N sorts before its aside copy
  });
  return out;
}
}  // namespace

std::string checkpoint_dir_name(int64_t step) { return fmt::format("step_{:08}", step); }

CheckpointWriter::CheckpointWriter(std::string root, int64_t step) : root_(std::move(root)), step_(step) {
  SGT_CHECK(step >= 0, kC, "negative step {}", step);
  name_ = checkpoint_dir_name(step);
  std::error_code ec;
  fs::create_directories(root_, ec);
  SGT_CHECK(!ec, kC, "cannot create {}: {}", root_, ec.message());
  // Leftovers of writers that crashed.
  for (const auto& e : fs::directory_iterator(root_))
    if (e.path().filename().string().rfind(".partial-", 0) == 0) fs::remove_all(e.path(), ec);
  tmp_ = root_ + "/.partial-" + name_ + "-" + std::to_string(::getpid());
  fs::create_directories(tmp_, ec);
  SGT_CHECK(!ec, kC, "cannot create {}: {}", tmp_, ec.message());
}

CheckpointWriter::~CheckpointWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

std::string CheckpointWriter::file_path(const std::string& name) const {
  SGT_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "manifest.json", kC,
            "invalid checkpoint file name '{}'", name);
  return tmp_ + "/" + name;
}

void CheckpointWriter::write_json(const std::string& name, const nlohmann::ordered_json& j) {
  atomic_write_text(file_path(name), j.dump(2) + "\n");
}

CheckpointInfo CheckpointWriter::commit(int keep_last) {
  SGT_CHECK(!committed_, kC, "{}: committed twice", name_);
  nlohmann::ordered_json manifest = {{"format", kFormat}, {"version", kCheckpointVersion}, {"step", step_}};
  manifest["files"] = nlohmann::ordered_json::object();
  manifest["sha256"] = nlohmann::ordered_json::object();  // verified on resume (open_checkpoint(dir, true))
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const std::string p = tmp_ + "/" + n;
    SGT_CHECK(fs::is_regular_file(p), kC, "{}: unexpected non-file {}", name_, p);
    SGT_CHECK(n.find(".tmp.") == std::string::npos, kC, "{}: unfinished file {}", name_, n);
    fsync_file(p);
    manifest["files"][n] = fs::file_size(p);
    manifest["sha256"][n] = sha256_file(p);  // read back from the page cache just written
  }
  if (!config_.is_null()) manifest["config"] = config_;
  atomic_write_text(tmp_ + "/manifest.json", manifest.dump(2) + "\n");
  fsync_dir(tmp_);

  const std::string final_dir = root_ + "/" + name_;
  std::string aside;
  if (fs::exists(final_dir)) {  // re-saving a step: keep the old copy until the new one is in place
    aside = final_dir + ".replaced-" + std::to_string(::getpid());
    fs::rename(final_dir, aside);
  }
  fs::rename(tmp_, final_dir);
  fsync_dir(root_);
  atomic_write_text(root_ + "/LATEST", name_ + "\n");
  committed_ = true;
  std::error_code ec;
  if (!aside.empty()) fs::remove_all(aside, ec);
  if (keep_last > 0) {
    int kept = 1;  // the folder just written always stays
    for (const auto& [step, path] : candidate_dirs(root_)) {
      if (path == final_dir) continue;
      if (kept < keep_last) {
        ++kept;
      } else {
        fs::remove_all(path, ec);
      }
    }
  }
  return open_checkpoint(final_dir);
}

std::vector<std::string> checkpoint_dirs(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& [step, path] : candidate_dirs(root)) out.push_back(path);
  return out;
}

CheckpointInfo open_checkpoint(const std::string& dir, bool verify_checksums) {
  const std::string mpath = dir + "/manifest.json";
  SGT_CHECK(fs::exists(mpath), kC, "{} has no manifest.json (incomplete or not a checkpoint)", dir);
  nlohmann::ordered_json m;
  try {
    m = parse_json_limited<nlohmann::ordered_json>(read_text_file(mpath), mpath);
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL(kC, "{}: malformed manifest: {}", mpath, e.what());
  }
  SGT_CHECK(m.is_object() && m.value("format", "") == kFormat, kC, "{}: not an sgt checkpoint manifest", mpath);
  SGT_CHECK(m.contains("version") && m["version"].is_number_integer(), kC, "{}: manifest has no version", mpath);
  const int version = m["version"].get<int>();
  SGT_CHECK(version >= 1 && version <= kCheckpointVersion, kC,
            "{}: checkpoint format version {} is not supported by this build (version {}); HINT: use the sgt "
            "release that wrote it",
            mpath, version, kCheckpointVersion);
  SGT_CHECK(m.contains("step") && m["step"].is_number_integer(), kC, "{}: manifest has no step", mpath);
  SGT_CHECK(m.contains("files") && m["files"].is_object(), kC, "{}: manifest has no file list", mpath);
  for (auto it = m["files"].begin(); it != m["files"].end(); ++it) {
    const std::string p = dir + "/" + it.key();
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    SGT_CHECK(!ec, kC, "{}: file {} listed in the manifest is missing", dir, it.key());
    SGT_CHECK(it.value().is_number_unsigned() && size == it.value().get<uint64_t>(), kC,
              "{}: {} has {} bytes, the manifest says {}", dir, it.key(), size, it.value().dump());
  }
  if (version >= 2) {
    SGT_CHECK(m.contains("sha256") && m["sha256"].is_object(), kC, "{}: manifest has no checksums", mpath);
    for (auto it = m["files"].begin(); it != m["files"].end(); ++it)
      SGT_CHECK(m["sha256"].contains(it.key()) && m["sha256"][it.key()].is_string(), kC,
                "{}: manifest has no checksum for {}", mpath, it.key());
  }
  if (verify_checksums) {
    if (version < 2) {
      log::warn("[checkpoint] {} predates checksums (format version {}): its files are not verified", dir, version);
    } else {
      for (auto it = m["files"].begin(); it != m["files"].end(); ++it) {
        const std::string want = m["sha256"][it.key()].get<std::string>();
        const std::string got = sha256_file(dir + "/" + it.key());
        SGT_CHECK(got == want, kC, "{}: {} is corrupt: its SHA-256 is {}, the manifest says {}", dir, it.key(), got,
                  want);
      }
    }
  }
  return CheckpointInfo{dir, m["step"].get<int64_t>(), m};
}

std::optional<CheckpointInfo> latest_checkpoint(const std::string& root, bool verify_checksums) {
  if (!fs::is_directory(root)) return std::nullopt;
  const std::string latest = root + "/LATEST";
  std::string tried;  // the folder LATEST named, already found unusable
  if (fs::exists(latest)) {
    std::string name = read_text_file(latest);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    try {
      if (!name.empty() && name.find('/') == std::string::npos)
        return open_checkpoint(root + "/" + name, verify_checksums);
    } catch (const Error& e) {
      log::warn("[checkpoint] LATEST names {} but it is unusable ({}); looking for an older one", name, e.what());
      tried = root + "/" + name;
    }
  }
  for (const auto& [step, path] : candidate_dirs(root)) {
    if (path == tried) continue;
    try {
      auto info = open_checkpoint(path, verify_checksums);
      if (verify_checksums) log::warn("[checkpoint] using {} (step {}), the newest intact checkpoint", path, step);
      return info;
    } catch (const Error& e) {
      if (verify_checksums) log::warn("[checkpoint] skipping {}: {}", path, e.what());
      continue;
    }
  }
  return std::nullopt;
}

}  // namespace sgt::io
