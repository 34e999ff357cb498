#pragma once
// SA-1B readers: per-image JSON (segment-anything README; docs/data.md, "SA-1B") with COCO RLE masks,
// jpg + json pairs from tar shards or an extracted folder, and the SGT reference layout (a list of
// .../sam_selection/sa_X.jpg whose targets are .../sam_mask/sa_X.png; docs/data.md, "SAM-SGT samples").
// Errors on a sample are BadSampleError (data/bad_sample.h).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/bad_sample.h"
#include "core/enum_names.h"
#include "data/image.h"
#include "data/rle.h"
#include "data/webdataset.h"

namespace sgt::data {

struct SaImageInfo {
  int64_t image_id = 0, width = 0, height = 0;
  std::string file_name;
};

struct SaAnnotation {
  int64_t id = 0;
  Rle segmentation;               // size [height, width] == image size (checked)
  std::array<double, 4> bbox{};   // XYWH
  int64_t area = 0;
  double predicted_iou = 0, stability_score = 0;
  std::array<double, 4> crop_box{};
  std::vector<std::array<double, 2>> point_coords;
};

struct SaRecord {
  SaImageInfo image;
  std::vector<SaAnnotation> annotations;
};

// Default bound on the annotations of one image. SA-1B averages ~100 masks per image (1.1B masks over 11M
// images) and its densest images hold a few hundred; COCO images hold at most a few hundred instances (crowd
// regions included). 10^4 is far above both, yet bounds the work per sample (RLE decoding, painting, colour
// drawing all grow with the mask count) against a hostile or broken annotation file.
inline constexpr int64_t kDefaultMaxMasks = 10000;

// Parses one SA-1B JSON document. Throws BadSampleError (kBadJson, kBadRle, kSizeMismatch) naming `name`, and
// kTooLarge when it holds more than max_masks annotations (checked before any mask is decoded).
SaRecord parse_sa1b_json(std::string_view json, const std::string& name, int64_t max_masks = kDefaultMaxMasks);

// The image's full size (header only, so a DCT-scaled decode does not matter) against the JSON's image
// width/height: BadSampleError kSizeMismatch naming `name` and both sizes. Without it a transposed or replaced
// image would be stretched onto the masks. Every decoder of jpg + SA-1B json calls it.
void check_sa1b_image_size(std::span<const uint8_t> image, const SaRecord& rec, const std::string& name);

// Raw (undecoded) SA-1B sample: decoding happens in the loader's worker threads.
struct Sa1bRaw {
  std::string key;     // "sa_1" (directories and "./" stripped for the folder form; webdataset key for shards)
  std::string source;  // shard path or folder, for messages
  std::vector<uint8_t> jpg, json;
};

struct Sa1bSample {
  std::string key;
  Image image;  // RGB; smaller than image.width/height of `record` when decoded with DCT scaling
  SaRecord record;
};

// Decodes the jpg (RGB, DCT-scaled when min_side_hint allows) and parses the json; checks that the full-size
// JPEG dimensions equal the JSON's width/height and every RLE size. max_masks as in parse_sa1b_json.
Sa1bSample decode_sa1b(const Sa1bRaw& raw, int64_t min_side_hint = 0, int64_t max_masks = kDefaultMaxMasks);

// Streams jpg+json pairs from tar shards (webdataset grouping) or from an extracted folder (sa_*.jpg with
// sa_*.json beside, sorted by name). A jpg without json (or the reverse) is a BadSampleError(kMissingField);
// a truncated shard is BadSampleError(kTruncatedTar), after which the reader moves on to the next shard.
class Sa1bSource {
 public:
  static Sa1bSource from_shards(std::vector<std::string> shards);
  static Sa1bSource from_folder(const std::string& folder);
  Sa1bSource(Sa1bSource&&) noexcept;
  Sa1bSource& operator=(Sa1bSource&&) noexcept;
  ~Sa1bSource();
  bool next(Sa1bRaw& raw);

 private:
  Sa1bSource();
  std::unique_ptr<WdsReader> wds_;
  std::vector<std::string> files_;  // folder form: sorted jpg paths
  size_t pos_ = 0;
  std::string folder_;
};

// SGT reference layout (BAGEL data/sam_190k.py).
struct SgtPair {
  std::string image_path, mask_path;
};
// mask path = image path with every "sam_selection" replaced by "sam_mask" and every "jpg" by "png", as the
// reference's str.replace calls do.
std::string sgt_mask_path(const std::string& image_path);
// Reads the index (one image path per line, blank lines skipped); the first `limit` lines (all if <= 0).
// Relative paths are resolved against `root` when it is not empty.
std::vector<SgtPair> read_sgt_index(const std::string& list_file, const std::string& root = "", int64_t limit = 0);

// A mask whose size differs from its image's: refused (kSizeMismatch), or resized bicubic (the reference's PIL
// default; blends colours at edges) or nearest.
enum class MaskResize { kReject, kBicubic, kNearest };
constexpr auto enum_names(MaskResize) {
  return std::array{EnumName{MaskResize::kNearest, "nearest"}, EnumName{MaskResize::kBicubic, "bicubic"},
                    EnumName{MaskResize::kReject, "reject"}};
}
struct SgtSample {
  Image image, mask;  // both RGB, same size
};
// Loads the pair as RGB. A missing mask is kMissingField; a size mismatch is kSizeMismatch with kReject,
// otherwise the mask is resized to the image size (kBicubic = the reference's PIL default for RGB).
SgtSample load_sgt_pair(const SgtPair& pair, MaskResize resize = MaskResize::kBicubic);

}  // namespace sgt::data
