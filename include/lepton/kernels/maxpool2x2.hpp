#pragma once
/// \file
/// Max pooling over 2x2 windows with stride 2, one row of windows at a time:
/// the common case, without branches (on real data the winner of a window is
/// random, and mispredicted branches cost more than the comparisons). Ties
/// keep the first maximum in reading order, as PyTorch does. With AVX-512, 16
/// windows at a time: the two input rows are split into even and odd columns
/// by two-source permutes.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/compat.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

namespace detail {

/// `c ? v : 0` computed with a bit mask: as a conditional, the compiler emits
/// a branch, which mispredicts on every other window.
template <class T>
inline T value_if(bool c, T v)
{
    using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    return std::bit_cast<T>(std::bit_cast<bits>(v) & (bits(0) - bits(c)));
}

#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// The first min(n, 16) lanes.
inline __mmask16 first_lanes(std::size_t n)
{
    return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}
#endif

} // namespace detail

/// Windows [0, out_w) of the input rows r0 and r1 (r1 = r0 + in_w; `top` is
/// r0's offset in its plane): out[ox] = the window's maximum, arg[ox] = its
/// position in the plane.
template <class T>
void maxpool2x2_forward_row(const T* r0, std::size_t in_w, std::size_t out_w, std::int32_t top, T* out,
                            std::int32_t* arg)
{
    const T* r1 = r0 + in_w;
    const auto bottom = std::int32_t(top + std::int32_t(in_w));
    std::size_t ox = 0;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        // The rows come from memory (a convolution's output, larger than L2), in order: ask early.
        _mm_prefetch(reinterpret_cast<const char*>(r0 + 8 * in_w), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(r0 + 8 * in_w + 16), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(r1 + 8 * in_w), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(r1 + 8 * in_w + 16), _MM_HINT_T0);
        for (; ox < out_w; ox += 16) {
            const std::size_t n = std::min<std::size_t>(16, out_w - ox);
            const __mmask16 low = detail::first_lanes(2 * n), high = detail::first_lanes(2 * n > 16 ? 2 * n - 16 : 0);
            auto split = [&](const T* row, __m512& left, __m512& right) {
                const __m512 a = _mm512_maskz_loadu_ps(low, row + 2 * ox);
                const __m512 b = _mm512_maskz_loadu_ps(high, row + 2 * ox + 16);
                left = _mm512_permutex2var_ps(a, even, b);
                right = _mm512_permutex2var_ps(a, odd, b);
            };
            __m512 t0, t1, b0, b1;
            split(r0, t0, t1);
            split(r1, b0, b1);
            // std::max(a, b) is (a < b) ? b : a: the same choice on ties and NaN.
            const __mmask16 top_right = _mm512_cmp_ps_mask(t0, t1, _CMP_LT_OQ);
            const __mmask16 bottom_right = _mm512_cmp_ps_mask(b0, b1, _CMP_LT_OQ);
            const __m512 tmax = _mm512_mask_blend_ps(top_right, t0, t1);
            const __m512 bmax = _mm512_mask_blend_ps(bottom_right, b0, b1);
            const __mmask16 lower = _mm512_cmp_ps_mask(tmax, bmax, _CMP_LT_OQ);
            // Positions of the left column of each window in the top and bottom rows, plus one where the right won.
            const __m512i column = _mm512_add_epi32(even, _mm512_set1_epi32(std::int32_t(2 * ox)));
            const __m512i top_left = _mm512_add_epi32(column, _mm512_set1_epi32(top));
            const __m512i bottom_left = _mm512_add_epi32(column, _mm512_set1_epi32(bottom));
            const __m512i one = _mm512_set1_epi32(1);
            const __m512i targ = _mm512_mask_add_epi32(top_left, top_right, top_left, one);
            const __m512i barg = _mm512_mask_add_epi32(bottom_left, bottom_right, bottom_left, one);
            const __mmask16 lanes = detail::first_lanes(n);
            _mm512_mask_storeu_ps(out + ox, lanes, _mm512_mask_blend_ps(lower, tmax, bmax));
            _mm512_mask_storeu_epi32(arg + ox, lanes, _mm512_mask_blend_epi32(lower, targ, barg));
        }
        return;
    }
