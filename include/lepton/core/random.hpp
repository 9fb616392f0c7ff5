#pragma once
/// \file
/// Seeded random numbers with results that do not depend on the standard library.
///
/// `std::mt19937_64`'s sequence is fixed by the standard, but the standard
/// distributions are not, so Lepton draws its uniforms and normals itself: the
/// same seed gives the same weights with any compiler.

#include <bit>
#include <cmath>
#include <cstdint>
#include <locale>
#include <random>
#include <sstream>
#include <string>

#include "error.hpp"

namespace lepton {

/// splitmix64's finaliser: spreads the bits of a seed built from small numbers
/// (a seed, an epoch, a batch, a rank), so that neighbouring ones start unrelated generators.
constexpr std::uint64_t mix_seed(std::uint64_t z) noexcept
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// Lepton's seeded generator (mt19937_64): the same numbers on every compiler.
class random_engine {
public:
    /// A generator seeded with `seed`.
    explicit random_engine(std::uint64_t seed = 42) : engine_(seed) {}

    /// Restarts the sequence from `s`.
    void seed(std::uint64_t s) { engine_.seed(s); has_spare_ = false; }

    /// 64 random bits.
    std::uint64_t bits() { return engine_(); }

    /// Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

    /// Standard normal (Marsaglia's polar method).
    double normal()
    {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2.0 * uniform() - 1.0;
            v = 2.0 * uniform() - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        const double f = std::sqrt(-2.0 * std::log(s) / s);
        spare_ = v * f;
        has_spare_ = true;
        return u * f;
    }

    /// Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n)
    {
        // Rejection keeps the draw unbiased.
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        std::uint64_t r;
        do r = engine_();
        while (r >= limit);
        return r % n;
    }

    /// The full generator state as text (mt19937_64's standard text form, then
    /// the cached normal), for checkpoints: `set_state(state())` continues the sequence exactly.
    std::string state() const
    {
        std::ostringstream out;
        out.imbue(std::locale::classic());
        out << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ' << std::bit_cast<std::uint64_t>(spare_);
        return out.str();
    }

    /// Restores a `state()`; throws `value_error` (leaving the generator as it
    /// was) when `text` is not one.
    void set_state(const std::string& text)
    {
        std::istringstream in(text);
        in.imbue(std::locale::classic());
        std::mt19937_64 engine;
        int has_spare = -1;
        std::uint64_t spare = 0;
        in >> engine >> has_spare >> spare;
        if (!in || (has_spare != 0 && has_spare != 1) || !(in >> std::ws).eof())
            throw value_error("lepton: not a random_engine state");
        engine_ = engine;
        has_spare_ = has_spare == 1;
        spare_ = std::bit_cast<double>(spare);
    }

private:
    std::mt19937_64 engine_;
    double spare_ = 0;
    bool has_spare_ = false;
};

} // namespace lepton
