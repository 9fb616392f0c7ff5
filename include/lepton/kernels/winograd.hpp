#pragma once
/// \file
/// 3x3, stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3)
/// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// Each 4x4 block ("tile") of the output is computed from a 6x6 block of the
/// padded input: the input block d and the kernel g are transformed
/// (V = B^T d B, U = G g G^T), multiplied element by element and summed over
/// input channels, which for each of the 36 positions xi is a matrix product
///     M_xi[o][tile] = sum_c U_xi[o][c] * V_xi[c][tile],
/// and transformed back (Y = A^T M A). That is 36 multiply-adds per tile and
/// channel pair instead of 144: the products run through Lepton's GEMM
/// micro-kernel, the transforms are additions and small multiples.
///
/// Vector lanes are tiles. An image's tiles are numbered row by row and
/// rounded up to whole vectors; the input transform gathers element (i, j) of
/// a vector's tiles from a zero-padded copy of one channel. A group of images
/// shares the products, whose columns are the group's tiles, so that a small
/// image still gives the micro-kernel whole panels.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
#include "conv_implicit.hpp"
#include "gemm.hpp"

namespace lepton::kernels {

/// Positions of a transformed 6x6 tile: the number of products per tile.
inline constexpr std::size_t winograd_positions = 36;

/// Tiling of a group of images for F(4x4, 3x3); `g` must describe a 3x3 kernel without dilation.
struct winograd_tiling {
    /// Rows of 4x4 output tiles per image.
    std::size_t tiles_h;
    /// Columns of 4x4 output tiles per image.
    std::size_t tiles_w;
    /// Tiles per image, rounded up to whole vectors.
    std::size_t tiles;
    /// Rows of the zero-padded copy of one channel: every tile's 6x6 block.
    std::size_t block_h;
    /// Columns of that copy.
    std::size_t block_w;
    /// Images whose tiles share one set of products.
    std::size_t images;

    /// Columns of the products: the group's tiles.
    std::size_t columns() const { return images * tiles; }
    /// Distance between the 36 transformed inputs (B operands, c rows) and
    /// between the 36 products (m rows). A cache line more than the data: at
    /// power-of-two distances the 36 streams would fall into one cache set.
    template <class T>
    std::size_t v_stride(std::size_t c) const
    {
        return packed_b_size<T>(c, columns()) + 64 / sizeof(T);
    }
    /// See `v_stride`.
    template <class T>
    std::size_t m_stride(std::size_t m) const
    {
        return m * columns() + 64 / sizeof(T);
    }

