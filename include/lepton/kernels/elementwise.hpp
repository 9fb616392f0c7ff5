#pragma once
/// \file
/// Vectorised element-wise loops over contiguous arrays.
///
/// The functor is called with `simd::batch<T>`, also for the tail, which goes
/// through a zero-filled vector: an element's result never depends on where it
/// sits in the array (a scalar tail would round transcendental functions
/// differently, so a sample's output would change with the batch size).
/// Write the lambda generically with xsimd functions (`xsimd::max`,
/// `xsimd::exp`, `simd::select`, ...).

#include <algorithm>
#include <cstddef>
#include <utility>

#include "../core/compat.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// The last `n` (< width) elements of `a` in a vector, the rest zero (a masked load where the CPU has one).
template <class T>
LEPTON_ALWAYS_INLINE simd::batch<T> load_tail(const T* a, std::size_t n)
{
    return simd::load_first(a, n);
}

/// Stores the first `n` (< width) lanes of `v`.
template <class T>
LEPTON_ALWAYS_INLINE void store_tail(const simd::batch<T>& v, T* out, std::size_t n)
{
    simd::store_first(v, out, n);
}

/// out[i] = f(a[i]) for i < n.
template <class T, class F>
inline void map(std::size_t n, const T* a, T* out, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) f(vec::load_unaligned(a + i)).store_unaligned(out + i);
    if (i < n) store_tail(f(load_tail(a + i, n - i)), out + i, n - i);
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
    if (i < n) store_tail(f(load_tail(a + i, n - i), load_tail(b + i, n - i)), out + i, n - i);
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
    if (i < n)
        store_tail(f(load_tail(a + i, n - i), load_tail(b + i, n - i),
                             load_tail(c + i, n - i)),
                           out + i, n - i);
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
    if (i < n) acc += load_tail(a + i, n - i);
    return simd::reduce_add(acc);
}

/// Sum over i < n of f(a[i]) (`f` takes vectors; the tail's lanes past n are dropped after `f`, which sees zeros there).
template <class T, class F>
inline T sum_of(std::size_t n, const T* a, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec acc(T(0));
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) acc += f(vec::load_unaligned(a + i));
    if (i < n) acc += simd::keep_first(f(load_tail(a + i, n - i)), n - i);
    return simd::reduce_add(acc);
}

/// Sum over i < n of f(a[i], b[i]).
template <class T, class F>
inline T sum_of(std::size_t n, const T* a, const T* b, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec acc(T(0));
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) acc += f(vec::load_unaligned(a + i), vec::load_unaligned(b + i));
    if (i < n) acc += simd::keep_first(f(load_tail(a + i, n - i), load_tail(b + i, n - i)), n - i);
    return simd::reduce_add(acc);
}

/// Sum over i < n of f(a[i], b[i], c[i]).
template <class T, class F>
inline T sum_of(std::size_t n, const T* a, const T* b, const T* c, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec acc(T(0));
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) acc += f(vec::load_unaligned(a + i), vec::load_unaligned(b + i), vec::load_unaligned(c + i));
    if (i < n)
        acc += simd::keep_first(f(load_tail(a + i, n - i), load_tail(b + i, n - i), load_tail(c + i, n - i)), n - i);
    return simd::reduce_add(acc);
}

/// Asks for the cache lines of a[0..n) ahead of their use: for loops that
/// hop between short runs (planes of one channel across a batch), where the
/// hardware's stream prefetchers cannot guess the next run.
template <class T>
LEPTON_ALWAYS_INLINE void prefetch(const T* a, std::size_t n) noexcept
{
    const char* p = reinterpret_cast<const char*>(a);
    for (std::size_t b = 0; b < n * sizeof(T); b += 64) __builtin_prefetch(p + b);
}

/// As `prefetch`, for lines that are about to be written.
template <class T>
LEPTON_ALWAYS_INLINE void prefetch_for_writing(T* a, std::size_t n) noexcept
{
    char* p = reinterpret_cast<char*>(a);
    for (std::size_t b = 0; b < n * sizeof(T); b += 64) __builtin_prefetch(p + b, 1);
}

/// Both sums over i < n of f(a[i], b[i], c[i]), which returns a pair of
/// vectors: two reductions in one pass over the three arrays. Each sum is
/// added in the order `sum_of` adds it.
template <class T, class F>
inline std::pair<T, T> sum_pair_of(std::size_t n, const T* a, const T* b, const T* c, F&& f)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec first(T(0)), second(T(0));
    const std::size_t body = n - n % W;
    std::size_t i = 0;
    for (; i < body; i += W) {
        const auto [u, v] = f(vec::load_unaligned(a + i), vec::load_unaligned(b + i), vec::load_unaligned(c + i));
        first += u;
        second += v;
    }
    if (i < n) {
        const auto [u, v] = f(load_tail(a + i, n - i), load_tail(b + i, n - i), load_tail(c + i, n - i));
        first += simd::keep_first(u, n - i);
        second += simd::keep_first(v, n - i);
    }
    return {simd::reduce_add(first), simd::reduce_add(second)};
}

LEPTON_KERNELS_END
