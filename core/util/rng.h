#pragma once
/// A small, fast, portable random generator (SplitMix64): the same seed gives the same numbers on
/// every machine and standard library (std::shuffle and std::normal_distribution do not promise).

#include <cmath>
#include <cstdint>

namespace wh {

class Rng {
public:
    explicit Rng(uint64_t seed) : m_state(seed) {}
    uint64_t next() {
        uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, bound).
    uint64_t below(uint64_t bound) { return next() % bound; }
    /// Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    /// Standard normal (Box-Muller).
    double normal() {
        const double u1 = 1.0 - uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    uint64_t m_state;
};

}  // namespace wh
