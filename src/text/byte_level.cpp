#include "text/byte_level.h"

#include "text/unicode.h"

namespace sgt::text::byte_level {
namespace {

bool printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Maps {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 0x144> to_byte{};
  Maps() {
    to_byte.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = printable(b) ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const Maps& maps() {
  static const Maps m;
  return m;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return maps().to_char[b]; }

int char_to_byte(char32_t c) { return c < maps().to_byte.size() ? maps().to_byte[c] : -1; }

std::optional<std::string> decode(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  for (size_t i = 0; i < token.size();) {
    int len;
    const int b = char_to_byte(decode_utf8(p + i, len));
    if (b < 0) return std::nullopt;
    out.push_back(static_cast<char>(b));
    i += len;
  }
  return out;
}

std::string encode(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, byte_to_char(b));
  return out;
}

}  // namespace sgt::text::byte_level
