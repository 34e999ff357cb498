// Source units (data/sources.h): indexing record lists and streaming their slices as WdsSamples.
#include "data/sources.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/parquet.h"

namespace sgt::data {
namespace fs = std::filesystem;

namespace {

constexpr size_t kChunk = 1 << 20;

std::ifstream open_or_throw(const std::string& path, const char* what) {
  SGT_CHECK(fs::is_regular_file(path), "data.sources", "{} {} does not exist or is not a file", what, path);
  std::ifstream f(path, std::ios::binary);
  SGT_CHECK(f, "data.sources", "cannot open {} {}", what, path);
  return f;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

RecordSpan make_span(const std::string& path, uint64_t begin, uint64_t end, uint32_t line) {
  SGT_CHECK(end - begin <= std::numeric_limits<uint32_t>::max(), "data.sources",
            "{}: a record at byte {} is {} bytes, above the 4 GiB limit", path, begin, end - begin);
  return {begin, static_cast<uint32_t>(end - begin), line};
}

std::string lower_ext(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

}  // namespace

std::vector<RecordSpan> index_json_array(const std::string& path) {
  std::ifstream f = open_or_throw(path, "JSON array");
  std::vector<RecordSpan> out;
  std::vector<char> buf(kChunk);
  bool opened = false, closed = false, in_string = false, escape = false, in_elem = false;
  int64_t depth = 0;
  uint64_t pos = 0, elem_begin = 0, elem_end = 0;
  uint32_t line = 1, elem_line = 1;
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(f.gcount());
    for (size_t i = 0; i < n; ++i, ++pos) {
      const char c = buf[i];
      if (c == '\n') ++line;
      if (in_string) {
        if (escape) escape = false;
        else if (c == '\\') escape = true;
        else if (c == '"') in_string = false;
        elem_end = pos + 1;
        continue;
      }
      if (is_space(c)) continue;
      if (closed) SGT_FAIL("data.sources", "{}: text after the array's closing ']' at byte {}", path, pos);
      if (!opened) {
        // A UTF-8 byte order mark is not JSON; neither is an object or a JSONL file.
        SGT_CHECK(c == '[', "data.sources",
                  "{} is not a JSON array (first character '{}' at byte {}); a JSONL file is format llava_jsonl", path,
                  c, pos);
        opened = true;
        depth = 1;
        continue;
      }
      if (depth == 1 && (c == ',' || c == ']')) {
        if (in_elem) out.push_back(make_span(path, elem_begin, elem_end, elem_line));
        else SGT_CHECK(c == ']' && out.empty(), "data.sources", "{}: empty element {} at byte {}", path, out.size(), pos);
        in_elem = false;
        if (c == ']') closed = true;
        continue;
      }
      if (depth == 1 && !in_elem) {
        in_elem = true;
        elem_begin = pos;
        elem_line = line;
      }
      if (c == '"') in_string = true;
      else if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') --depth;
      elem_end = pos + 1;
    }
  }
  SGT_CHECK(opened, "data.sources", "{} is empty, not a JSON array", path);
  SGT_CHECK(closed, "data.sources",
            "{} is truncated: it ends at byte {} inside element {} (line {}) before the array's closing ']'", path,
            pos, out.size(), in_elem ? elem_line : line);
  return out;
}

std::vector<RecordSpan> index_lines(const std::string& path) {
  std::ifstream f = open_or_throw(path, "list file");
  std::vector<RecordSpan> out;
  std::string s;
  uint64_t pos = 0;
  uint32_t line = 0;
  while (std::getline(f, s)) {
    ++line;
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b])) ++b;
    while (e > b && is_space(s[e - 1])) --e;
    if (e > b) out.push_back(make_span(path, pos + b, pos + e, line));
    pos += s.size() + 1;
  }
  return out;
}

namespace {

class WdsUnitStream : public UnitStream {
 public:
  explicit WdsUnitStream(std::vector<std::string> shards) : r_(std::move(shards)) {}
  bool next(WdsSample& s) override { return r_.next(s); }
  void skip_unit() override { r_.skip_shard(); }
  std::string current_unit() const override { return r_.current_shard(); }

