// Hostile inputs (issue 26): output names from input data stay inside the output folder, the atomic writer never
// renames over a FIFO / device / folder / socket, and an image header claiming a huge size is refused before any
// allocation. Every hostile file is built here.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/json_limited.h"
#include "data/bad_sample.h"
#include "data/image.h"
#include "io/atomic_file.h"
#include "io/safe_path.h"
#include "io/safetensors.h"
#include "testing/testing.h"

namespace fs = std::filesystem;
using sgt::Error;

namespace {

// Every entry under root (files, folders, links), relative to root: compared before / after a hostile write.
std::set<std::string> list_tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) out.insert(e.path().lexically_relative(root).string());  // relative() would follow links
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The sgt::Error thrown by fn (fails the test when none is), to compare component and message exactly.
template <class Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no sgt::Error thrown";
  return Error("none", "");
}

// A PNG holding only the signature and an IHDR chunk (correct CRC) claiming width x height RGBA8: 33 bytes that a
// decoder without a size limit would answer with a width*height*4 allocation.
std::vector<uint8_t> png_header_only(uint32_t width, uint32_t height) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  b.insert(b.end(), {8, 6, 0, 0, 0});  // bit depth 8, colour type 6 (RGBA), deflate, adaptive filter, no interlace
  const uint32_t crc = static_cast<uint32_t>(::crc32(0, b.data() + 12, 17));  // over "IHDR" + 13 data bytes
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(crc >> s));
  return b;
}

// Restores an environment variable when the test ends, so that a failing assertion cannot leak the knob.
struct ScopedEnv {
  explicit ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  const char* name_;
};

}  // namespace

TEST(HostileSafePath, RejectsEscapingNamesWithExactErrors) {
  const std::string d = "/out";
  auto msg = [&](const std::string& rel) { return error_of([&] { sgt::io::path_inside(d, rel, "shard a.tar"); }); };
  const Error abs = msg("/abs/path/evil.jpg");
  EXPECT_EQ(abs.component(), "safe-path");
  EXPECT_EQ(abs.detail(), "shard a.tar: name '/abs/path/evil.jpg' is an absolute path; it must stay inside /out");
  EXPECT_EQ(msg("../../../../tmp/x/evil.jpg").detail(),
            "shard a.tar: name '../../../../tmp/x/evil.jpg' has a '..' component; it must stay inside /out");
  EXPECT_EQ(msg("a/../../evil.jpg").detail(),
            "shard a.tar: name 'a/../../evil.jpg' has a '..' component; it must stay inside /out");
  EXPECT_EQ(msg("a/..").detail(), "shard a.tar: name 'a/..' has a '..' component; it must stay inside /out");
  EXPECT_EQ(msg("").detail(), "shard a.tar: empty name for a file inside /out");
  EXPECT_EQ(msg(std::string("ev\0il.jpg", 9)).detail(),
            "shard a.tar: name 'ev\\0il.jpg' holds a NUL byte (output folder /out)");
  EXPECT_EQ(msg("a//b.jpg").detail(), "shard a.tar: name 'a//b.jpg' has an empty or '.' component (output folder /out)");
  EXPECT_EQ(msg("./b.jpg").detail(), "shard a.tar: name './b.jpg' has an empty or '.' component (output folder /out)");
  // Names that merely contain dots, and sub-folders, are fine.
  EXPECT_EQ(sgt::io::path_inside(d, "sam_selection/sa_1.jpg", "x"), "/out/sam_selection/sa_1.jpg");
  EXPECT_EQ(sgt::io::path_inside(d, "..a/b..c.jpg", "x"), "/out/..a/b..c.jpg");
  EXPECT_EQ(sgt::io::path_inside("/out/", "k.txt", "x"), "/out/k.txt");
}

TEST(HostileSafePath, WritesStayInsideTheOutputFolder) {
  sgt::testing::TempDir scratch("hostile-path");
  const std::string out = scratch.file("out");
  fs::create_directories(out);
  fs::create_directories(scratch.file("tmp/x"));
  const std::set<std::string> before = list_tree(scratch.path());
  // Relative names resolve against out; "/<scratch>/evil.jpg" would be an absolute write into the scratch folder.
  const std::vector<std::string> evil = {scratch.file("evil.jpg"), "../evil.jpg", "../tmp/x/evil.jpg",
                                         "sub/../../evil.jpg"};
  for (const std::string& key : evil) {
    EXPECT_THROW(
        {
          const std::string p = sgt::io::prepare_path_inside(out, key, "test");
          sgt::io::atomic_write_text(p, "evil");
        },
        Error)
        << key;
  }
  EXPECT_EQ(list_tree(scratch.path()), before);  // nothing written, not even a folder
  // A key with folders gets them, inside out.
  sgt::io::atomic_write_text(sgt::io::prepare_path_inside(out, "sam_selection/sa_1.jpg", "test"), "ok");
  EXPECT_EQ(read_all(out + "/sam_selection/sa_1.jpg"), "ok");
  std::set<std::string> expected = before;
  expected.insert({"out/sam_selection", "out/sam_selection/sa_1.jpg"});
  EXPECT_EQ(list_tree(scratch.path()), expected);
}

