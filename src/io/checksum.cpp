#include "io/checksum.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace sgt::io {
namespace {
constexpr const char* kC = "checksum";

struct Ctx {
  Ctx() : p(EVP_MD_CTX_new()) {
    SGT_CHECK(p && EVP_DigestInit_ex(p, EVP_sha256(), nullptr) == 1, kC, "cannot initialise SHA-256 (OpenSSL)");
  }
  ~Ctx() { EVP_MD_CTX_free(p); }
  void update(const void* d, size_t n) { SGT_CHECK(EVP_DigestUpdate(p, d, n) == 1, kC, "SHA-256 update failed"); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    SGT_CHECK(EVP_DigestFinal_ex(p, md, &len) == 1, kC, "SHA-256 final failed");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }
  EVP_MD_CTX* p;
};
}  // namespace

std::string sha256_hex(const void* data, size_t n) {
  Ctx c;
  c.update(data, n);
  return c.hex();
}

std::string sha256_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SGT_CHECK(fd >= 0, kC, "cannot open {}: {}", path, std::strerror(errno));
  Ctx c;
  std::vector<char> buf(size_t{8} << 20);  // 8 MiB reads: a 29 GB file in ~3600 calls
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      SGT_FAIL(kC, "reading {} failed: {}", path, std::strerror(err));
    }
    if (n == 0) break;
    c.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return c.hex();
}

}  // namespace sgt::io
