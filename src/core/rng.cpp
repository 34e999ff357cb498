#include "core/rng.h"

#include <cmath>

#include "core/error.h"

namespace sgt {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

Rng Rng::derive(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
  return Rng(splitmix64(x));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

uint64_t Rng::below(uint64_t n) {
  SGT_CHECK(n > 0, "rng", "below(0)");
  const uint64_t limit = max() - max() % n;  // values >= limit would bias the result
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

int64_t Rng::range(int64_t lo, int64_t hi) {
  SGT_CHECK(lo <= hi, "rng", "range({}, {}) is empty", lo, hi);
  return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
}

double Rng::normal() {
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void Rng::set_state(const State& s) {
  SGT_CHECK(s[0] | s[1] | s[2] | s[3], "rng", "all-zero state is invalid for xoshiro256**");
  s_ = s;
}

std::string Rng::state_string() const { return fmt::format("{:016x},{:016x},{:016x},{:016x}", s_[0], s_[1], s_[2], s_[3]); }

Rng::State Rng::parse_state(const std::string& text) {
  State s{};
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    size_t end = text.find(',', pos);
    if (i == 3) end = text.size();
    SGT_CHECK(end != std::string::npos && end > pos && end - pos <= 16, "rng", "malformed state '{}'", text);
    uint64_t v = 0;
    for (size_t k = pos; k < end; ++k) {
      const char c = text[k];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      SGT_CHECK(d >= 0, "rng", "malformed state '{}'", text);
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    s[i] = v;
    pos = end + 1;
  }
  return s;
}

}  // namespace sgt
