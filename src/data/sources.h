#pragma once
// Training source formats (docs/data.md, "Sources"): what the loader's unit of work is for each layout.
//
// The loader (data/loader.h) orders, shards and resumes *units*: a tar shard for webdataset sources, or a slice of
// `records_per_unit` consecutive records of a record list (a file list's lines, a JSON array's elements, a JSONL
// file's lines, an extracted SA-1B folder's images). Every unit yields data::WdsSample values, so order, splitting
// over ranks / workers, shuffle and exact resume are the same code for every format. List samples carry what the
// decoder needs to read the files itself, on the decode threads:
//   sgt_list      key = image stem, "path" = the image path as listed (SGT's sam_selection/sa_X.jpg lines)
//   sa1b_folder   key = image stem, "path" = <folder>/sa_X.jpg (its .json beside it)
//   llava_json    key = "record N" (0-based element of the array), "json" = the element's bytes
//   llava_jsonl   key = "line N" (1-based), "json" = the line; BAGEL's vlm_sft JSONL is this format
//   llava_parquet key = "row N" (0-based), "row.cbor" = the row (CBOR keeps binary image cells); the decoder turns
//                 it into the shard form of a LLaVA record (parquet_row_sample). A unit's rows are read together.
// url is the list file (or folder), so a bad sample's message reads "<file>:record 12: ...".
//
// Indexing keeps only (offset, length) per record (16 bytes; ~10 MiB for LLaVA's 665k records), never a DOM of the
// whole file: a JSON array is scanned once for its top-level element boundaries.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "data/webdataset.h"

namespace sgt::data {

enum class SourceFormat { kWebdataset, kSgtList, kSa1bFolder, kLlavaJson, kLlavaJsonl, kLlavaParquet };
constexpr auto enum_names(SourceFormat) {
  using F = SourceFormat;
  return std::array{EnumName{F::kWebdataset, "webdataset"}, EnumName{F::kSgtList, "sgt_list"},
                    EnumName{F::kSa1bFolder, "sa1b_folder"}, EnumName{F::kLlavaJson, "llava_json"},
                    EnumName{F::kLlavaJsonl, "llava_jsonl"}, EnumName{F::kLlavaParquet, "llava_parquet"}};
}

// Default records per unit of a list source: small enough that 8 ranks x 4 workers split a 190k-line list evenly,
// large enough that the unit table stays tiny.
inline constexpr int64_t kDefaultRecordsPerUnit = 1000;

// Byte range of one record inside its file.
struct RecordSpan {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t line = 0;  // 1-based line where the record starts (messages)
};

// Top-level elements of a JSON array file, without parsing them. Throws sgt::Error naming the file when it is not
// an array ("[" first), when it ends inside an element or before its closing "]" (truncated: the message names the
// element index and byte offset), or when an element exceeds 4 GiB.
std::vector<RecordSpan> index_json_array(const std::string& path);
// Non-blank lines (JSONL records, file-list lines; trailing "\r" and blanks trimmed).
std::vector<RecordSpan> index_lines(const std::string& path);

// llava_parquet (data/parquet_source.cpp): rows [first, first + count) of a parquet file as samples carrying the
// row; and a row -> the shard form of a LLaVA record ("json" + image members "0.jpg", ...): columns "id",
// "conversations" (a list of {"from", "value"} or that list as a JSON string) and "image" (an HF Image struct
// {"bytes", "path"}, raw bytes or null) and/or "images" (a list of them). Bad cells throw BadSampleError naming
// url and key.
std::vector<WdsSample> read_parquet_rows(const std::string& path, int64_t first, int64_t count);
WdsSample parquet_row_sample(const nlohmann::json& row, const std::string& url, const std::string& key);

// Streams the samples of a list of units (one consumer's share of an epoch).
class UnitStream {
 public:
  virtual ~UnitStream() = default;
  // false at the end; throws for a unit that cannot be read (the caller counts it and calls skip_unit()).
  virtual bool next(WdsSample& s) = 0;
  virtual void skip_unit() = 0;
  virtual std::string current_unit() const = 0;
};

// The units of one source. Built once per loader (the indexing pass); shared read-only by its streams.
class SourceUnits {
 public:
  // `paths`: webdataset shard patterns (brace-expanded), list files (sgt_list, llava_json, llava_jsonl) or folders
  // (sa1b_folder). Throws sgt::Error naming the path when a list file or folder is missing or malformed, or when a
  // webdataset source is given a .json / .jsonl / .txt file (a LLaVA array sent to the SA-1B tar reader).
  // `pair_shards` (webdataset only): one mask shard per shard, in the same order after expansion, holding the same
  // keys in the same order; its samples' "png" (or "mask.png") member becomes the sample's "mask.png" (SAM-SGT's
  // masks kept in their own tars). A key that differs, or a mask shard that ends early, makes the rest of that shard
  // bad (one BadSampleError(kMissingField) naming both shards and keys; the loader skips to the next shard).
  static std::shared_ptr<const SourceUnits> build(SourceFormat format, const std::vector<std::string>& paths,
                                                  int64_t records_per_unit = kDefaultRecordsPerUnit,
                                                  const std::vector<std::string>& pair_shards = {});
  SourceFormat format() const { return format_; }
  const std::vector<std::string>& units() const { return names_; }  // shard paths or "<file>#<first>-<last>"
  int64_t num_records() const { return num_records_; }  // list formats: records over all units; webdataset: -1
  std::unique_ptr<UnitStream> open(std::vector<std::string> units) const;

  struct Slice {
    int64_t file = 0;
    int64_t first = 0, count = 0;  // records [first, first + count) of that file
  };
  struct File {
    std::string path;
    std::vector<RecordSpan> records;     // list files
    std::vector<std::string> stems;      // sa1b_folder: sorted image stems
  };

 private:
  SourceFormat format_ = SourceFormat::kWebdataset;
  std::vector<std::string> names_;
  std::vector<Slice> slices_;  // by unit index (list formats)
  std::vector<File> files_;
  int64_t num_records_ = -1;
  std::vector<std::string> pairs_;  // webdataset with pair_shards: the mask shard of unit i
};

}  // namespace sgt::data
