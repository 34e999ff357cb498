// llava_parquet rows as samples (docs/data.md, "Sources"): a LLaVA-OneVision-style parquet file -- as the Hugging
// Face datasets library writes it: "id", "conversations" (a list of {"from", "value"}, or that list as a JSON
// string) and "image" (an Image feature {"bytes", "path"}, raw bytes, or null for text-only rows) or "images" (a list
// of them) -- becomes the shard form of a LLaVA record (data/llava.h, decode_llava_wds): a "json" member holding
// the record, whose "image" entries name the image members beside it.
#include <fmt/format.h>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "data/parquet.h"
#include "data/sources.h"

namespace sgt::data {

namespace {

// The bytes of one image cell: a binary value or an HF Image struct {"bytes": binary, "path": ...}; null: none.
const nlohmann::json::binary_t* image_bytes(const nlohmann::json& cell, const std::string& where) {
  if (cell.is_null()) return nullptr;
  if (cell.is_binary()) return &cell.get_binary();
  SGT_BAD_SAMPLE(cell.is_object() && cell.contains("bytes"), BadSampleReason::kBadJson, "data.parquet",
                 "{}: an image cell is neither bytes nor an Image struct with \"bytes\": {}", where,
                 cell.dump().substr(0, 120));
  const auto& b = cell.at("bytes");
  if (b.is_null()) return nullptr;
  SGT_BAD_SAMPLE(b.is_binary(), BadSampleReason::kBadJson, "data.parquet", "{}: image \"bytes\" is not binary",
                 where);
  return &b.get_binary();
}

std::string image_ext(std::span<const uint8_t> bytes, const std::string& where) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg: return "jpg";
    case ImageFormat::kPng: return "png";
    default: break;
  }
  throw BadSampleError(BadSampleReason::kCorruptImage, "data.parquet",
                       fmt::format("{}: image bytes ({} bytes) are neither JPEG nor PNG", where, bytes.size()));
}

}  // namespace

WdsSample parquet_row_sample(const nlohmann::json& row, const std::string& url, const std::string& key) {
  const std::string where = fmt::format("{} {}", url, key);
  WdsSample s;
  s.url = url;
  s.key = key;
  nlohmann::json rec = nlohmann::json::object();
  if (row.contains("id") && !row["id"].is_null()) rec["id"] = row["id"].is_string() ? row["id"] : nlohmann::json(row["id"].dump());
  SGT_BAD_SAMPLE(row.contains("conversations"), BadSampleReason::kMissingField, "data.parquet",
                 "{}: no \"conversations\" column", where);
  nlohmann::json conv = row["conversations"];
  if (conv.is_string()) {
    try {
      conv = nlohmann::json::parse(conv.get<std::string>());
    } catch (const std::exception& e) {
      throw BadSampleError(BadSampleReason::kBadJson, "data.parquet",
                           fmt::format("{}: \"conversations\" is a string but not JSON: {}", where, e.what()));
    }
  }
  rec["conversations"] = std::move(conv);
  std::vector<const nlohmann::json::binary_t*> images;
  if (row.contains("image")) images.push_back(image_bytes(row["image"], where));
  if (row.contains("images") && row["images"].is_array())
    for (const auto& cell : row["images"]) images.push_back(image_bytes(cell, where));
  nlohmann::json names = nlohmann::json::array();
  for (const auto* b : images) {
    if (b == nullptr) continue;
    // "image.<i>.<ext>": decode_llava_wds takes the part after the first dot as the member name.
    const std::string member = fmt::format("{}.{}", names.size(), image_ext(*b, where));
    names.push_back("image." + member);
    s.fields[member] = std::vector<uint8_t>(b->begin(), b->end());
  }
  if (!names.empty()) rec["image"] = names.size() == 1 ? names[0] : names;
  const std::string text = rec.dump();
  s.fields["json"] = std::vector<uint8_t>(text.begin(), text.end());
  return s;
}

std::vector<WdsSample> read_parquet_rows(const std::string& path, int64_t first, int64_t count) {
  std::vector<WdsSample> out;
  int64_t index = first;
  for_each_parquet_row(
      path, {},
      [&](const nlohmann::json& row, const std::string&) {
        WdsSample s;
        s.url = path;
        s.key = fmt::format("row {}", index++);
        s.fields["row.cbor"] = nlohmann::json::to_cbor(row);  // CBOR keeps the binary image cells as bytes
        out.push_back(std::move(s));
      },
      first, count);
  return out;
}

}  // namespace sgt::data