 private:
  WdsReader r_;
};

// Image shards read in lockstep with their mask shards (SourceUnits::build, pair_shards).
class PairedWdsUnitStream : public UnitStream {
 public:
  PairedWdsUnitStream(std::vector<std::string> shards, std::unordered_map<std::string, std::string> pair)
      : r_(std::move(shards)), pair_(std::move(pair)) {}
  bool next(WdsSample& s) override {
    if (!r_.next(s)) return false;
    if (s.url != mask_for_) {
      mask_for_ = s.url;
      masks_ = std::make_unique<WdsReader>(std::vector<std::string>{pair_.at(s.url)});
    }
    WdsSample m;
    const bool got = masks_->next(m);
    SGT_BAD_SAMPLE(got && m.key == s.key, BadSampleReason::kMissingField, "data.sources",
                   "mask shard {} {} where shard {} has sample {}: the pair is out of step, skipping the rest of it",
                   pair_.at(s.url), got ? "has sample " + m.key : std::string("ended"), s.url, s.key);
    auto png = m.fields.find("mask.png");
    if (png == m.fields.end()) png = m.fields.find("png");
    SGT_BAD_SAMPLE(png != m.fields.end(), BadSampleReason::kMissingField, "data.sources",
                   "mask shard {}: sample {} has no png member", pair_.at(s.url), m.key);
    s.fields["mask.png"] = std::move(png->second);
    return true;
  }
  void skip_unit() override {
    r_.skip_shard();
    masks_.reset();
    mask_for_.clear();
  }
  std::string current_unit() const override { return r_.current_shard(); }

 private:
  WdsReader r_;
  std::unordered_map<std::string, std::string> pair_;
  std::string mask_for_;
  std::unique_ptr<WdsReader> masks_;
};

// Streams list slices; the file of the current slice stays open.
class ListUnitStream : public UnitStream {
 public:
  ListUnitStream(const SourceUnits* src, std::vector<int64_t> units, const std::vector<SourceUnits::Slice>* slices,
                 const std::vector<SourceUnits::File>* files)
      : src_(src), units_(std::move(units)), slices_(slices), files_(files) {}

  bool next(WdsSample& s) override {
    for (;;) {
      if (u_ >= units_.size()) return false;
      const auto& sl = (*slices_)[units_[u_]];
      if (k_ >= sl.count) {
        ++u_;
        k_ = 0;
        continue;
      }
      const auto& file = (*files_)[sl.file];
      if (src_->format() == SourceFormat::kLlavaParquet) {
        // The unit's rows are decoded from their row group(s) once, then handed out one by one.
        if (k_ == 0) rows_ = read_parquet_rows(file.path, sl.first, sl.count);
        SGT_CHECK(rows_.size() == static_cast<size_t>(sl.count), "data.sources",
                  "{}: rows {}-{} gave {} rows (the file changed since it was indexed?)", file.path, sl.first,
                  sl.first + sl.count - 1, rows_.size());
        s = std::move(rows_[k_++]);
        return true;
      }
      const int64_t r = sl.first + k_++;
      s = WdsSample{};
      s.url = file.path;
      switch (src_->format()) {
        case SourceFormat::kSa1bFolder: {
          s.key = file.stems[r];
          const std::string p = file.path + "/" + file.stems[r] + ".jpg";
          s.fields["path"] = std::vector<uint8_t>(p.begin(), p.end());
          return true;
        }
        default: break;
      }
      const RecordSpan& span = file.records[r];
      std::vector<uint8_t> bytes = read_span(file.path, span);
      if (src_->format() == SourceFormat::kSgtList) {
        const std::string p(bytes.begin(), bytes.end());
        s.key = fs::path(p).stem().string();
        s.fields["path"] = std::move(bytes);
      } else {
        s.key = src_->format() == SourceFormat::kLlavaJson ? fmt::format("record {}", r)
                                                           : fmt::format("line {}", span.line);
        s.fields["json"] = std::move(bytes);
      }
      return true;
    }
  }
  void skip_unit() override {
    ++u_;
    k_ = 0;
  }
  std::string current_unit() const override {
    return u_ < units_.size() ? src_->units()[units_[u_]] : std::string("<end>");
  }

 private:
  std::vector<WdsSample> rows_;  // llava_parquet: the current unit's rows
  std::vector<uint8_t> read_span(const std::string& path, const RecordSpan& span) {
    if (open_path_ != path) {
      f_ = std::ifstream(path, std::ios::binary);
      SGT_CHECK(f_, "data.sources", "cannot reopen {}", path);
      open_path_ = path;
    }
    std::vector<uint8_t> out(span.length);
    f_.seekg(static_cast<std::streamoff>(span.offset));
    f_.read(reinterpret_cast<char*>(out.data()), span.length);
    SGT_CHECK(f_ && f_.gcount() == static_cast<std::streamsize>(span.length), "data.sources",
              "{}: cannot read {} bytes at offset {} (the file changed since it was indexed?)", path, span.length,
              span.offset);
    return out;
  }

