#pragma once
/// \file
/// 3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3)
/// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// Each 2x2 block ("tile") of the output is computed from a 4x4 block of the
/// padded input: the input block d and the kernel g are transformed
/// (V = B^T d B, U = G g G^T), multiplied element by element and summed over
/// input channels, which for each of the 16 positions xi is a matrix product
///     M_xi[o][tile] = sum_c U_xi[o][c] * V_xi[c][tile],
/// and transformed back (Y = A^T M A). That is 16 multiply-adds per tile and
/// channel pair instead of 36: the products run through Lepton's GEMM
/// micro-kernel, the transforms are additions.
///
/// The transforms are vectorised across tiles. The padded image is split into
/// four phase planes D_ab[y][x] = P[2y + a][2x + b] (a, b in {0, 1}), each
/// (tiles_h + 1) x (tiles_w + 1); numbering tile (ty, tx) as ty * (tiles_w + 1) + tx,
/// input element (i, j) of consecutive tiles is then a contiguous run of
/// D_{i%2, j%2}, starting i/2 rows and j/2 columns further on. Tiles with
/// tx = tiles_w are computed and dropped, as the implicit GEMM drops the
/// padded columns. The outputs come back in the same four phases and are
/// interleaved into the image.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
#include "conv_implicit.hpp"
#include "gemm.hpp"

namespace lepton::kernels {

/// Tiling of one image for F(2x2, 3x3); `g` must describe a 3x3 kernel without dilation.
struct winograd_tiling {
    /// Rows of 2x2 output tiles.
    std::size_t tiles_h;
    /// Columns of 2x2 output tiles.
    std::size_t tiles_w;
    /// Row length of the phase planes, and of the tile numbering.
    std::size_t row;
    /// Tiles computed per image: tiles_h rows of `row`, rounded up to whole vectors.
    std::size_t tiles;
    /// Elements of one phase plane, with slack for the last vector's overrun.
    std::size_t plane;

    /// Distance between the 16 transformed inputs (B operands, c rows) and
    /// between the 16 products (m rows). A cache line more than the data: at
    /// power-of-two distances the 16 streams would fall into one cache set.
    template <class T>
    std::size_t v_stride(std::size_t c) const
    {
        return packed_b_size<T>(c, tiles) + 64 / sizeof(T);
    }
    /// See `v_stride`.
    template <class T>
    std::size_t m_stride(std::size_t m) const
    {
        return m * tiles + 64 / sizeof(T);
    }

