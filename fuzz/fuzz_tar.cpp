// libFuzzer target for the tar reader (data/tar.h, libarchive: plain and compressed tar) and the webdataset
// grouping on top of it (data/webdataset.h WdsReader). Both read shards by path, so each input is written to one
// file per process (in /dev/shm when there is one, a tmpfs, else $TMPDIR or /tmp), read with TarReader, then
// grouped by a WdsReader over two copies of the shard (continuing after errors as the API allows). Every error
// must be a BadSampleError (kTruncatedTar from the tar layer; kOther for a duplicate extension); reading must end
// (a bounded number of next() calls), samples must come from the shard with at least one member and lower-cased
// extensions when asked. Crashes, sanitizer reports, other exception types, endless loops and broken invariants
// (__builtin_trap) are findings.
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "data/bad_sample.h"
#include "data/tar.h"
#include "data/webdataset.h"

namespace {

using namespace sgt::data;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string& shard_path() {
  static const std::string path = [] {
    std::string dir = "/dev/shm";
    if (access(dir.c_str(), W_OK) != 0) {
      const char* t = std::getenv("TMPDIR");
      dir = t && *t ? t : "/tmp";
    }
    return dir + "/sgt-fuzz-tar-" + std::to_string(getpid()) + ".tar";
  }();
  return path;
}

void write_shard(const uint8_t* data, size_t size) {
  FILE* f = std::fopen(shard_path().c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_shard(data, size);
  const std::string& path = shard_path();
  int64_t members = 0;
  try {
    TarReader r(path);
    TarEntry e;
    while (r.next(e)) {
      ++members;
      check(members <= 1'000'000);
    }
  } catch (const BadSampleError& e) {
    // too_large: a header claiming more than the 4 GiB a member may hold (data/tar.cpp), refused before reading.
    check(e.reason() == BadSampleReason::kTruncatedTar || e.reason() == BadSampleReason::kTooLarge);
  }
  const bool lower = (size & 1) != 0;
  WdsReader w({path, path}, lower);
  WdsSample s;
  int64_t samples = 0, errors = 0;
  for (int calls = 0;; ++calls) {
    check(calls < 10'000);  // two shards of at most a few hundred members each: next() must get to the end
    try {
      if (!w.next(s)) break;
      ++samples;
      check(!s.key.empty() && s.url == path && !s.fields.empty());
      for (const auto& [ext, bytes] : s.fields) {
        (void)bytes;
        if (lower)
          for (unsigned char c : ext) check(!(c >= 'A' && c <= 'Z'));
      }
    } catch (const BadSampleError& e) {
      // split_sample: a key whose members are not adjacent (data/webdataset.h), a broken shard like a truncated one.
      check(e.reason() == BadSampleReason::kTruncatedTar || e.reason() == BadSampleReason::kOther ||
            e.reason() == BadSampleReason::kSplitSample || e.reason() == BadSampleReason::kTooLarge);
      ++errors;
    }
  }
  // Every sample holds at least one member of one of the two copies.
  check(samples <= 2 * members + 2);
  std::remove(path.c_str());  // after every input: libFuzzer's exit skips static destructors, so none is left behind
  return 0;
}
