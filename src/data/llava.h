#pragma once
// LLaVA-style VQA records (BAGEL vlm_sft JSONL): {"id", "image": str | [str], "conversations":
// [{"from": "human"|"gpt", "value": "<image>\n..."}, ...]}. Images come from a folder or from webdataset
// shards whose samples hold a "json" record plus image members.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/bad_sample.h"
#include "data/image.h"
#include "data/webdataset.h"

namespace sgt::data {

inline constexpr std::string_view kImagePlaceholder = "<image>";

struct LlavaTurn {
  std::string from;   // "human" or "gpt" (also "user"/"assistant" accepted and kept as given)
  std::string value;
  bool is_user() const { return from == "human" || from == "user"; }
};

struct LlavaRecord {
  std::string id;
  std::vector<std::string> images;  // relative paths (folder form) or member extensions (shard form)
  std::vector<LlavaTurn> turns;
  // Number of "<image>" placeholders over all turns.
  int64_t placeholder_count() const;
};

// Parses one JSON object. Throws BadSampleError: kBadJson (syntax, missing or mistyped fields), kBadText
// (no turns, placeholders != images, first turn not from the user).
LlavaRecord parse_llava_record(std::string_view json, const std::string& where);

// Streams a JSONL file line by line (blank lines skipped); errors name the file and line number.
class LlavaJsonlReader {
 public:
  explicit LlavaJsonlReader(const std::string& path);
  ~LlavaJsonlReader();
  bool next(LlavaRecord& rec);  // may throw BadSampleError for a bad line; the next call continues after it
  int64_t line() const { return line_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t line_ = 0;
};

// One element of a conversation in BAGEL's SFT order (BAGEL data/vlm_dataset.py,
// SftJSONLIterableDataset.change_format): a "human"/"user" turn without "<image>" is one text piece as given; with
// placeholders it is split at them, each piece stripped of surrounding whitespace and kept when non-empty, and the
// k-th placeholder of the turn becomes an image when k < num_images; a "gpt"/"assistant" turn is one text piece with
// loss (CE) as given; turns from other roles are left out. Images are numbered in order of appearance.
struct ConversationPiece {
  bool is_image = false;
  std::string text;        // text pieces
  bool loss = false;       // assistant text
  int64_t image = -1;      // image pieces: index into the record's images
};
std::vector<ConversationPiece> conversation_pieces(const LlavaRecord& rec, int64_t num_images);

struct LlavaSample {
  LlavaRecord record;
  std::vector<Image> images;  // RGB, in record.images order
};

// Folder form: images at root/<path>. Missing file -> kMissingField, corrupt -> kCorruptImage.
LlavaSample load_llava_images(LlavaRecord rec, const std::string& image_root, int64_t min_side_hint = 0);
// Shard form: the sample's "json" member is the record; its "image" entries name members of the same sample
// (an extension such as "jpg", or a file name whose extension after the first dot is taken).
LlavaSample decode_llava_wds(const WdsSample& s, int64_t min_side_hint = 0);

}  // namespace sgt::data