    /// The tiling of geometry `g` for scalar type T (whose vector width rounds `tiles`).
    template <class T>
    static winograd_tiling of(const implicit_conv_geometry& g)
    {
        constexpr std::size_t W = simd::width<T>;
        // About two micro-kernel panels of columns: enough to amortise the
        // micro-kernel's stores, few enough for V and M to stay in L2.
        constexpr std::size_t group_columns = 2 * std::size_t(gemm_blocking<T>::nr);
        winograd_tiling t{};
        t.tiles_h = (g.out_h() + 3) / 4;
        t.tiles_w = (g.out_w() + 3) / 4;
        t.tiles = (t.tiles_h * t.tiles_w + W - 1) / W * W;
        t.block_h = 4 * t.tiles_h + 2;
        t.block_w = 4 * t.tiles_w + 2;
        t.images = std::max<std::size_t>(1, group_columns / t.tiles);
        return t;
    }
};

/// Size of the buffer `winograd_transform_weights` fills for m outputs and c inputs.
template <class T>
constexpr std::size_t winograd_weights_size(std::size_t m, std::size_t c)
{
    return winograd_positions * packed_a_size<T>(m, c);
}

/// Distance between the 36 planes of `winograd_transform_weights`' scratch:
/// a cache line more than m * c, so that the planes do not share cache sets.
template <class T>
constexpr std::size_t winograd_plain_stride(std::size_t m, std::size_t c)
{
    return m * c + 64 / sizeof(T);
}

/// Size of the scratch `winograd_transform_weights` needs for m outputs and c inputs.
template <class T>
constexpr std::size_t winograd_plain_size(std::size_t m, std::size_t c)
{
    return winograd_positions * winograd_plain_stride<T>(m, c);
}

/// U_xi = G g G^T for every kernel g of w [m][c][3][3], packed as 36 GEMM A
/// operands (one per xi, each [m, c] in `pack_a_full` layout). `plain` is
/// scratch of `winograd_plain_size` elements.
template <class T>
void winograd_transform_weights(std::size_t m, std::size_t c, const T* w, T* plain, T* packed)
{
    const std::size_t mc = winograd_plain_stride<T>(m, c);
    // G's rows applied to (g0, g1, g2).
    auto g_rows = [](T g0, T g1, T g2, T* u) {
        constexpr T quarter = T(1) / T(4), sixth = T(1) / T(6), twelfth = T(1) / T(12), twentyfourth = T(1) / T(24);
        const T outer = g0 + g2, outer_small = twentyfourth * g0 + sixth * g2;
        u[0] = quarter * g0;
        u[1] = -sixth * (outer + g1);
        u[2] = -sixth * (outer - g1);
        u[3] = outer_small + twelfth * g1;
        u[4] = outer_small - twelfth * g1;
        u[5] = g2;
    };
    for (std::size_t o = 0; o < m; ++o)
        for (std::size_t ci = 0; ci < c; ++ci) {
            const T* g = w + (o * c + ci) * 9;
            T columns[3][6];  // G g, column by column
            for (int j = 0; j < 3; ++j) g_rows(g[j], g[3 + j], g[6 + j], columns[j]);
            for (int r = 0; r < 6; ++r) {
                T u[6];  // row r of (G g) G^T
                g_rows(columns[0][r], columns[1][r], columns[2][r], u);
                for (int s = 0; s < 6; ++s) plain[std::size_t(r * 6 + s) * mc + o * c + ci] = u[s];
            }
        }
    for (std::size_t xi = 0; xi < winograd_positions; ++xi)
        pack_a_full(transpose::no, m, c, plain + xi * mc, c, packed + xi * packed_a_size<T>(m, c));
}

namespace detail {

/// r = B^T x for one column x of six vectors.
template <class V>
LEPTON_ALWAYS_INLINE void winograd_input_rows(const V (&x)[6], V (&r)[6])
{
    const V two(2), four(4), five(5);
    r[0] = xsimd::fma(four, x[0], xsimd::fnma(five, x[2], x[4]));
    const V a = xsimd::fnma(four, x[2], x[4]), b = xsimd::fnma(four, x[1], x[3]);
    r[1] = a + b;
    r[2] = a - b;
    const V c = x[4] - x[2], d = two * (x[3] - x[1]);
    r[3] = c + d;
    r[4] = c - d;
    r[5] = xsimd::fma(four, x[1], xsimd::fnma(five, x[3], x[5]));
}

/// y = A^T m for one column m of six vectors.
template <class V>
LEPTON_ALWAYS_INLINE void winograd_output_rows(const V (&m)[6], V (&y)[4])
{
    const V a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = xsimd::fma(V(2), d, b);
    y[2] = xsimd::fma(V(4), c, a);
    y[3] = xsimd::fma(V(8), d, b) + m[5];
}

#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
/// `winograd_transform_input` for four tiles per row (outputs 13 to 16 wide)
/// in float vectors of 16: a vector holds four rows of tiles. Instead of
/// gathering, element (i, j) of its tiles is picked out of the input rows
/// with two-source permutes, which cost a fraction of a gather.
inline void winograd_transform_input_rows_of_four(const implicit_conv_geometry& g, const winograd_tiling& t,
                                                  const float* image, std::size_t column0, float* v)
{
    using vec = simd::batch<float>;
    constexpr std::size_t NR = std::size_t(gemm_blocking<float>::nr);
    const std::size_t channels = g.channels, xi_stride = t.v_stride<float>(channels);
    const std::ptrdiff_t in_h = std::ptrdiff_t(g.in_h), in_w = std::ptrdiff_t(g.in_w);
    const std::ptrdiff_t pad_top = std::ptrdiff_t(g.pad_top), pad_left = std::ptrdiff_t(g.pad_left);
    // Padded columns [col0, col0 + 16) of a row: lanes inside the image load,
    // the others (padding) are zero and never touch memory.
    auto columns_mask = [&](std::ptrdiff_t col0) {
        const std::ptrdiff_t first = std::max<std::ptrdiff_t>(0, pad_left - col0);
        const std::ptrdiff_t last = std::clamp<std::ptrdiff_t>(pad_left + in_w - col0, 0, 16);
        return last <= first ? __mmask16(0) : __mmask16(((1u << last) - 1) & ~((1u << first) - 1));
    };
    const __mmask16 left_mask = columns_mask(0), right_mask = columns_mask(4);
    // Lane 4 r + tx of element (i, j): column 4 tx + j of tile row r's input row.
    // Rows r and r + 1 share a permute (the second from source two); the
    // lower half of the vector comes from rows 0 and 1, the upper from 2 and 3.
    __m512i pick[4];
    for (int j = 0; j < 4; ++j)
        pick[j] = _mm512_add_epi32(_mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0),
                                   _mm512_set1_epi32(j));
    for (std::size_t c = 0; c < channels; ++c) {
        const float* src = image + c * g.in_h * g.in_w;
        auto padded_row = [&](std::ptrdiff_t py, std::ptrdiff_t col0, __mmask16 mask) {
            const std::ptrdiff_t y = py - pad_top;
            if (y < 0 || y >= in_h) return _mm512_setzero_ps();
            return _mm512_maskz_loadu_ps(mask, src + y * in_w + (col0 - pad_left));
        };
        for (std::size_t tile = 0; tile < t.tiles; tile += 16) {
            const std::ptrdiff_t top = std::ptrdiff_t(tile);  // tiles tile.. are tile rows tile / 4..: input rows `tile`..
            // B^T d, row by row, then the same on the columns of the result.
            vec e[6][6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; ++i) {
                __m512 left[4], right[4];  // columns 0.. and 4.. of each tile row's input row i
#pragma GCC unroll 4
                for (int r = 0; r < 4; ++r) {
                    left[r] = padded_row(top + 4 * r + i, 0, left_mask);
                    right[r] = padded_row(top + 4 * r + i, 4, right_mask);
                }
                vec d[6];
#pragma GCC unroll 6
                for (int j = 0; j < 6; ++j) {
                    const __m512(&rows)[4] = j < 4 ? left : right;
                    const __m512i lanes = pick[j % 4];
                    d[j] = _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(rows[0], lanes, rows[1]),
                                                _mm512_permutex2var_ps(rows[2], lanes, rows[3]));
                }
                winograd_input_rows(d, e[i]);
            }
            const std::size_t column = column0 + tile;
            float* out = v + (column / NR) * channels * NR + c * NR + column % NR;
#pragma GCC unroll 6
            for (int j = 0; j < 6; ++j) {
                vec x[6], r[6];
#pragma GCC unroll 6
                for (int i = 0; i < 6; ++i) x[i] = e[i][j];
                winograd_input_rows(x, r);
#pragma GCC unroll 6
                for (int i = 0; i < 6; ++i) r[i].store_unaligned(out + std::size_t(i * 6 + j) * xi_stride);
            }
        }
    }
}
#endif

