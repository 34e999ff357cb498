#pragma once
// Seeded random numbers with explicit state (no global RNG): xoshiro256** seeded through splitmix64.
// The state is four words, so loaders and trainers can store it in checkpoints and resume exactly.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sgt {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;
  explicit Rng(uint64_t seed = 0);
  // A child generator for a named stream (e.g. rank, worker, image id), independent of this one's position.
  static Rng derive(uint64_t seed, uint64_t stream);

  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n), unbiased (rejection sampling). n > 0.
  uint64_t below(uint64_t n);
  // Uniform integer in [lo, hi] inclusive.
  int64_t range(int64_t lo, int64_t hi);
  // Standard normal (Box-Muller, no cached second value so that the state alone defines the stream).
  double normal();

  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

  // std::UniformRandomBitGenerator interface.
  using result_type = uint64_t;
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }
  uint64_t operator()() { return next_u64(); }

  const State& state() const { return s_; }
  void set_state(const State& s);
  std::string state_string() const;             // "hex,hex,hex,hex"
  static State parse_state(const std::string&);  // throws sgt::Error on malformed text

 private:
  State s_{};
};

uint64_t splitmix64(uint64_t& x);
// Stable 64-bit hash of a string (FNV-1a), for seeding per-key streams.
uint64_t hash64(const std::string& s);

}  // namespace sgt