  const SourceUnits* src_;
  std::vector<int64_t> units_;
  const std::vector<SourceUnits::Slice>* slices_;
  const std::vector<SourceUnits::File>* files_;
  size_t u_ = 0;
  int64_t k_ = 0;
  std::string open_path_;
  std::ifstream f_;
};

std::vector<std::string> sa1b_stems(const std::string& folder) {
  SGT_CHECK(fs::is_directory(folder), "data.sources", "SA-1B folder {} does not exist or is not a folder", folder);
  std::vector<std::string> stems;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && lower_ext(e.path().string()) == ".jpg") stems.push_back(e.path().stem().string());
  std::sort(stems.begin(), stems.end());
  return stems;
}

}  // namespace

std::shared_ptr<const SourceUnits> SourceUnits::build(SourceFormat format, const std::vector<std::string>& paths,
                                                      int64_t records_per_unit,
                                                      const std::vector<std::string>& pair_shards) {
  SGT_CHECK(!paths.empty(), "data.sources", "no shards / files given");
  SGT_CHECK(records_per_unit >= 1, "data.sources", "records_per_unit {} must be >= 1", records_per_unit);
  auto out = std::shared_ptr<SourceUnits>(new SourceUnits());
  out->format_ = format;
  SGT_CHECK(pair_shards.empty() || format == SourceFormat::kWebdataset, "data.sources",
            "mask shards are for webdataset sources, not {}", name_of(format));
  if (format == SourceFormat::kWebdataset) {
    out->names_ = expand_shard_list(paths);
    if (!pair_shards.empty()) {
      out->pairs_ = expand_shard_list(pair_shards);
      SGT_CHECK(out->pairs_.size() == out->names_.size(), "data.sources",
                "{} mask shards for {} shards: each shard needs its mask shard, in the same order",
                out->pairs_.size(), out->names_.size());
    }
    for (const auto& p : out->names_) {
      const std::string e = lower_ext(p);
      SGT_CHECK(e != ".json" && e != ".jsonl" && e != ".txt", "data.sources",
                "{} is a {} file, not a tar shard: set the source's format (llava_json, llava_jsonl or sgt_list)", p, e);
    }
    return out;
  }
  out->num_records_ = 0;
  for (const auto& path : paths) {
    File file;
    file.path = path;
    int64_t n = 0;
    switch (format) {
      case SourceFormat::kSa1bFolder:
        file.stems = sa1b_stems(path);
        n = static_cast<int64_t>(file.stems.size());
        break;
      case SourceFormat::kLlavaJson: file.records = index_json_array(path); break;
      case SourceFormat::kLlavaParquet:
        SGT_CHECK(std::filesystem::is_regular_file(path), "data.sources", "parquet file {} does not exist", path);
        n = parquet_info(path).rows;
        break;
      default: file.records = index_lines(path); break;
    }
    if (format != SourceFormat::kSa1bFolder && format != SourceFormat::kLlavaParquet)
      n = static_cast<int64_t>(file.records.size());
    SGT_CHECK(n > 0, "data.sources", "{} holds no records ({})", path, name_of(format));
    const auto fi = static_cast<int64_t>(out->files_.size());
    for (int64_t first = 0; first < n; first += records_per_unit) {
      const int64_t count = std::min(records_per_unit, n - first);
      out->slices_.push_back({fi, first, count});
      out->names_.push_back(fmt::format("{}#{}-{}", path, first, first + count - 1));
    }
    out->num_records_ += n;
    out->files_.push_back(std::move(file));
  }
  return out;
}

std::unique_ptr<UnitStream> SourceUnits::open(std::vector<std::string> units) const {
  if (format_ == SourceFormat::kWebdataset && !pairs_.empty()) {
    std::unordered_map<std::string, std::string> pair;
    for (size_t i = 0; i < names_.size(); ++i) pair.emplace(names_[i], pairs_[i]);
    return std::make_unique<PairedWdsUnitStream>(std::move(units), std::move(pair));
  }
  if (format_ == SourceFormat::kWebdataset) return std::make_unique<WdsUnitStream>(std::move(units));
  std::unordered_map<std::string, int64_t> index;
  for (size_t i = 0; i < names_.size(); ++i) index.emplace(names_[i], static_cast<int64_t>(i));
  std::vector<int64_t> ids;
  for (const auto& u : units) {
    auto it = index.find(u);
    SGT_CHECK(it != index.end(), "data.sources", "unknown unit {}", u);
    ids.push_back(it->second);
  }
  return std::make_unique<ListUnitStream>(this, std::move(ids), &slices_, &files_);
}

}  // namespace sgt::data