#endif
    for (; ox < out_w; ++ox) {
        const auto c0 = std::int32_t(2 * ox);
        const T t0 = r0[c0], t1 = r0[c0 + 1], b0 = r1[c0], b1 = r1[c0 + 1];
        // std::max keeps its first argument on ties; the index is arithmetic
        // so the compiler cannot turn it back into branches.
        const T tmax = std::max(t0, t1), bmax = std::max(b0, b1);
        const std::int32_t targ = top + c0 + std::int32_t(t0 < t1);
        const std::int32_t barg = bottom + c0 + std::int32_t(b0 < b1);
        const auto lower = std::int32_t(tmax < bmax);
        out[ox] = std::max(tmax, bmax);
        arg[ox] = targ + lower * (barg - targ);
    }
}

/// The input gradient of windows [0, out_w) into rows d0 and d1 = d0 + in_w
/// (every input a window covers gets its window's gradient or zero, written
/// once): g is the windows' output gradient, arg their maxima's positions
/// (`top` is d0's offset in its plane). With `relu`, a window whose maximum
/// `best` is not positive passes nothing (ReLU's gradient before the pooling).
template <class T>
void maxpool2x2_backward_row(const T* g, const T* best, const std::int32_t* arg, std::size_t in_w, std::size_t out_w,
                             std::int32_t top, bool relu, T* d0)
{
    T* d1 = d0 + in_w;
    const auto w = std::int32_t(in_w);
    std::size_t ox = 0;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i low_half = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        const __m512i high_half = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        const __m512i doubled = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        // Ask early for the lines the rows four windows down read and write.
        for (const void* line : {static_cast<const void*>(g + 4 * out_w), static_cast<const void*>(arg + 4 * out_w),
                                 static_cast<const void*>(best + 4 * out_w), static_cast<const void*>(d0 + 8 * in_w),
                                 static_cast<const void*>(d0 + 8 * in_w + 16), static_cast<const void*>(d1 + 8 * in_w),
                                 static_cast<const void*>(d1 + 8 * in_w + 16)})
            _mm_prefetch(static_cast<const char*>(line), _MM_HINT_T0);
        for (; ox < out_w; ox += 16) {
            const std::size_t n = std::min<std::size_t>(16, out_w - ox);
            const __mmask16 lanes = detail::first_lanes(n);
            __m512 v = _mm512_maskz_loadu_ps(lanes, g + ox);
            if (relu)
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(lanes, best + ox), _mm512_setzero_ps(),
                                                           _CMP_GT_OQ),
                                        v);
            // The winner's place in its window: 0, 1 (top row), w, w + 1 (bottom row).
            const __m512i at = _mm512_sub_epi32(
                _mm512_maskz_loadu_epi32(lanes, arg + ox),
                _mm512_add_epi32(doubled, _mm512_set1_epi32(top + std::int32_t(2 * ox))));
            auto write = [&](T* row, std::int32_t left) {
                const __m512 e = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_set1_epi32(left)), v);
                const __m512 o = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_set1_epi32(left + 1)), v);
                _mm512_mask_storeu_ps(row + 2 * ox, detail::first_lanes(2 * n), _mm512_permutex2var_ps(e, low_half, o));
                _mm512_mask_storeu_ps(row + 2 * ox + 16, detail::first_lanes(2 * n > 16 ? 2 * n - 16 : 0),
                                      _mm512_permutex2var_ps(e, high_half, o));
            };
            write(d0, 0);
            write(d1, w);
        }
        return;
    }
#endif
    for (; ox < out_w; ++ox) {
        const T v = relu ? detail::value_if(best[ox] > T(0), g[ox]) : g[ox];
        const std::int32_t at = arg[ox] - top - std::int32_t(2 * ox);
        d0[2 * ox] = detail::value_if(at == 0, v);
        d0[2 * ox + 1] = detail::value_if(at == 1, v);
        d1[2 * ox] = detail::value_if(at == w, v);
        d1[2 * ox + 1] = detail::value_if(at == w + 1, v);
    }
}

LEPTON_KERNELS_END