    /// The tiling of geometry `g` for scalar type T (whose vector width rounds `tiles`).
    template <class T>
    static winograd_tiling of(const implicit_conv_geometry& g)
    {
        constexpr std::size_t W = simd::width<T>;
        winograd_tiling t{};
        t.tiles_h = (g.out_h() + 1) / 2;
        t.tiles_w = (g.out_w() + 1) / 2;
        t.row = t.tiles_w + 1;
        t.tiles = (t.tiles_h * t.row + W - 1) / W * W;
        t.plane = (t.tiles + t.row + 1 + W - 1) / W * W;
        return t;
    }
};

/// Size of the buffer `winograd_transform_weights` fills for m outputs and c inputs.
template <class T>
constexpr std::size_t winograd_weights_size(std::size_t m, std::size_t c)
{
    return 16 * packed_a_size<T>(m, c);
}

/// U_xi = G g G^T for every kernel g of w [m][c][3][3], packed as 16 GEMM A
/// operands (one per xi, each [m, c] in `pack_a_full` layout). `plain` is
/// scratch of 16 * m * c elements.
template <class T>
void winograd_transform_weights(std::size_t m, std::size_t c, const T* w, T* plain, T* packed)
{
    const std::size_t mc = m * c;
    for (std::size_t o = 0; o < m; ++o)
        for (std::size_t ci = 0; ci < c; ++ci) {
            const T* g = w + (o * c + ci) * 9;
            // G g: the rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2.
            T rows[4][3];
            for (int j = 0; j < 3; ++j) {
                const T g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                rows[0][j] = g0;
                rows[1][j] = T(0.5) * (g0 + g1 + g2);
                rows[2][j] = T(0.5) * (g0 - g1 + g2);
                rows[3][j] = g2;
            }
            // (G g) G^T: the same combination of columns.
            for (int r = 0; r < 4; ++r) {
                const T g0 = rows[r][0], g1 = rows[r][1], g2 = rows[r][2];
                const T u[4] = {g0, T(0.5) * (g0 + g1 + g2), T(0.5) * (g0 - g1 + g2), g2};
                for (int s = 0; s < 4; ++s) plain[std::size_t(r * 4 + s) * mc + o * c + ci] = u[s];
            }
        }
    for (std::size_t xi = 0; xi < 16; ++xi)
        pack_a_full(transpose::no, m, c, plain + xi * mc, c, packed + xi * packed_a_size<T>(m, c));
}

namespace detail {

#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
/// The mask of the first min(count, 16) lanes of a float vector.
inline __mmask16 first_lanes(std::size_t count)
{
    return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1);
}
#endif

/// even[i] = src[2i], odd[i] = src[2i + 1] for the n elements of src.
template <class T>
inline void deinterleave(const T* src, std::size_t n, T* even, T* odd)
{
    std::size_t i = 0;
#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
    if constexpr (std::is_same_v<T, float>) {
        // 32 elements per step: two loads (masked at the end, so nothing past src
        // is touched) and one two-source permute for each half.
        const __m512i even_lanes = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd_lanes = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        for (; i < n; i += 32) {
            const std::size_t left = std::min<std::size_t>(n - i, 32);
            const __m512 a = _mm512_maskz_loadu_ps(first_lanes(left), src + i);
            const __m512 b = _mm512_maskz_loadu_ps(first_lanes(left > 16 ? left - 16 : 0), src + i + 16);
            _mm512_mask_storeu_ps(even + i / 2, first_lanes((left + 1) / 2), _mm512_permutex2var_ps(a, even_lanes, b));
            _mm512_mask_storeu_ps(odd + i / 2, first_lanes(left / 2), _mm512_permutex2var_ps(a, odd_lanes, b));
        }
        return;
    }
#endif
    for (; 2 * i + 1 < n; ++i) {
        even[i] = src[2 * i];
        odd[i] = src[2 * i + 1];
    }
    if (2 * i < n) even[i] = src[2 * i];
}

/// dst[2i] = even[i], dst[2i + 1] = odd[i] for the n elements of dst.
template <class T>
inline void interleave(const T* even, const T* odd, std::size_t n, T* dst)
{
    std::size_t i = 0;
#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
    if constexpr (std::is_same_v<T, float>) {
        const __m512i low = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        const __m512i high = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        for (; i < n; i += 32) {
            const std::size_t left = std::min<std::size_t>(n - i, 32);
            const __m512 e = _mm512_maskz_loadu_ps(first_lanes((left + 1) / 2), even + i / 2);
            const __m512 o = _mm512_maskz_loadu_ps(first_lanes(left / 2), odd + i / 2);
            _mm512_mask_storeu_ps(dst + i, first_lanes(left), _mm512_permutex2var_ps(e, low, o));
            _mm512_mask_storeu_ps(dst + i + 16, first_lanes(left > 16 ? left - 16 : 0), _mm512_permutex2var_ps(e, high, o));
        }
        return;
    }
#endif
    for (; 2 * i + 1 < n; ++i) {
        dst[2 * i] = even[i];
        dst[2 * i + 1] = odd[i];
    }
    if (2 * i < n) dst[2 * i] = even[i];
}

/// Splits image [c, in_h, in_w] into the zero-padded phase planes [c][a][b][plane].
template <class T>
void winograd_split_phases(const implicit_conv_geometry& g, const winograd_tiling& t, const T* image, T* planes)
{
    std::fill(planes, planes + g.channels * 4 * t.plane, T(0));
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t y = 0; y < g.in_h; ++y) {
            const std::size_t py = y + g.pad_top;
            T* even = planes + (c * 4 + (py & 1) * 2) * t.plane + (py >> 1) * t.row;
            T* odd = even + t.plane;
            const T* src = image + (c * g.in_h + y) * g.in_w;
            // Padded column px = x + pad_left lands in plane px % 2 at px / 2.
            const std::size_t pl = g.pad_left;
            if (pl % 2 == 0)
                deinterleave(src, g.in_w, even + pl / 2, odd + pl / 2);
            else
                deinterleave(src, g.in_w, odd + (pl - 1) / 2, even + (pl + 1) / 2);
        }
}

/// V_xi = B^T d B for every tile and channel, written as 16 GEMM B operands
/// (one per xi, `pack_b_full` layout over `tiles` columns and c rows).
template <class T>
void winograd_transform_input(std::size_t channels, const winograd_tiling& t, const T* planes, T* v)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size, NR = std::size_t(gemm_blocking<T>::nr);
    const std::size_t xi_stride = t.v_stride<T>(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        const T* p = planes + c * 4 * t.plane;
        for (std::size_t tile = 0; tile < t.tiles; tile += W) {
            // d[i][j] for W consecutive tiles.
            vec d[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
                for (int j = 0; j < 4; ++j)
                    d[i][j] = vec::load_unaligned(p + std::size_t((i & 1) * 2 + (j & 1)) * t.plane +
                                                  std::size_t(i >> 1) * t.row + std::size_t(j >> 1) + tile);
            // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3; then the same on columns.
            vec e[4][4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                e[0][j] = d[0][j] - d[2][j];
                e[1][j] = d[1][j] + d[2][j];
                e[2][j] = d[2][j] - d[1][j];
                e[3][j] = d[1][j] - d[3][j];
            }
            T* out = v + (tile / NR) * channels * NR + c * NR + tile % NR;
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                (e[i][0] - e[i][2]).store_unaligned(out + std::size_t(i * 4 + 0) * xi_stride);
                (e[i][1] + e[i][2]).store_unaligned(out + std::size_t(i * 4 + 1) * xi_stride);
                (e[i][2] - e[i][1]).store_unaligned(out + std::size_t(i * 4 + 2) * xi_stride);
                (e[i][1] - e[i][3]).store_unaligned(out + std::size_t(i * 4 + 3) * xi_stride);
            }
        }
    }
}

