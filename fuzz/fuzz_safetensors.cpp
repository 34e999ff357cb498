// libFuzzer target for the safetensors reader: any byte string must either parse into tensors whose spans lie
// inside the buffer, or raise sgt::Error. Crashes, sanitizer reports and other exception types are findings.
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto mapping = sgt::io::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    auto file = sgt::io::SafetensorsFile::from_mapping(mapping);
    uint64_t sum = 0;
    for (const auto& t : file.tensors()) {
      auto bytes = file.bytes(t);  // touching every byte lets ASan catch a span outside the buffer
      for (uint8_t b : bytes) sum += b;
      if (t.numel() * static_cast<int64_t>(sgt::io::dtype_size(t.dtype)) != static_cast<int64_t>(t.nbytes())) __builtin_trap();
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const sgt::Error&) {
  }
  return 0;
}
