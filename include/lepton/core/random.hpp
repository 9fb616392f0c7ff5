#pragma once
/// \file
/// Seeded random numbers with results that do not depend on the standard library.
///
/// `std::mt19937_64`'s sequence is fixed by the standard, but the standard
/// distributions are not, so Lepton draws its uniforms and normals itself: the
/// same seed gives the same weights with any compiler.

#include <cmath>
#include <cstdint>
#include <random>

namespace lepton {

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

private:
    std::mt19937_64 engine_;
    double spare_ = 0;
    bool has_spare_ = false;
};

} // namespace lepton
