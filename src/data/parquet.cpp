#include "data/parquet.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

#include <fstream>
#include <limits>

#include "core/error.h"

namespace sgt::data {
namespace {

constexpr const char* kC = "parquet";

template <class T>
T unwrap(arrow::Result<T> r, const std::string& path, const char* what) {
  SGT_CHECK(r.ok(), kC, "{}: {}: {}", path, what, r.status().ToString());
  return std::move(r).ValueUnsafe();
}

void check(const arrow::Status& s, const std::string& path, const char* what) {
  SGT_CHECK(s.ok(), kC, "{}: {}: {}", path, what, s.ToString());
}

// One element of an Arrow array as JSON (recursive over nested types; depth is the schema's, not the data's).
nlohmann::json to_json(const arrow::Array& a, int64_t i, const std::string& where);

template <class ListArray>
nlohmann::json list_to_json(const ListArray& l, int64_t i, const std::string& where) {
  nlohmann::json out = nlohmann::json::array();
  const auto values = l.values();
  for (int64_t k = l.value_offset(i); k < l.value_offset(i) + l.value_length(i); ++k)
    out.push_back(to_json(*values, k, where));
  return out;
}

template <class BinaryLike>
nlohmann::json bytes_to_json(const BinaryLike& b, int64_t i) {
  const std::string_view v = b.GetView(i);
  return nlohmann::json::binary(std::vector<uint8_t>(v.begin(), v.end()));
}

nlohmann::json to_json(const arrow::Array& a, int64_t i, const std::string& where) {
  if (a.IsNull(i)) return nullptr;
  using arrow::Type;
  switch (a.type_id()) {
    case Type::NA: return nullptr;
    case Type::BOOL: return static_cast<const arrow::BooleanArray&>(a).Value(i);
    case Type::INT8: return static_cast<const arrow::Int8Array&>(a).Value(i);
    case Type::INT16: return static_cast<const arrow::Int16Array&>(a).Value(i);
    case Type::INT32: return static_cast<const arrow::Int32Array&>(a).Value(i);
    case Type::INT64: return static_cast<const arrow::Int64Array&>(a).Value(i);
    case Type::UINT8: return static_cast<const arrow::UInt8Array&>(a).Value(i);
    case Type::UINT16: return static_cast<const arrow::UInt16Array&>(a).Value(i);
    case Type::UINT32: return static_cast<const arrow::UInt32Array&>(a).Value(i);
    case Type::UINT64: return static_cast<const arrow::UInt64Array&>(a).Value(i);
    case Type::FLOAT: return static_cast<const arrow::FloatArray&>(a).Value(i);
    case Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(a).Value(i);
    case Type::STRING: return std::string(static_cast<const arrow::StringArray&>(a).GetView(i));
    case Type::LARGE_STRING: return std::string(static_cast<const arrow::LargeStringArray&>(a).GetView(i));
    case Type::STRING_VIEW: return std::string(static_cast<const arrow::StringViewArray&>(a).GetView(i));
    case Type::BINARY: return bytes_to_json(static_cast<const arrow::BinaryArray&>(a), i);
    case Type::LARGE_BINARY: return bytes_to_json(static_cast<const arrow::LargeBinaryArray&>(a), i);
    case Type::BINARY_VIEW: return bytes_to_json(static_cast<const arrow::BinaryViewArray&>(a), i);
    case Type::FIXED_SIZE_BINARY: return bytes_to_json(static_cast<const arrow::FixedSizeBinaryArray&>(a), i);
    case Type::LIST: return list_to_json(static_cast<const arrow::ListArray&>(a), i, where);
    case Type::LARGE_LIST: return list_to_json(static_cast<const arrow::LargeListArray&>(a), i, where);
    case Type::FIXED_SIZE_LIST: return list_to_json(static_cast<const arrow::FixedSizeListArray&>(a), i, where);
    case Type::MAP: {
      const auto& m = static_cast<const arrow::MapArray&>(a);
      nlohmann::json out = nlohmann::json::object();
      for (int64_t k = m.value_offset(i); k < m.value_offset(i) + m.value_length(i); ++k) {
        const nlohmann::json key = to_json(*m.keys(), k, where);
        out[key.is_string() ? key.get<std::string>() : key.dump()] = to_json(*m.items(), k, where);
      }
      return out;
    }
    case Type::STRUCT: {
      const auto& s = static_cast<const arrow::StructArray&>(a);
      nlohmann::json out = nlohmann::json::object();
      // field(k) applies the struct's own offset to the child (a sliced struct array).
      for (int k = 0; k < s.num_fields(); ++k) out[s.struct_type()->field(k)->name()] = to_json(*s.field(k), i, where);
      return out;
    }
    case Type::DICTIONARY: {
      const auto& d = static_cast<const arrow::DictionaryArray&>(a);
      return to_json(*d.dictionary(), d.GetValueIndex(i), where);
    }
    default:
      SGT_FAIL(kC, "{}: column type {} is not supported", where, a.type()->ToString());
  }
}

std::unique_ptr<parquet::arrow::FileReader> open_reader(const std::string& path) {
  SGT_CHECK(looks_like_parquet(path), kC, "{} is not a parquet file (no PAR1 magic at its start and end)", path);
  auto file = unwrap(arrow::io::ReadableFile::Open(path), path, "cannot open");
  try {
    return unwrap(parquet::arrow::OpenFile(file, arrow::default_memory_pool()), path, "cannot read the footer");
  } catch (const parquet::ParquetException& e) {  // thrown (not returned) for some corrupt footers
    SGT_FAIL(kC, "{}: cannot read the footer: {}", path, e.what());
  }
}

}  // namespace

bool looks_like_parquet(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return false;
  const auto size = static_cast<int64_t>(f.tellg());
  if (size < 12) return false;
  char head[4], tail[4];
  f.seekg(0);
  f.read(head, 4);
  f.seekg(size - 4);
  f.read(tail, 4);
  return f.good() && std::string_view(head, 4) == "PAR1" && std::string_view(tail, 4) == "PAR1";
}

ParquetInfo parquet_info(const std::string& path) {
  const auto reader = open_reader(path);
  std::shared_ptr<arrow::Schema> schema;
  check(reader->GetSchema(&schema), path, "cannot read the schema");
  ParquetInfo info;
  info.rows = reader->parquet_reader()->metadata()->num_rows();
  info.row_groups = reader->num_row_groups();
  for (const auto& f : schema->fields()) info.columns.push_back(f->name());
  return info;
}

void for_each_parquet_row(const std::string& path, const std::vector<std::string>& columns, const ParquetRowFn& fn,
                          int64_t first, int64_t count) {
  const auto reader = open_reader(path);
  std::shared_ptr<arrow::Schema> schema;
  check(reader->GetSchema(&schema), path, "cannot read the schema");
  std::vector<std::string> names = columns;
  if (names.empty())
    for (const auto& f : schema->fields()) names.push_back(f->name());
  for (const auto& n : names) {
    if (schema->GetFieldIndex(n) >= 0) continue;
    std::string have;
    for (const auto& f : schema->fields()) have += (have.empty() ? "" : ", ") + f->name();
    SGT_FAIL(kC, "{} has no column '{}' (columns: {})", path, n, have);
  }
  SGT_CHECK(first >= 0, kC, "{}: first row {} must be >= 0", path, first);
  const int64_t end = count < 0 ? std::numeric_limits<int64_t>::max() : first + count;
  const auto meta = reader->parquet_reader()->metadata();
  int64_t row = 0;
  for (int g = 0; g < reader->num_row_groups() && row < end; ++g) {
    const int64_t group_rows = meta->RowGroup(g)->num_rows();
    if (row + group_rows <= first) {  // wholly before the range: not decoded
      row += group_rows;
      continue;
    }
    std::shared_ptr<arrow::Table> table;
    try {
      table = unwrap(reader->ReadRowGroup(g), path, "cannot read a row group");
    } catch (const parquet::ParquetException& e) {
      SGT_FAIL(kC, "{}: row group {}: {}", path, g, e.what());
    }
    if (table->num_rows() == 0) continue;
    table = unwrap(table->CombineChunks(), path, "cannot combine chunks");
    std::vector<std::shared_ptr<arrow::Array>> cols;
    for (const auto& n : names) cols.push_back(table->GetColumnByName(n)->chunk(0));
    for (int64_t i = 0; i < table->num_rows() && row < end; ++i, ++row) {
      if (row < first) continue;
      const std::string where = path + " row " + std::to_string(row);
      nlohmann::json j = nlohmann::json::object();
      for (size_t c = 0; c < names.size(); ++c) j[names[c]] = to_json(*cols[c], i, where);
      fn(j, where);
    }
  }
}

}  // namespace sgt::data