/// V_xi = B^T d B for every tile and channel of one image [c, in_h, in_w],
/// written to columns [column0, column0 + tiles) of the 36 GEMM B operands
/// (`pack_b_full` layout over `t.columns()` columns and c rows).
template <class T>
void winograd_transform_input(const implicit_conv_geometry& g, const winograd_tiling& t, const T* image,
                              std::size_t column0, T* v)
{
    using vec = simd::batch<T>;
    using index = xsimd::as_integer_t<T>;
    using index_vec = xsimd::batch<index, typename vec::arch_type>;
    constexpr std::size_t W = vec::size, NR = std::size_t(gemm_blocking<T>::nr);
    const std::size_t channels = g.channels, xi_stride = t.v_stride<T>(channels);
    thread_local scratch<T> block_buffer;
    thread_local scratch<index> corner_buffer;
    T* block = block_buffer.get(t.block_h * t.block_w);
    index* corners = corner_buffer.get(t.tiles);
    // Each tile's top-left corner in the block; the tiles that only round up to a whole vector read the first.
    for (std::size_t tile = 0; tile < t.tiles; ++tile)
        corners[tile] = tile < t.tiles_h * t.tiles_w
                            ? index(4 * (tile / t.tiles_w) * t.block_w + 4 * (tile % t.tiles_w))
                            : index(0);
#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
    if constexpr (std::is_same_v<T, float> && W == 16)
        if (t.tiles_w == 4) {
            winograd_transform_input_rows_of_four(g, t, image, column0, v);
            return;
        }
#endif
    // The padding stays zero: every channel writes the same interior.
    std::fill(block, block + t.block_h * t.block_w, T(0));
    const std::size_t rows = std::min(g.in_h, t.block_h - g.pad_top), cols = std::min(g.in_w, t.block_w - g.pad_left);
    for (std::size_t c = 0; c < channels; ++c) {
        const T* src = image + c * g.in_h * g.in_w;
        for (std::size_t y = 0; y < rows; ++y)
            std::copy(src + y * g.in_w, src + y * g.in_w + cols, block + (y + g.pad_top) * t.block_w + g.pad_left);
        for (std::size_t tile = 0; tile < t.tiles; tile += W) {
            const index_vec corner = index_vec::load_aligned(corners + tile);
            // B^T d, column by column, then the same on the rows of the result.
            vec e[6][6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; ++j) {
                vec d[6], r[6];
#pragma GCC unroll 6
                for (int i = 0; i < 6; ++i) d[i] = vec::gather(block + std::size_t(i) * t.block_w + std::size_t(j), corner);
                winograd_input_rows(d, r);
#pragma GCC unroll 6
                for (int i = 0; i < 6; ++i) e[i][j] = r[i];
            }
            const std::size_t column = column0 + tile;
            T* out = v + (column / NR) * channels * NR + c * NR + column % NR;
#pragma GCC unroll 6
            for (int i = 0; i < 6; ++i) {
                vec r[6];
                winograd_input_rows(e[i], r);
#pragma GCC unroll 6
                for (int j = 0; j < 6; ++j) r[j].store_unaligned(out + std::size_t(i * 6 + j) * xi_stride);
            }
        }
    }
}

