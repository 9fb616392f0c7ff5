#pragma once
/// \file
/// Vectorised element-wise loops over contiguous arrays.
///
/// The functor is generic: it is called with `simd::batch<T>` for the body and
/// with plain `T` for the tail, so one lambda written with xsimd functions
/// (`xsimd::max`, `xsimd::exp`, `simd::select`, ...) serves both.

#include <cstddef>

#include "../core/compat.hpp"

namespace lepton::kernels {

/// out[i] = f(a[i]) for i < n.
template <class T, class F>
inline void map(std::size_t n, const T* a, T* out, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) f(vec::load_unaligned(a + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = f(a[i]);
}

/// out[i] = f(a[i], b[i]) for i < n.
template <class T, class F>
inline void map(std::size_t n, const T* a, const T* b, T* out, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) f(vec::load_unaligned(a + i), vec::load_unaligned(b + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = f(a[i], b[i]);
}

/// out[i] = f(a[i], b[i], c[i]) for i < n.
template <class T, class F>
inline void map(std::size_t n, const T* a, const T* b, const T* c, T* out, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W)
        f(vec::load_unaligned(a + i), vec::load_unaligned(b + i), vec::load_unaligned(c + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = f(a[i], b[i], c[i]);
}

/// Adds `row` (length cols) to every one of `rows` rows of `m` (row stride cols).
template <class T>
inline void add_row_vector(std::size_t rows, std::size_t cols, const T* row, T* m)
{
    for (std::size_t r = 0; r < rows; ++r) map(cols, m + r * cols, row, m + r * cols, [](auto x, auto b) { return x + b; });
}

/// sums[c] += sum over rows of m[r, c].
template <class T>
inline void accumulate_column_sums(std::size_t rows, std::size_t cols, const T* m, T* sums)
{
    for (std::size_t r = 0; r < rows; ++r)
        map(cols, sums, m + r * cols, sums, [](auto s, auto x) { return s + x; });
}

/// Sum of a[0..n).
template <class T>
inline T sum(std::size_t n, const T* a)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec acc(T(0));
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) acc += vec::load_unaligned(a + i);
    T s = simd::reduce_add(acc);
    for (; i < n; ++i) s += a[i];
    return s;
}

} // namespace lepton::kernels
