#pragma once
/// \file
/// One place that knows which xtensor / xsimd release Lepton is built against.
///
/// Debian ships xtensor 0.24 with xsimd 8.1; Conan and vcpkg ship xtensor 0.27
/// with xsimd 13/14, which moved xtensor's headers and renamed a few xsimd
/// functions. Every other Lepton header includes xtensor and xsimd through this
/// file and calls the renamed functions through `lepton::simd`.

#ifndef XTENSOR_USE_XSIMD
/// xtensor evaluates its expressions with xsimd batches.
#define XTENSOR_USE_XSIMD 1
#endif

#if __has_include(<xtensor/containers/xtensor.hpp>)
// xtensor >= 0.26 layout
#include <xtensor/containers/xadapt.hpp>
#include <xtensor/containers/xtensor.hpp>
#include <xtensor/core/xnoalias.hpp>
#else
#include <xtensor/xadapt.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>
#endif

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

// Inlining control for hot kernels and for code that is better compiled once.
#if defined(__GNUC__)
#define LEPTON_ALWAYS_INLINE inline __attribute__((always_inline))
#define LEPTON_NOINLINE __attribute__((noinline))
#define LEPTON_RESTRICT __restrict__
#else
#define LEPTON_ALWAYS_INLINE inline
#define LEPTON_NOINLINE
#define LEPTON_RESTRICT
#endif


namespace lepton::simd {

/// The widest batch the compiler flags allow for `T` (AVX-512 with -march=native here).
template <class T>
using batch = xsimd::batch<T>;

/// Lanes in `batch<T>`.
template <class T>
inline constexpr std::size_t width = batch<T>::size;

/// Horizontal sum of a batch (`hadd` in xsimd 8, `reduce_add` from xsimd 9 on).
template <class T, class A>
inline T reduce_add(const xsimd::batch<T, A>& b) noexcept
{
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(b);
#else
    return xsimd::hadd(b);
#endif
}

/// Horizontal maximum of a batch.
template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& b) noexcept
{
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_max(b);
#else
    alignas(64) T lanes[xsimd::batch<T, A>::size];
    b.store_aligned(lanes);
    T m = lanes[0];
    for (std::size_t i = 1; i < xsimd::batch<T, A>::size; ++i) m = lanes[i] > m ? lanes[i] : m;
    return m;
#endif
}

/// Makes the compiler hold `v` in a register from here on: a value used by
/// several FMAs is then loaded once, instead of being folded into each FMA as a
/// memory operand (which, for a load that straddles cache lines, costs twice).
template <class T, class A>
LEPTON_ALWAYS_INLINE void keep_in_register(xsimd::batch<T, A>& v) noexcept
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+v"(v.data));
#else
    (void)v;
#endif
}

/// Sets a register tile of accumulators to zero.
template <class V, std::size_t Rows, std::size_t Columns>
LEPTON_ALWAYS_INLINE void zero_tile(V (&acc)[Rows][Columns]) noexcept
{
#pragma GCC unroll 32
    for (std::size_t i = 0; i < Rows; ++i)
#pragma GCC unroll 32
        for (std::size_t j = 0; j < Columns; ++j) acc[i][j] = V(typename V::value_type(0));
}

#if defined(__AVX2__) && !defined(__AVX512F__)
namespace detail {
/// Lanes i < n set (all bits), for AVX2's masked loads and stores of 32-bit lanes.
LEPTON_ALWAYS_INLINE __m256i first_lanes_32(std::size_t n) noexcept
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/// The same for 64-bit lanes.
LEPTON_ALWAYS_INLINE __m256i first_lanes_64(std::size_t n) noexcept
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(std::int64_t(n)), _mm256_setr_epi64x(0, 1, 2, 3));
}
} // namespace detail
#endif