#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
/// Writes the 4x4 tiles y[i][j] of 16 lanes, four rows of four tiles (an
/// output 16 wide), as output rows first_row + 4 * r + i for r < 4, skipping
/// rows past `out_h` and columns past `out_w`.
inline void winograd_store_rows_of_four(const __m512 (&y)[4][4], std::size_t first_row, std::size_t out_h,
                                        std::size_t out_w, float* out)
{
    // Output lane 4 * tx + j of row r is lane 4 * r + tx of y[i][j]: two
    // two-source permutes give the even and odd j, a blend the halves.
    const __m512i base = _mm512_set_epi32(19, 3, 19, 3, 18, 2, 18, 2, 17, 1, 17, 1, 16, 0, 16, 0);
    const __mmask16 columns = out_w >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << out_w) - 1);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
        const __m512i lanes = _mm512_add_epi32(base, _mm512_set1_epi32(4 * r));
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            const std::size_t row = first_row + std::size_t(4 * r + i);
            if (row >= out_h) continue;
            const __m512 low = _mm512_permutex2var_ps(y[i][0], lanes, y[i][1]);
            const __m512 high = _mm512_permutex2var_ps(y[i][2], lanes, y[i][3]);
            _mm512_mask_storeu_ps(out + row * out_w, columns, _mm512_mask_blend_ps(0xCCCC, low, high));
        }
    }
}
#endif

/// Y = A^T M A (+ bias, then max(0, .) with `relu`) for every tile and output
/// channel of the group's images, written to images [m, out_h, out_w]. M is 36
/// blocks [m][columns], `m_stride` apart.
template <class T>
void winograd_transform_output(const implicit_conv_geometry& g, const winograd_tiling& t, std::size_t m,
                               std::size_t images, const T* mxi, const T* bias, bool relu, T* out)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t xi_stride = t.m_stride<T>(m), columns = t.columns(), oh = g.out_h(), ow = g.out_w();
    const vec floor(relu ? T(0) : -std::numeric_limits<T>::infinity());
#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
    // Four tiles per row fill a float vector with four rows of tiles: no detour through memory.
    constexpr bool rows_of_four_ready = std::is_same_v<T, float> && W == 16;
    const bool rows_of_four = rows_of_four_ready && t.tiles_w == 4;
#else
    constexpr bool rows_of_four_ready = false;
    const bool rows_of_four = false;