/// Y = A^T M A (+ bias, then max(0, .) with `relu`) for every tile and output channel, written to the
/// image [m, out_h, out_w]. M is 16 blocks [m][tiles], `m_stride` apart.
template <class T>
void winograd_transform_output(const implicit_conv_geometry& g, const winograd_tiling& t, std::size_t m,
                               const T* mxi, const T* bias, bool relu, T* out)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t xi_stride = t.m_stride<T>(m), oh = g.out_h(), ow = g.out_w();
    thread_local scratch<T> phase_buffer;
    T* phases = phase_buffer.get(4 * t.tiles);  // Y_ab for one output channel
    for (std::size_t o = 0; o < m; ++o) {
        const vec b(bias ? bias[o] : T(0));
        for (std::size_t tile = 0; tile < t.tiles; tile += W) {
            vec s[2][4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const T* col = mxi + o * t.tiles + tile + std::size_t(j) * xi_stride;
                const vec m0 = vec::load_aligned(col), m1 = vec::load_aligned(col + 4 * xi_stride);
                const vec m2 = vec::load_aligned(col + 8 * xi_stride), m3 = vec::load_aligned(col + 12 * xi_stride);
                // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3; then the same on columns.
                s[0][j] = m0 + m1 + m2;
                s[1][j] = m1 - m2 - m3;
            }
            const vec floor(relu ? T(0) : -std::numeric_limits<T>::infinity());
#pragma GCC unroll 2
            for (int a = 0; a < 2; ++a) {
                xsimd::max(s[a][0] + s[a][1] + s[a][2] + b, floor)
                    .store_aligned(phases + std::size_t(a * 2) * t.tiles + tile);
                xsimd::max(s[a][1] - s[a][2] - s[a][3] + b, floor)
                    .store_aligned(phases + std::size_t(a * 2 + 1) * t.tiles + tile);
            }
        }
        // Interleave the four phases into the output channel.
        T* dst = out + o * oh * ow;
        for (std::size_t y = 0; y < oh; ++y) {
            const T* even = phases + (y & 1) * 2 * t.tiles + (y >> 1) * t.row;
            interleave(even, even + t.tiles, ow, dst + y * ow);
        }
    }
}

} // namespace detail

/// out [m, out_h, out_w] = the 3x3 convolution of `image` [channels, in_h, in_w]
/// with the kernels `winograd_transform_weights` turned into `packed_u`
/// (+ bias per output channel when not null; then max(0, .) with `relu`). `g` describes a 3x3, stride-1,
/// undilated convolution of one image. Single-threaded: callers spread images.
template <class T>
void winograd_conv(const implicit_conv_geometry& g, std::size_t m, const T* packed_u, const T* image, const T* bias,
                   T* out, bool relu = false)
{
    constexpr std::size_t NR = std::size_t(gemm_blocking<T>::nr), KC = gemm_blocking<T>::kc;
    const winograd_tiling t = winograd_tiling::of<T>(g);
    const std::size_t c = g.channels;
    const std::size_t v_stride = t.v_stride<T>(c), m_stride = t.m_stride<T>(m), u_stride = packed_a_size<T>(m, c);
    thread_local scratch<T> plane_buffer, v_buffer, m_buffer;
    T* planes = plane_buffer.get(c * 4 * t.plane);
    T* v = v_buffer.get(16 * v_stride);
    T* mxi = m_buffer.get(16 * m_stride);
    detail::winograd_split_phases(g, t, image, planes);
    detail::winograd_transform_input(c, t, planes, v);
    for (std::size_t xi = 0; xi < 16; ++xi) {
        packed_a<T> u{packed_u + xi * u_stride, c};
        for (std::size_t p0 = 0; p0 < c; p0 += KC) {
            const std::size_t kc = std::min(KC, c - p0);
            detail::gemm_row_block(0, m, t.tiles, p0, kc, u, v + xi * v_stride + p0 * NR, c * NR,
                                   mxi + xi * m_stride, t.tiles, T(1), p0 == 0 ? T(0) : T(1));
        }
    }
    detail::winograd_transform_output(g, t, m, mxi, bias, relu, out);
}

} // namespace lepton::kernels
