#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limited.h"
#include "io/atomic_file.h"

namespace sgt::io {
namespace {

constexpr const char* kC = "safetensors";

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Non-negative integer from JSON or an error naming the field.
uint64_t as_u64(const nlohmann::json& j, const std::string& path, const std::string& what) {
  SGT_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0), kC,
            "{}: {} must be a non-negative integer, got {}", path, what, j.dump());
  return j.get<uint64_t>();
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) { return from_mapping(MappedFile::open(path)); }

SafetensorsFile SafetensorsFile::from_mapping(std::shared_ptr<MappedFile> mapping) {
  SafetensorsFile f;
  f.mapping_ = std::move(mapping);
  const std::string& path = f.mapping_->path();
  const uint64_t size = f.mapping_->size();
  SGT_CHECK(size >= 8, kC, "{}: file has {} bytes, fewer than the 8-byte header length", path, size);
  const uint64_t n = read_le64(f.mapping_->data());
  SGT_CHECK(n <= size - 8, kC, "{}: header length {} runs past the end of the file ({} bytes)", path, n, size);
  SGT_CHECK(n <= kMaxHeaderBytes, kC, "{}: header length {} exceeds the {} byte limit", path, n, kMaxHeaderBytes);
  SGT_CHECK(n >= 2, kC, "{}: header length {} is too small for a JSON object", path, n);
  f.data_offset_ = 8 + n;
  const uint64_t data_size = size - f.data_offset_;

  const char* hdr = reinterpret_cast<const char*>(f.mapping_->data() + 8);
  nlohmann::json header;
  try {
    header = parse_json_limited(std::string_view(hdr, n), path);
  } catch (const nlohmann::json::exception& e) {
    SGT_FAIL(kC, "{}: malformed JSON header: {}", path, e.what());
  }
  SGT_CHECK(header.is_object(), kC, "{}: header is {}, not a JSON object", path, header.type_name());

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      SGT_CHECK(v.is_object(), kC, "{}: __metadata__ must be an object of strings", path);
      for (auto m = v.begin(); m != v.end(); ++m) {
        SGT_CHECK(m.value().is_string(), kC, "{}: __metadata__[{}] is not a string", path, m.key());
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    SGT_CHECK(v.is_object(), kC, "{} is not an object", where);
    for (auto k = v.begin(); k != v.end(); ++k)
      SGT_CHECK(k.key() == "dtype" || k.key() == "shape" || k.key() == "data_offsets", kC, "{} has unknown field '{}'",
                where, k.key());
    SGT_CHECK(v.contains("dtype") && v["dtype"].is_string(), kC, "{} has no dtype string", where);
    const std::string dname = v["dtype"].get<std::string>();
    auto dtype = parse_dtype(dname);
    SGT_CHECK(dtype.has_value(), kC, "{} has unsupported dtype '{}'", where, dname);
    SGT_CHECK(v.contains("shape") && v["shape"].is_array(), kC, "{} has no shape array", where);
    SGT_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2, kC,
              "{} needs data_offsets [begin, end]", where);
    TensorInfo t;
    t.name = name;
    t.dtype = *dtype;
    // numel x itemsize must equal the span; compute with overflow checks (a hostile shape must not wrap around).
    unsigned __int128 bytes = dtype_size(*dtype);
    for (const auto& d : v["shape"]) {
      uint64_t dim = as_u64(d, where, "shape entry");
      SGT_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), kC, "{}: dimension {} too large",
                where, dim);
      t.shape.push_back(static_cast<int64_t>(dim));
      bytes *= dim;
      if (bytes > std::numeric_limits<uint64_t>::max()) bytes = std::numeric_limits<uint64_t>::max();  // saturate
    }
    t.begin = as_u64(v["data_offsets"][0], where, "data_offsets[0]");
    t.end = as_u64(v["data_offsets"][1], where, "data_offsets[1]");
    SGT_CHECK(t.begin <= t.end, kC, "{}: data_offsets [{}, {}] are reversed", where, t.begin, t.end);
    SGT_CHECK(t.end <= data_size, kC, "{}: data_offsets [{}, {}] run past the data region ({} bytes)", where, t.begin,
              t.end, data_size);
    SGT_CHECK(bytes == t.end - t.begin, kC, "{}: shape {} x {} needs {} bytes but data_offsets span {}", where,
              shape_str(t.shape), dname, static_cast<uint64_t>(bytes), t.end - t.begin);
    f.tensors_.push_back(std::move(t));
  }
  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < f.tensors_.size(); ++i) {
    const auto& a = f.tensors_[i - 1];
    const auto& b = f.tensors_[i];
    // Zero-sized tensors occupy no bytes and may share an offset with anything.
    if (a.nbytes() == 0 || b.nbytes() == 0) continue;
    SGT_CHECK(b.begin >= a.end, kC, "{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path, a.name, a.begin, a.end,
              b.name, b.begin, b.end);
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  const TensorInfo* t = find(name);
  SGT_CHECK(t != nullptr, kC, "{}: no tensor named '{}'", path(), name);
  return *t;
}

std::span<const uint8_t> SafetensorsFile::bytes(const TensorInfo& t) const {
  return {mapping_->data() + data_offset_ + t.begin, t.nbytes()};
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& t = *order[i];
    SGT_CHECK(t.name != "__metadata__", kC, "{}: '__metadata__' is reserved", path);
    SGT_CHECK(i == 0 || order[i - 1]->name != t.name, kC, "{}: duplicate tensor name '{}'", path, t.name);
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      SGT_CHECK(d >= 0, kC, "{}: tensor '{}' has negative dimension in {}", path, t.name, shape_str(t.shape));
      numel *= static_cast<uint64_t>(d);
    }
    SGT_CHECK(numel * dtype_size(t.dtype) == t.data.size(), kC, "{}: tensor '{}' shape {} x {} needs {} bytes, got {}",
              path, t.name, shape_str(t.shape), dtype_name(t.dtype), numel * dtype_size(t.dtype), t.data.size());
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  AtomicFile out(path);
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (auto* t : order) out.write(t->data.data(), t->data.size());
  out.commit();
}

}  // namespace sgt::io