TEST(HostileAtomicFile, WritesThroughASymlinkAndKeepsIt) {
  sgt::testing::TempDir dir("hostile-link");
  sgt::io::atomic_write_text(dir.file("real.txt"), "old");
  fs::create_symlink("real.txt", dir.file("link.txt"));
  sgt::io::atomic_write_text(dir.file("link.txt"), "new");
  EXPECT_TRUE(fs::is_symlink(dir.file("link.txt")));
  EXPECT_EQ(fs::read_symlink(dir.file("link.txt")), "real.txt");
  EXPECT_EQ(read_all(dir.file("real.txt")), "new");
  // A dangling link creates its target; the link still stands.
  fs::create_symlink("later.txt", dir.file("dangling.txt"));
  sgt::io::atomic_write_text(dir.file("dangling.txt"), "made");
  EXPECT_TRUE(fs::is_symlink(dir.file("dangling.txt")));
  EXPECT_EQ(read_all(dir.file("later.txt")), "made");
  EXPECT_EQ(list_tree(dir.path()), (std::set<std::string>{"real.txt", "link.txt", "dangling.txt", "later.txt"}));
}

TEST(HostileAtomicFile, StreamsIntoAFifoAndADevice) {
  sgt::testing::TempDir dir("hostile-fifo");
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read_all(fifo); });  // opening a FIFO for writing waits for a reader
  sgt::io::atomic_write_text(fifo, "through the pipe\n");
  reader.join();
  EXPECT_EQ(got, "through the pipe\n");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));  // not replaced by a regular file
  EXPECT_EQ(list_tree(dir.path()), (std::set<std::string>{"pipe"}));  // no temporary file left beside it
  sgt::io::atomic_write_text("/dev/null", "discarded");
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(HostileAtomicFile, RefusesAFolderAndASocket) {
  sgt::testing::TempDir dir("hostile-special");
  fs::create_directories(dir.file("folder/inner"));
  const Error e = error_of([&] { sgt::io::atomic_write_text(dir.file("folder"), "x"); });
  EXPECT_EQ(e.component(), "atomic-file");
  EXPECT_EQ(e.detail(), "refusing to replace " + dir.file("folder") + ": it is a folder, not a regular file");
  EXPECT_TRUE(fs::is_directory(dir.file("folder/inner")));

  const std::string sock = dir.file("s");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof(addr.sun_path)) << "scratch path too long for a unix socket";
  std::copy(sock.begin(), sock.end(), addr.sun_path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const Error s = error_of([&] { sgt::io::atomic_write_text(sock, "x"); });
  ::close(fd);
  EXPECT_EQ(s.component(), "atomic-file");
  EXPECT_EQ(s.detail(), "refusing to replace " + sock + ": it is a socket, not a regular file");
  EXPECT_TRUE(fs::is_socket(sock));
  EXPECT_EQ(list_tree(dir.path()), (std::set<std::string>{"folder", "folder/inner", "s"}));
}