#endif
    thread_local scratch<T> phase_buffer;
    T* phases = rows_of_four ? nullptr : phase_buffer.get(16 * t.tiles);  // Y_ij of one output channel
    for (std::size_t image = 0; image < images; ++image)
        for (std::size_t o = 0; o < m; ++o) {
            const vec b(bias ? bias[o] : T(0));
            T* dst = out + (image * m + o) * oh * ow;
            for (std::size_t tile = 0; tile < t.tiles; tile += W) {
                const T* col = mxi + o * columns + image * t.tiles + tile;
                // A^T M, column by column, then the same on the rows of the result.
                vec s[4][6];
#pragma GCC unroll 6
                for (int j = 0; j < 6; ++j) {
                    vec mj[6], r[4];
#pragma GCC unroll 6
                    for (int i = 0; i < 6; ++i) mj[i] = vec::load_aligned(col + std::size_t(i * 6 + j) * xi_stride);
                    winograd_output_rows(mj, r);
#pragma GCC unroll 4
                    for (int i = 0; i < 4; ++i) s[i][j] = r[i];
                }
                vec y[4][4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; ++i) {
                    winograd_output_rows(s[i], y[i]);
#pragma GCC unroll 4
                    for (int j = 0; j < 4; ++j) y[i][j] = xsimd::max(y[i][j] + b, floor);
                }
                if constexpr (rows_of_four_ready) {
#if defined(__AVX512F__) && !defined(LEPTON_GEMM_SCALAR)
                    if (rows_of_four) {
                        __m512 lanes[4][4];
                        for (int i = 0; i < 4; ++i)
                            for (int j = 0; j < 4; ++j) lanes[i][j] = y[i][j];
                        // Tiles [tile, tile + 16) are tile rows tile / 4 on: output rows `tile` on.
                        winograd_store_rows_of_four(lanes, tile, oh, ow, dst);
                        continue;
                    }
#endif
                }
#pragma GCC unroll 4
                for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
                    for (int j = 0; j < 4; ++j) y[i][j].store_aligned(phases + std::size_t(i * 4 + j) * t.tiles + tile);
            }
            if (rows_of_four) continue;
            // Output (4 ty + i, 4 tx + j) is tile ty * tiles_w + tx of Y_ij.
            for (std::size_t row = 0; row < oh; ++row) {
                const T* phase_row = phases + (row % 4) * 4 * t.tiles + (row / 4) * t.tiles_w;
                for (std::size_t x = 0; x < ow; ++x) dst[row * ow + x] = phase_row[(x % 4) * t.tiles + x / 4];
            }
        }
}

} // namespace detail

/// out = the 3x3 convolutions of `count` consecutive images [channels, in_h, in_w]
/// with the kernels `winograd_transform_weights` turned into `packed_u`, each
/// to [m, out_h, out_w] (+ bias per output channel when not null; then
/// max(0, .) with `relu`). `g` describes a 3x3, stride-1, undilated
/// convolution of one image. Single-threaded: callers spread images.
template <class T>
void winograd_conv(const implicit_conv_geometry& g, std::size_t m, const T* packed_u, const T* images,
                   std::size_t count, const T* bias, T* out, bool relu = false)
{
    constexpr std::size_t NR = std::size_t(gemm_blocking<T>::nr), KC = gemm_blocking<T>::kc;
    const winograd_tiling t = winograd_tiling::of<T>(g);
    const std::size_t c = g.channels, in_size = c * g.in_h * g.in_w, out_size = m * g.out_h() * g.out_w();
    const std::size_t v_stride = t.v_stride<T>(c), m_stride = t.m_stride<T>(m), u_stride = packed_a_size<T>(m, c);
    const std::size_t columns = t.columns();
    thread_local scratch<T> v_buffer, m_buffer;
    T* v = v_buffer.get(winograd_positions * v_stride);
    T* mxi = m_buffer.get(winograd_positions * m_stride);
    for (std::size_t first = 0; first < count; first += t.images) {
        const std::size_t group = std::min(t.images, count - first);
        for (std::size_t image = 0; image < group; ++image)
            detail::winograd_transform_input(g, t, images + (first + image) * in_size, image * t.tiles, v);
        for (std::size_t xi = 0; xi < winograd_positions; ++xi) {
            packed_a<T> u{packed_u + xi * u_stride, c};
            for (std::size_t p0 = 0; p0 < c; p0 += KC) {
                const std::size_t kc = std::min(KC, c - p0);
                detail::gemm_row_block(0, m, group * t.tiles, p0, kc, u, v + xi * v_stride + p0 * NR, c * NR,
                                       mxi + xi * m_stride, columns, T(1), p0 == 0 ? T(0) : T(1));
            }
        }
        detail::winograd_transform_output(g, t, m, group, mxi, bias, relu, out + first * out_size);
    }
}

} // namespace lepton::kernels
