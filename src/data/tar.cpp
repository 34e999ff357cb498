// Tar shards through libarchive. The writer streams into an io::AtomicFile, so a shard appears complete or not
// at all; the reader reports libarchive's own diagnosis ("Truncated tar archive", "Damaged tar archive", gzip
// errors) with the shard path and the member being read.
#include "data/tar.h"

#include <algorithm>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "data/bad_sample.h"
#include "io/atomic_file.h"

namespace sgt::data {
namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
std::string archive_msg(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unknown libarchive error";
}
}  // namespace

struct TarReader::Impl {
  archive* a = nullptr;
  std::string last_name;
  ~Impl() {
    if (a) archive_read_free(a);
  }
};

TarReader::TarReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->a = archive_read_new();
  SGT_CHECK(impl_->a, "tar", "archive_read_new failed for {}", path);
  archive_read_support_filter_all(impl_->a);
  archive_read_support_format_tar(impl_->a);
  if (archive_read_open_filename(impl_->a, path.c_str(), 1 << 20) != ARCHIVE_OK)
    throw BadSampleError(BadSampleReason::kTruncatedTar, "tar",
                         fmt::format("cannot open shard {}: {}", path, archive_msg(impl_->a)));
}

TarReader::~TarReader() = default;

bool TarReader::next(TarEntry& e) {
  archive* a = impl_->a;
  auto fail = [&](const std::string& what) {
    throw BadSampleError(
        BadSampleReason::kTruncatedTar, "tar",
        fmt::format("shard {}: {} {}: {}", path_, what,
                    impl_->last_name.empty() ? std::string("at the first member") : "after member " + impl_->last_name,
                    archive_msg(a)));
  };
  for (;;) {
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) return false;
    if (rc < ARCHIVE_WARN) fail("corrupt header");
    const char* name = archive_entry_pathname(entry);
    e.name = name ? name : "";
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // data of skipped entries is skipped by libarchive
    e.data.clear();
    // The header's size is a claim: a 512-byte header may say 8 EB. A member above kMaxMemberBytes is refused
    // before reading, and the reservation is capped so a lie costs at most 64 MiB until the bytes arrive.
    constexpr int64_t kMaxMemberBytes = int64_t{4} << 30, kMaxReserve = int64_t{64} << 20;
    if (archive_entry_size_is_set(entry)) {
      const int64_t claimed = archive_entry_size(entry);
      if (claimed < 0 || claimed > kMaxMemberBytes)
        throw BadSampleError(BadSampleReason::kTooLarge, "tar",
                             fmt::format("shard {}: member {} claims {} bytes, above the {} byte limit of one member",
                                         path_, e.name, claimed, kMaxMemberBytes));
      e.data.reserve(static_cast<size_t>(std::min(claimed, kMaxReserve)));
    }
    uint8_t buf[1 << 16];
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (n == ARCHIVE_WARN) continue;
        throw BadSampleError(BadSampleReason::kTruncatedTar, "tar",
                             fmt::format("shard {}: member {} is truncated or corrupt ({} of {} bytes read): {}",
                                         path_, e.name, e.data.size(), archive_entry_size(entry), archive_msg(a)));
      }
      e.data.insert(e.data.end(), buf, buf + n);
    }
    if (archive_entry_size_is_set(entry) && static_cast<int64_t>(e.data.size()) != archive_entry_size(entry))
      throw BadSampleError(BadSampleReason::kTruncatedTar, "tar",
                           fmt::format("shard {}: member {} is truncated ({} of {} bytes)", path_, e.name,
                                       e.data.size(), archive_entry_size(entry)));
    impl_->last_name = e.name;
    return true;
  }
}

struct TarWriter::Impl {
  archive* a = nullptr;
  std::unique_ptr<io::AtomicFile> file;
  archive_entry* entry = nullptr;
  bool closed = false;
  ~Impl() {
    if (entry) archive_entry_free(entry);
    if (a) archive_write_free(a);  // not closed: the AtomicFile destructor discards the temporary file
  }
  static la_ssize_t write_cb(archive*, void* self, const void* buf, size_t n) {
    static_cast<Impl*>(self)->file->write(buf, n);
    return static_cast<la_ssize_t>(n);
  }
};

TarWriter::TarWriter(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->file = std::make_unique<io::AtomicFile>(path);
  impl_->a = archive_write_new();
  SGT_CHECK(impl_->a, "tar", "archive_write_new failed for {}", path);
  archive_write_set_format_pax_restricted(impl_->a);  // ustar unless a name or size needs a pax header
  if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz")) archive_write_add_filter_gzip(impl_->a);
  SGT_CHECK(archive_write_open2(impl_->a, impl_.get(), nullptr, &Impl::write_cb, nullptr, nullptr) == ARCHIVE_OK,
            "tar", "cannot open {} for writing: {}", path, archive_msg(impl_->a));
  impl_->entry = archive_entry_new();
}

TarWriter::~TarWriter() = default;

void TarWriter::add(const std::string& name, std::span<const uint8_t> data) {
  SGT_CHECK(!impl_->closed, "tar", "add({}) after close() of {}", name, path_);
  SGT_CHECK(!name.empty(), "tar", "empty member name in {}", path_);
  archive_entry* e = impl_->entry;
  archive_entry_clear(e);
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, 0, 0);  // fixed, so that the same samples give byte-identical shards
  SGT_CHECK(archive_write_header(impl_->a, e) == ARCHIVE_OK, "tar", "{}: cannot write header of {}: {}", path_, name,
            archive_msg(impl_->a));
  if (!data.empty())
    SGT_CHECK(archive_write_data(impl_->a, data.data(), data.size()) == static_cast<la_ssize_t>(data.size()), "tar",
              "{}: cannot write data of {}: {}", path_, name, archive_msg(impl_->a));
}

void TarWriter::add(const std::string& name, const std::string& text) {
  add(name, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void TarWriter::close() {
  if (impl_->closed) return;
  SGT_CHECK(archive_write_close(impl_->a) == ARCHIVE_OK, "tar", "cannot finish {}: {}", path_,
            archive_msg(impl_->a));
  impl_->closed = true;
  impl_->file->commit();
}

}  // namespace sgt::data