TEST(HostileImage, HugeClaimedSizeIsRefusedBeforeAllocation) {
  ::unsetenv("SGT_MAX_IMAGE_PIXELS");
  const auto bomb = png_header_only(65535, 65535);  // 17 GB of RGBA if decoded
  const std::string want =
      "bomb.png: image header claims 65535x65535 = 4294836225 pixels, above the limit of 89478485 pixels "
      "(SGT_MAX_IMAGE_PIXELS; 0 = no limit)";
  const Error d = error_of([&] { sgt::data::decode_image(bomb, "bomb.png"); });
  EXPECT_EQ(d.component(), "image");
  EXPECT_EQ(d.detail(), want);
  EXPECT_EQ(error_of([&] { sgt::data::probe_image(bomb, "bomb.png"); }).detail(), want);
  try {
    sgt::data::decode_image(bomb, "bomb.png");
  } catch (const std::exception& e) {
    // A loader skips it as a corrupt image instead of stopping the run.
    EXPECT_EQ(sgt::data::classify_bad_sample(e), sgt::data::BadSampleReason::kCorruptImage);
  }
  // read_image names the file on disk.
  sgt::testing::TempDir dir("hostile-image");
  {
    std::ofstream f(dir.file("bomb.png"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(bomb.data()), static_cast<std::streamsize>(bomb.size()));
  }
  const Error r = error_of([&] { sgt::data::read_image(dir.file("bomb.png")); });
  EXPECT_EQ(r.detail(), dir.file("bomb.png") + ": image header claims 65535x65535 = 4294836225 pixels, above the "
                                                "limit of 89478485 pixels (SGT_MAX_IMAGE_PIXELS; 0 = no limit)");
}

TEST(HostileImage, LimitFollowsTheEnvironmentKnob) {
  sgt::data::Image img(4, 4, 3, 7);
  const auto png = sgt::data::encode_png(img);
  const auto jpg = sgt::data::encode_jpeg(img, 90);
  {
    ScopedEnv env("SGT_MAX_IMAGE_PIXELS", "15");
    EXPECT_EQ(error_of([&] { sgt::data::decode_image(png, "small.png"); }).detail(),
              "small.png: image header claims 4x4 = 16 pixels, above the limit of 15 pixels (SGT_MAX_IMAGE_PIXELS; "
              "0 = no limit)");
    EXPECT_EQ(error_of([&] { sgt::data::decode_image(jpg, "small.jpg"); }).detail(),
              "small.jpg: image header claims 4x4 = 16 pixels, above the limit of 15 pixels (SGT_MAX_IMAGE_PIXELS; "
              "0 = no limit)");
  }
  for (const char* v : {"16", "0"}) {  // at the limit, and no limit
    ScopedEnv env("SGT_MAX_IMAGE_PIXELS", v);
    EXPECT_EQ(sgt::data::decode_image(png, "small.png").pixels, img.pixels) << v;
    EXPECT_EQ(sgt::data::decode_image(jpg, "small.jpg").width, 4) << v;
  }
  ScopedEnv bad("SGT_MAX_IMAGE_PIXELS", "-1");
  const Error e = error_of([&] { sgt::data::decode_image(png, "small.png"); });
  EXPECT_EQ(e.component(), "env");
  EXPECT_EQ(e.detail(), "SGT_MAX_IMAGE_PIXELS=-1 is negative (0 = no limit)");
}

TEST(HostileImage, ZeroSizeIsAnError) {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{0, 16}, {16, 0}}) {
    const auto png = png_header_only(w, h);
    const Error e = error_of([&] { sgt::data::decode_image(png, "empty.png"); });
    EXPECT_EQ(e.component(), "image");
    // libspng already refuses a zero IHDR dimension as corrupt; either way the file is named.
    EXPECT_EQ(e.detail().rfind("empty.png: ", 0), 0u) << e.detail();
    EXPECT_THROW(sgt::data::probe_image(png, "empty.png"), sgt::data::BadSampleError);
  }
}

namespace {
std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
}  // namespace

TEST(HostileJson, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string deep = nested(100000);  // 10^5 levels, 200 kB
  const Error e = error_of([&] { sgt::parse_json_limited(deep, "deep.json"); });
  EXPECT_EQ(e.component(), "json");
  EXPECT_EQ(e.detail(), "deep.json: JSON nested deeper than 512 levels (at byte 512)");
  // Objects count as levels too.
  std::string objects;
  for (int i = 0; i < 600; ++i) objects += "{\"a\":";
  objects += "1" + std::string(600, '}');
  EXPECT_EQ(error_of([&] { sgt::parse_json_limited(objects, "o.json"); }).detail(),
            "o.json: JSON nested deeper than 512 levels (at byte 2560)");
  // At the limit it parses; brackets inside strings (escaped quotes included) are not levels.
  EXPECT_TRUE(sgt::parse_json_limited(nested(512), "ok.json").is_array());
  const std::string in_string = "[\"\\\"" + std::string(1000, '[') + "\"]";
  EXPECT_EQ(sgt::parse_json_limited(in_string, "s.json")[0].get<std::string>(), "\"" + std::string(1000, '['));
}

TEST(HostileJson, EveryFileReaderRefusesDeepNesting) {
  sgt::testing::TempDir dir("hostile-json");
  const std::string deep = nested(100000);
  write_file(dir.file("config.json"), deep);
  const Error c = error_of([&] { sgt::config::load_json_file(dir.file("config.json")); });
  EXPECT_EQ(c.detail(), dir.file("config.json") + ": JSON nested deeper than 512 levels (at byte 512)");

  // A safetensors file whose header (u64 little-endian length + JSON) is the nested array.
  std::string st(8, '\0');
  for (int b = 0; b < 8; ++b) st[b] = static_cast<char>((deep.size() >> (8 * b)) & 0xFF);
  write_file(dir.file("deep.safetensors"), st + deep);
  const Error s = error_of([&] { sgt::io::SafetensorsFile::open(dir.file("deep.safetensors")); });
  EXPECT_EQ(s.component(), "json");
  EXPECT_EQ(s.detail(), dir.file("deep.safetensors") + ": JSON nested deeper than 512 levels (at byte 512)");
  // SA-1B annotations: tests/data/test_sa1b.cpp (Sa1b.DeeplyNestedJsonIsABadSample), which links the data layer.
}
