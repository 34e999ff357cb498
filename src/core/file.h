#pragma once
// Whole-file reading, shared by the JSON configs (core/config.h) and every layer above (io::read_text_file is
// this function).
#include <string>

namespace sgt {

// The file's bytes as a string. Throws sgt::Error ("[file] cannot open PATH: reason") when the file cannot be
// opened or read, or is a folder.
std::string read_text_file(const std::string& path);

}  // namespace sgt
