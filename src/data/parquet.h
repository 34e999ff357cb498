#pragma once
// Parquet tables read row by row as JSON objects, for the benchmarks and datasets published as parquet (CV-Bench's
// test_2d.parquet / test_3d.parquet, Hugging Face image datasets). Apache Arrow / Parquet C++ comes from the pyarrow
// wheel in .venv (cmake/SgtDeps.cmake), the way libtorch comes from the torch wheel; this header keeps Arrow out of
// its users.
//
// Arrow -> JSON: integers, floats, booleans, strings and nulls map to their JSON kinds; lists to arrays, structs and
// maps to objects, dictionary-encoded columns to their values. Binary columns become JSON binary values
// (nlohmann::json::binary_t, raw bytes, no base64), so an HF Image column reads as {"bytes": <binary>, "path": ...}.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sgt::data {

struct ParquetInfo {
  int64_t rows = 0;
  int row_groups = 0;
  std::vector<std::string> columns;  // top-level column names, in file order
};
ParquetInfo parquet_info(const std::string& path);

// Calls fn(row, where) for every row in file order; `where` is "PATH row N". `columns` selects top-level columns
// by name (empty: all); a name the file lacks is an error listing the columns it has. One row group is decoded at a
// time. Errors (not a parquet file, truncated, unsupported column type) are sgt::Error naming the file.
using ParquetRowFn = std::function<void(const nlohmann::json& row, const std::string& where)>;
// first / count (count < 0: to the end) select rows [first, first + count); row groups wholly outside are skipped
// without decoding.
void for_each_parquet_row(const std::string& path, const std::vector<std::string>& columns, const ParquetRowFn& fn,
                          int64_t first = 0, int64_t count = -1);

// True when the file starts and ends with Parquet's magic "PAR1" (cheap format sniffing for readers that accept
// JSONL or parquet).
bool looks_like_parquet(const std::string& path);

}  // namespace sgt::data