/// The first `n` (< width) elements at `p` in a vector, the rest zero; nothing
/// past p + n is read. A masked load where the CPU has one: going through a
/// buffer on the stack stalls the vector load that reads the buffer back
/// (its smaller stores cannot be forwarded to it), about 20 cycles a call.
template <class T>
LEPTON_ALWAYS_INLINE xsimd::batch<T> load_first(const T* p, std::size_t n) noexcept
{
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 16)
        return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 8)
        return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 8)
        return _mm256_maskload_ps(p, detail::first_lanes_32(n));
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 4)
        return _mm256_maskload_pd(p, detail::first_lanes_64(n));
#endif
    alignas(64) T buf[xsimd::batch<T>::size] = {};
    for (std::size_t i = 0; i < n; ++i) buf[i] = p[i];
    return xsimd::batch<T>::load_aligned(buf);
}

/// Stores the first `n` (< width) lanes of `v` at `p`; nothing past p + n is written.
template <class T>
LEPTON_ALWAYS_INLINE void store_first(const xsimd::batch<T>& v, T* p, std::size_t n) noexcept
{
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 16)
        { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v); return; }
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 8)
        { _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), v); return; }
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 8)
        { _mm256_maskstore_ps(p, detail::first_lanes_32(n), v); return; }
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 4)
        { _mm256_maskstore_pd(p, detail::first_lanes_64(n), v); return; }
#endif
    alignas(64) T buf[xsimd::batch<T>::size];
    v.store_aligned(buf);
    for (std::size_t i = 0; i < n; ++i) p[i] = buf[i];
}

/// `v` with lanes n and on (n < width) set to zero.
template <class T>
LEPTON_ALWAYS_INLINE xsimd::batch<T> keep_first(const xsimd::batch<T>& v, std::size_t n) noexcept
{
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 16)
        return _mm512_maskz_mov_ps(__mmask16((1u << n) - 1), v);
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 8)
        return _mm512_maskz_mov_pd(__mmask8((1u << n) - 1), v);
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 8)
        return _mm256_and_ps(v, _mm256_castsi256_ps(detail::first_lanes_32(n)));
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 4)
        return _mm256_and_pd(v, _mm256_castsi256_pd(detail::first_lanes_64(n)));
#endif
    alignas(64) T buf[xsimd::batch<T>::size];
    v.store_aligned(buf);
    for (std::size_t i = n; i < xsimd::batch<T>::size; ++i) buf[i] = T(0);
    return xsimd::batch<T>::load_aligned(buf);
}

/// The integer vector that indexes a `batch<T>` lane by lane (`gather`).
template <class T>
using index_batch = xsimd::batch<xsimd::as_integer_t<T>, typename xsimd::batch<T>::arch_type>;

/// base[index[i]] in lane i. xsimd 8.1's `batch::gather` names its kernel with
/// two template arguments, which its one-argument AVX2 and AVX-512 float and
/// double overloads cannot take, so it always falls back to a lane-by-lane
/// loop through memory; this calls the gather instructions itself.
template <class T>
LEPTON_ALWAYS_INLINE xsimd::batch<T> gather(const T* base, const index_batch<T>& index) noexcept
{
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 16)
        return _mm512_i32gather_ps(index, base, sizeof(float));
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 8)
        return _mm512_i64gather_pd(index, base, sizeof(double));
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float> && xsimd::batch<T>::size == 8)
        return _mm256_i32gather_ps(base, index, sizeof(float));
    else if constexpr (std::is_same_v<T, double> && xsimd::batch<T>::size == 4)
        return _mm256_i64gather_pd(base, index, sizeof(double));
#endif
    return xsimd::batch<T>::gather(base, index);
}

/// Number of architectural vector registers, which bounds the GEMM register tile.
inline constexpr int vector_registers =
#if defined(__AVX512F__) || defined(__aarch64__)
    32;
#else
    16;
#endif

} // namespace lepton::simd

namespace lepton::simd {

/// `xsimd::select` for the scalar tail of a vectorised loop (xsimd 8 has no scalar overload).
template <class T>
inline T select(bool condition, T a, T b) noexcept
{
    return condition ? a : b;
}
/// `xsimd::select` for batches.
template <class B, class C>
inline B select(const C& condition, const B& a, const B& b) noexcept
{
    return xsimd::select(condition, a, b);
}

} // namespace lepton::simd
