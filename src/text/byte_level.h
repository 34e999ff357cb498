#pragma once
// GPT-2's byte <-> character map (the "ByteLevel" pre-tokenizer and decoder): printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100..U+0143 in byte order. Vocabulary and merge strings are written in
// these characters; the tokenizer works on raw bytes and converts only when it loads and when it prints tokens.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sgt::text::byte_level {

// Character that stands for byte b.
char32_t byte_to_char(uint8_t b);
// Byte a character stands for, or -1 when it stands for none.
int char_to_byte(char32_t c);
// The raw bytes a vocabulary string stands for, or nullopt when one of its characters is outside the map.
std::optional<std::string> decode(std::string_view token);
// The vocabulary string of raw bytes.
std::string encode(std::string_view bytes);

}  // namespace sgt::text::byte_level
