#pragma once
// SHA-256 of files (OpenSSL), for the checkpoint manifest (io/checkpoint.h): the same digests `sha256sum` prints,
// so a user can check a checkpoint folder by hand.
#include <string>

namespace sgt::io {

// Lower-case hex SHA-256 of the file's bytes. Throws sgt::Error (component "checksum") naming the file when it
// cannot be read.
std::string sha256_file(const std::string& path);
// Of a buffer (tests, small files).
std::string sha256_hex(const void* data, size_t n);

}  // namespace sgt::io
