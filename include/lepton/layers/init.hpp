#pragma once
/// \file
/// Weight initialisers with PyTorch's formulas. Each policy fills a weight of
/// `fan_in` inputs and `fan_out` outputs and its bias.

#include <cmath>
#include <cstddef>

#include "../core/random.hpp"

namespace lepton::init {

namespace detail {
template <class T>
inline void fill_uniform(T* p, std::size_t n, double bound, random_engine& rng)
{
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(rng.uniform(-bound, bound));
}
template <class T>
inline void fill_normal(T* p, std::size_t n, double stddev, random_engine& rng)
{
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(stddev * rng.normal());
}
template <class T>
inline void fill_zero(T* p, std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i) p[i] = T(0);
}
} // namespace detail

/// Policies that start every bias at zero (Keras' convention) derive from this.
struct zero_bias {
    /// Sets the bias to zero.
    template <class T>
    static void bias(T* b, std::size_t n, std::size_t, random_engine&) { detail::fill_zero(b, n); }
};

/// What `torch.nn.Linear` / `Conv2d` do by default: kaiming_uniform with a = sqrt(5),
/// i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same bound for the bias.
struct torch_default {
    /// Fills the `n` weights of a layer with `fan_in` inputs and `fan_out` outputs.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t fan_in, std::size_t, random_engine& rng)
    {
        detail::fill_uniform(w, n, 1.0 / std::sqrt(double(fan_in)), rng);
    }
    /// Fills the `n` biases.
    template <class T>
    static void bias(T* b, std::size_t n, std::size_t fan_in, random_engine& rng)
    {
        detail::fill_uniform(b, n, 1.0 / std::sqrt(double(fan_in)), rng);
    }
};

/// He et al. for ReLU networks: U(-sqrt(6 / fan_in), sqrt(6 / fan_in)), zero bias.
struct kaiming_uniform : zero_bias {
    /// Fills the `n` weights of a layer with `fan_in` inputs and `fan_out` outputs.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t fan_in, std::size_t, random_engine& rng)
    {
        detail::fill_uniform(w, n, std::sqrt(6.0 / double(fan_in)), rng);
    }
};

/// He et al.: N(0, 2 / fan_in), zero bias.
struct kaiming_normal : zero_bias {
    /// Fills the `n` weights of a layer with `fan_in` inputs and `fan_out` outputs.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t fan_in, std::size_t, random_engine& rng)
    {
        detail::fill_normal(w, n, std::sqrt(2.0 / double(fan_in)), rng);
    }
};

/// Glorot & Bengio: U(-sqrt(6 / (fan_in + fan_out)), +...), zero bias (Keras' default).
struct glorot_uniform : zero_bias {
    /// Fills the `n` weights of a layer with `fan_in` inputs and `fan_out` outputs.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, random_engine& rng)
    {
        detail::fill_uniform(w, n, std::sqrt(6.0 / double(fan_in + fan_out)), rng);
    }
};

/// Glorot & Bengio: N(0, 2 / (fan_in + fan_out)), zero bias.
struct glorot_normal : zero_bias {
    /// Fills the `n` weights of a layer with `fan_in` inputs and `fan_out` outputs.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, random_engine& rng)
    {
        detail::fill_normal(w, n, std::sqrt(2.0 / double(fan_in + fan_out)), rng);
    }
};

/// N(0, stddev^2) whatever the fans, zero bias: DCGAN's initialisation is `init::normal<0.02>`
/// (PyTorch: `nn.init.normal_(w, 0.0, 0.02)`).
template <double StdDev>
struct normal : zero_bias {
    static_assert(StdDev > 0, "Lepton: init::normal needs a positive standard deviation");
    /// Fills the `n` weights.
    template <class T>
    static void weight(T* w, std::size_t n, std::size_t, std::size_t, random_engine& rng)
    {
        detail::fill_normal(w, n, StdDev, rng);
    }
};

} // namespace lepton::init
