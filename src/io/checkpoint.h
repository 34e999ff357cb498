#pragma once
// Training-checkpoint folders, published atomically.
//
//   <root>/step_00000100/manifest.json   {"format": "sgt-checkpoint", "version": 2, "step": 100,
//                                          "files": {"model.safetensors": <bytes>, ...},
//                                          "sha256": {"model.safetensors": "<hex>", ...}, "config": {...}}
//   <root>/step_00000100/model.safetensors, ema.safetensors, optimizer.rank0.safetensors, state.rank0.json, ...
//   <root>/LATEST                         "step_00000100"
//
// A checkpoint is written into <root>/.partial-step_N-<pid>/, every file fsynced, the manifest written last,
// the folder renamed to step_N and LATEST replaced atomically. A crash at any moment leaves LATEST naming a
// complete folder; partial folders are ignored by readers and removed by the next writer. The SHA-256 of every file
// (version 2; version 1 folders have sizes only and are still read) lets a resume tell flipped bits from weights.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sgt::io {

constexpr int kCheckpointVersion = 2;  // 1: no checksums (still read)

struct CheckpointInfo {
  std::string path;  // the step folder
  int64_t step = 0;
  nlohmann::ordered_json manifest;
  std::string file(const std::string& name) const { return path + "/" + name; }
};

class CheckpointWriter {
 public:
  CheckpointWriter(std::string root, int64_t step);
  ~CheckpointWriter();  // not committed: the partial folder is removed
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Where to write a file of the checkpoint (inside the partial folder).
  std::string file_path(const std::string& name) const;
  void write_json(const std::string& name, const nlohmann::ordered_json& j);
  void set_config(const nlohmann::ordered_json& config) { config_ = config; }
  // Publishes the folder; keeps the newest keep_last checkpoints (0 keeps all).
  CheckpointInfo commit(int keep_last = 0);

 private:
  std::string root_, tmp_, name_;
  int64_t step_;
  nlohmann::ordered_json config_;
  bool committed_ = false;
};

std::string checkpoint_dir_name(int64_t step);
// Validates the manifest (format, version, every listed file present with its size; with verify_checksums also
// every file's SHA-256, which reads the whole folder); throws sgt::Error naming the folder and the file.
CheckpointInfo open_checkpoint(const std::string& dir, bool verify_checksums = false);
// The checkpoint LATEST names, or, if LATEST is missing or broken (or, with verify_checksums, a file of it is
// corrupt), the newest intact one, with a warning for each folder skipped; nullopt if none.
std::optional<CheckpointInfo> latest_checkpoint(const std::string& root, bool verify_checksums = false);
// Every step folder under root (including ones set aside while a step was re-saved), newest step first, whether
// loadable or not: what a fresh start would be about to overwrite.
std::vector<std::string> checkpoint_dirs(const std::string& root);

}  // namespace sgt::io
