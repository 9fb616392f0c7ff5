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
/// Vector lanes are tiles. A group of images shares the products, whose
/// columns are the group's tiles, numbered image by image and row by row, so
/// that small images still give the micro-kernel whole panels. Where four
/// tiles span a row (float, AVX-512), a vector holds four rows of one image's
/// tiles, picked out of the input rows by permutes. With AVX2 (float) each
/// 128-bit half of a vector holds four tiles, picked out of zero-padded
/// copies of the planes by 4x4 transposes. Otherwise a vector's lanes run on
/// across images and element (i, j) of its tiles is gathered from those
/// copies. The weight gradient runs the same
/// algorithm backwards (`winograd_weight_grad`), with channels in the lanes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
#include "conv_implicit.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// Positions of a transformed 6x6 tile: the number of products per tile.
inline constexpr std::size_t winograd_positions = 36;

/// A group of images' transformed inputs and products take at most half of a
/// 1 MB L2, so that they stay there between the transforms and the products
/// (measured: 32x14x14 -> 64 is 10% slower backwards with twice as many columns).
inline constexpr std::size_t winograd_group_bytes = 512 * 1024;

/// Tiling of a group of images for F(4x4, 3x3); `g` must describe a 3x3 kernel without dilation.
struct winograd_tiling {
    /// Rows of 4x4 output tiles per image.
    std::size_t tiles_h;
    /// Columns of 4x4 output tiles per image.
    std::size_t tiles_w;
    /// Columns of the products per image: its tiles, rounded up to whole
    /// vectors where four tiles span a row (`rows_of_four`), so that a vector
    /// holds four rows of one image's tiles; otherwise a vector's lanes run on
    /// into the next image's tiles and only the group is rounded up.
    std::size_t tiles;
    /// Rows of the zero-padded copy of one channel: every tile's 6x6 block.
    std::size_t block_h;
    /// Columns of that copy.
    std::size_t block_w;
    /// Images whose tiles share one set of products.
    std::size_t images;
    /// Float vectors of 16 with four tiles to a row: the transforms pick tiles
    /// out of rows with permutes (AVX-512) instead of gathering them.
    bool rows_of_four;
    /// Float vectors of 8 (AVX2): each 128-bit half of a vector holds four
    /// tiles, which the transforms pick out of rows and write back with 4x4
    /// transposes instead of gathers.
    bool quads;

    /// Where a tile lies in its group of images.
    struct tile_position {
        /// Image of the group.
        std::size_t image;
        /// Top row of its 4x4 block of outputs, which is also that of its 6x6
        /// block in the padded input.
        std::size_t row;
        /// Left column of those blocks.
        std::size_t col;
    };
    /// Where column `column`'s tile lies. (Not for the tiles that round up
    /// `rows_of_four`'s rows.)
    tile_position tile_at(std::size_t column) const
    {
        const std::size_t tile = column % tiles;
        return {column / tiles, 4 * (tile / tiles_w), 4 * (tile % tiles_w)};
    }

    /// Columns of the products: the group's tiles, rounded up to whole vectors.
    template <class T>
    std::size_t columns() const
    {
        constexpr std::size_t W = simd::width<T>;
        return (images * tiles + W - 1) / W * W;
    }
    /// Distance between the 36 transformed inputs (B operands, c rows) and
    /// between the 36 products (m rows). A cache line more than the data: at
    /// power-of-two distances the 36 streams would fall into one cache set.
    template <class T>
    std::size_t v_stride(std::size_t c) const
    {
        return packed_b_size<T>(c, columns<T>()) + 64 / sizeof(T);
    }
    /// See `v_stride`.
    template <class T>
    std::size_t m_stride(std::size_t m) const
    {
        return m * columns<T>() + 64 / sizeof(T);
    }

    /// The tiling of geometry `g` with m outputs for scalar type T.
    template <class T>
    static winograd_tiling of(const implicit_conv_geometry& g, std::size_t m)
    {
        constexpr std::size_t W = simd::width<T>;
        winograd_tiling t{};
        t.tiles_h = (g.out_h() + 3) / 4;
        t.tiles_w = (g.out_w() + 3) / 4;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
        t.rows_of_four = std::is_same_v<T, float> && W == 16 && t.tiles_w == 4;
#else
        t.rows_of_four = false;
#endif
#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
        t.quads = std::is_same_v<T, float> && W == 8;
#else
        t.quads = false;
#endif
        t.tiles = t.rows_of_four ? (t.tiles_h * t.tiles_w + W - 1) / W * W : t.tiles_h * t.tiles_w;
        t.block_h = 4 * t.tiles_h + 2;
        t.block_w = 4 * t.tiles_w + 2;
        t.images = std::max<std::size_t>(1, winograd_group_bytes / (winograd_positions * (g.channels + m) * t.tiles * sizeof(T)));
        // Whole GEMM panels: a group whose tiles end inside a panel computes the
        // whole panel and stores the part through the slow tail (14x14 images,
        // 16 tiles each: 3 images fill 1.5 panels of 32; 2 fill one).
        constexpr std::size_t NR = std::size_t(gemm_blocking<T>::nr);
        if (t.tiles < NR && NR % t.tiles == 0) {
            const std::size_t per_panel = NR / t.tiles;
            t.images = std::max(per_panel, t.images / per_panel * per_panel);
        }
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
/// scratch of `winograd_plain_size` elements. With `adjoint`, w is [c][m][3][3]
/// and kernel (r, q) is w[q][r] turned by 180 degrees: the kernels of the
/// input gradient, read in place.
template <class T>
void winograd_transform_weights(std::size_t m, std::size_t c, const T* w, T* plain, T* packed, bool adjoint = false)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t mc = winograd_plain_stride<T>(m, c);
    // G's rows applied to (g0, g1, g2), for W kernels at once (the lanes are input channels).
    auto g_rows = [](vec g0, vec g1, vec g2, vec* u) {
        const vec quarter(T(1) / T(4)), sixth(T(1) / T(6)), twelfth(T(1) / T(12)), twentyfourth(T(1) / T(24));
        const vec outer = g0 + g2, outer_small = xsimd::fma(twentyfourth, g0, sixth * g2);
        u[0] = quarter * g0;
        u[1] = -sixth * (outer + g1);
        u[2] = -sixth * (outer - g1);
        u[3] = xsimd::fma(twelfth, g1, outer_small);
        u[4] = xsimd::fnma(twelfth, g1, outer_small);
        u[5] = g2;
    };
    // The kernels of W consecutive input channels, element by element (the
    // lanes past c are zero), so that each of the 36 positions is one vector
    // store into its plane instead of W scattered ones.
    alignas(64) T taps[9][W];
    for (std::size_t o = 0; o < m; ++o)
        for (std::size_t c0 = 0; c0 < c; c0 += W) {
            const std::size_t lanes = std::min(W, c - c0);
            for (std::size_t k = 0; k < 9; ++k)
                for (std::size_t lane = 0; lane < W; ++lane)
                    taps[k][lane] = lane >= lanes ? T(0)
                                    : adjoint     ? w[((c0 + lane) * m + o) * 9 + (8 - k)]
                                                  : w[(o * c + c0 + lane) * 9 + k];
            vec columns[3][6];  // G g, column by column
            for (int j = 0; j < 3; ++j)
                g_rows(vec::load_aligned(taps[j]), vec::load_aligned(taps[3 + j]), vec::load_aligned(taps[6 + j]),
                       columns[j]);
            for (int r = 0; r < 6; ++r) {
                vec u[6];  // row r of (G g) G^T
                g_rows(columns[0][r], columns[1][r], columns[2][r], u);
                for (int s = 0; s < 6; ++s) {
                    T* to = plain + std::size_t(r * 6 + s) * mc + o * c + c0;
                    if (lanes == W) {
                        u[s].store_unaligned(to);
                    } else {
                        alignas(64) T part[W];
                        u[s].store_aligned(part);
                        std::copy(part, part + lanes, to);
                    }
                }
            }
        }
    for (std::size_t xi = 0; xi < winograd_positions; ++xi)
        pack_a_full(transpose::no, m, c, plain + xi * mc, c, packed + xi * packed_a_size<T>(m, c));
}

namespace detail {

/// The scalar type of vector type V.
template <class V>
using T_of = typename V::value_type;

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

/// r = A x for one column x of four vectors: the transpose of the output
/// transform, which takes output gradients to the 36 positions.
template <class V>
LEPTON_ALWAYS_INLINE void winograd_grad_rows(const V (&x)[4], V (&r)[6])
{
    const V a = x[0] + x[2], b = x[1] + x[3];
    const V c = xsimd::fma(V(4), x[2], x[0]), d = xsimd::fma(V(8), x[3], V(2) * x[1]);
    r[0] = x[0];
    r[1] = a + b;
    r[2] = a - b;
    r[3] = c + d;
    r[4] = c - d;
    r[5] = x[3];
}

/// Where the transform of a plane's tiles goes: 36 blocks `xi_stride` apart,
/// each laid out in panels `panel` columns wide (`pack_b_full`'s layout when
/// `panel` is NR, rows of all the columns when it is the column count).
struct winograd_destination {
    std::size_t panel, xi_stride, planes;
    /// Start of plane p's run of columns from `column` on.
    template <class T>
    T* at(T* base, std::size_t p, std::size_t column) const
    {
        return base + (column / panel) * planes * panel + p * panel + column % panel;
    }
};

/// R d R^T for the N x N blocks d of one vector of tiles, where
/// `load_row(i, d[i])` fills row i of the blocks and `rows` applies R to a
/// column of N vectors; position xi = 6 a + b goes to out + xi * xi_stride.
template <int N, class V, class LoadRow, class Rows>
LEPTON_ALWAYS_INLINE void winograd_transform_tiles(LoadRow&& load_row, Rows&& rows, typename V::value_type* out,
                                                   std::size_t xi_stride)
{
    V e[N][6];  // d R^T, row by row
    for (int i = 0; i < N; ++i) {
        V d[N];
        load_row(i, d);
        rows(d, e[i]);
    }
    for (int j = 0; j < 6; ++j) {
        V x[N], r[6];
        for (int i = 0; i < N; ++i) x[i] = e[i][j];
        rows(x, r);
        for (int a = 0; a < 6; ++a) r[a].store_unaligned(out + std::size_t(a * 6 + j) * xi_stride);
    }
}

#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// Element (i, j) of 16 tiles, four tile rows of four, from `rows[r]`, input
/// row i of tile row r (j < 4: from its column 0 on; j >= 4: pass the rows
/// from column 4 on and j - 4). Lane 4 r + tx is column 4 tx + j of rows[r]:
/// one two-source permute serves tile rows 0 and 1, one 2 and 3, and a blend
/// joins the halves. This costs a fraction of a gather.
LEPTON_ALWAYS_INLINE __m512 winograd_pick_tiles(const __m512 (&rows)[4], int j)
{
    const __m512i lanes = _mm512_add_epi32(_mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0),
                                           _mm512_set1_epi32(j));
    return _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(rows[0], lanes, rows[1]),
                                _mm512_permutex2var_ps(rows[2], lanes, rows[3]));
}

/// Columns [col0, col0 + 16) of the rows of a plane [h][w] placed at (top,
/// left) in zeros: lanes inside the plane load, the others are zero and never
/// touch memory.
struct winograd_padded_rows {
    const float* plane;
    std::ptrdiff_t h, w, top, left;

    __mmask16 columns(std::ptrdiff_t col0) const
    {
        const std::ptrdiff_t first = std::max<std::ptrdiff_t>(0, left - col0);
        const std::ptrdiff_t last = std::clamp<std::ptrdiff_t>(left + w - col0, 0, 16);
        return last <= first ? __mmask16(0) : __mmask16(((1u << last) - 1) & ~((1u << first) - 1));
    }
    __m512 row(std::ptrdiff_t py, std::ptrdiff_t col0, __mmask16 mask) const
    {
        // Rows outside the plane load with an empty mask, which touches no
        // memory: selects instead of a branch per row.
        const std::ptrdiff_t y = py - top;
        const bool inside = std::size_t(y) < std::size_t(h);
        const float* from = inside ? plane + y * w + (col0 - left) : plane;
        return _mm512_maskz_loadu_ps(inside ? mask : __mmask16(0), from);
    }
};
#endif

/// Copies plane p of each of `images` images (`image_stride` apart, planes
/// [h][w]) into its zero-padded block: block i at blocks + i * block_size,
/// rows `row_w` apart, the plane at (top, left), cut to the block. A row of n
/// values goes by `copy_row(src, n, dst)`.
template <class T, class CopyRow>
LEPTON_ALWAYS_INLINE void copy_planes_into_blocks(const winograd_tiling& t, std::size_t images, std::size_t p,
                                                  const T* data, std::size_t image_stride, std::size_t h,
                                                  std::size_t w, std::size_t top, std::size_t left, T* blocks,
                                                  std::size_t block_size, std::size_t row_w, CopyRow copy_row)
{
    const std::size_t rows_in = std::min(h, t.block_h - top), cols_in = std::min(w, t.block_w - left);
    for (std::size_t image = 0; image < images; ++image) {
        const T* src = data + image * image_stride + p * h * w;
        T* block = blocks + image * block_size;
        for (std::size_t y = 0; y < rows_in; ++y) copy_row(src + y * w, cols_in, block + (y + top) * row_w + left);
    }
}

#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// The 4x4 transposes of the two 128-bit halves: in each half, lane q of
/// out[j] is lane j of x[q].
LEPTON_ALWAYS_INLINE void transpose_quads(const __m256 (&x)[4], __m256 (&out)[4])
{
    const __m256 low01 = _mm256_unpacklo_ps(x[0], x[1]), low23 = _mm256_unpacklo_ps(x[2], x[3]);
    const __m256 high01 = _mm256_unpackhi_ps(x[0], x[1]), high23 = _mm256_unpackhi_ps(x[2], x[3]);
    out[0] = _mm256_shuffle_ps(low01, low23, 0x44);
    out[1] = _mm256_shuffle_ps(low01, low23, 0xEE);
    out[2] = _mm256_shuffle_ps(high01, high23, 0x44);
    out[3] = _mm256_shuffle_ps(high01, high23, 0xEE);
}

/// The 128-bit halves at `low` and `high` as one vector.
LEPTON_ALWAYS_INLINE __m256 load_halves(const float* low, const float* high)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(low)), _mm_loadu_ps(high), 1);
}

/// Stores the first n (at most 4) lanes of v.
LEPTON_ALWAYS_INLINE void store_first_lanes(float* dst, __m128 v, std::ptrdiff_t n)
{
    if (n >= 4) {
        _mm_storeu_ps(dst, v);
        return;
    }
    if (n >= 2) _mm_storel_pi(reinterpret_cast<__m64*>(dst), v);
    if (n == 3) _mm_store_ss(dst + 2, _mm_movehl_ps(v, v));
    if (n == 1) _mm_store_ss(dst, v);
}

/// Copies the n floats at src to dst a vector at a time, the last one masked:
/// its lanes past n are written as zeros, so dst needs room for 7 more.
/// (Short rows copied by std::copy cost a call to memmove each.)
LEPTON_ALWAYS_INLINE void copy_row_zero_filled(const float* src, std::size_t n, float* dst)
{
    std::size_t x = 0;
    for (; x + 8 <= n; x += 8) _mm256_storeu_ps(dst + x, _mm256_loadu_ps(src + x));
    if (x < n) {
        const __m256i inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - x)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_storeu_ps(dst + x, _mm256_maskload_ps(src + x, inside));
    }
}

/// `winograd_transform_planes` (N = 6) with quads of tiles (`winograd_tiling::quads`).
/// Each plane is copied into zeros, rows 8 wider than the tiles' blocks (room
/// for the second loads and for `copy_row_zero_filled`), so that row i of a tile's 6x6 block is two
/// loads of 4: a 4x4 transpose of the first loads of the four tiles in a half
/// gives the blocks' columns 0-3, one of the second loads columns 4-5.
/// Gathers cost several times as much (about 20 micro-ops each on a Zen 1 core).
template <class Rows>
void winograd_transform_quads(const winograd_tiling& t, std::size_t images, std::size_t count, const float* data,
                              std::size_t image_stride, std::size_t h, std::size_t w, std::size_t top,
                              std::size_t left, const winograd_destination& dest, float* out, Rows rows)
{
    using vec = simd::batch<float>;
    const std::size_t row_w = t.block_w + 8, block_size = t.block_h * row_w;
    const std::size_t used = images * t.tiles, columns = (used + 7) / 8 * 8;
    thread_local scratch<float> block_buffer;
    thread_local scratch<std::size_t> corner_buffer;
    // One more block of zeros for the columns that only round up to a whole vector.
    float* blocks = block_buffer.get((images + 1) * block_size);
    std::size_t* corners = corner_buffer.get(columns);
    for (std::size_t column = 0; column < columns; ++column) {
        const auto at = t.tile_at(column);
        corners[column] = column < used ? at.image * block_size + at.row * row_w + at.col : images * block_size;
    }
    // The padding stays zero: every plane writes the same interiors.
    std::fill(blocks, blocks + (images + 1) * block_size, 0.0f);
    for (std::size_t p = 0; p < count; ++p) {
        copy_planes_into_blocks(t, images, p, data, image_stride, h, w, top, left, blocks, block_size, row_w,
                                [](const float* src, std::size_t n, float* dst) { copy_row_zero_filled(src, n, dst); });
        for (std::size_t column = 0; column < columns; column += 8) {
            const float* tile[8];
            for (int q = 0; q < 8; ++q) tile[q] = blocks + corners[column + std::size_t(q)];
            auto load_row = [&](int i, vec (&d)[6]) {
                const std::size_t offset = std::size_t(i) * row_w;
                __m256 first[4], second[4], picked[4];
#pragma GCC unroll 4
                for (int q = 0; q < 4; ++q) {
                    first[q] = load_halves(tile[q] + offset, tile[4 + q] + offset);
                    second[q] = load_halves(tile[q] + offset + 4, tile[4 + q] + offset + 4);
                }
                transpose_quads(first, picked);
                for (int j = 0; j < 4; ++j) d[j] = picked[j];
                const __m256 low01 = _mm256_unpacklo_ps(second[0], second[1]), low23 = _mm256_unpacklo_ps(second[2], second[3]);
                d[4] = _mm256_shuffle_ps(low01, low23, 0x44);
                d[5] = _mm256_shuffle_ps(low01, low23, 0xEE);
            };
            winograd_transform_tiles<6, vec>(load_row, rows, dest.at(out, p, column), dest.xi_stride);
        }
    }
}
#endif

/// R d R^T for the N x N blocks d of every tile of the `count` planes [h][w]
/// of `images` images (`image_stride` apart), zero-padded by `top` rows and
/// `left` columns, tiled by `t` (tile (ty, tx) starts at padded (4 ty, 4 tx);
/// image i's tiles are columns i * t.tiles on), written to `out` as `dest`
/// says. The columns that only round up to a whole vector read zeros.
template <int N, class T, class Rows>
void winograd_transform_planes(const winograd_tiling& t, std::size_t images, std::size_t count, const T* data,
                               std::size_t image_stride, std::size_t h, std::size_t w, std::size_t top,
                               std::size_t left, const winograd_destination& dest, T* out, Rows rows)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float> && W == 16)
        if (t.rows_of_four) {
            // A vector holds four rows of four tiles of one image: pick them out of the rows.
            for (std::size_t image = 0; image < images; ++image)
                for (std::size_t p = 0; p < count; ++p) {
                    const T* plane = data + image * image_stride + p * h * w;
                    // The planes come from memory, in order: ask for the next one early.
                    for (std::size_t b = 0; b < h * w * sizeof(float); b += 64)
                        _mm_prefetch(reinterpret_cast<const char*>(plane + h * w) + b, _MM_HINT_T0);
                    const winograd_padded_rows source{plane, std::ptrdiff_t(h), std::ptrdiff_t(w), std::ptrdiff_t(top),
                                                      std::ptrdiff_t(left)};
                    const __mmask16 left_mask = source.columns(0), right_mask = source.columns(4);
                    for (std::size_t tile = 0; tile < t.tiles; tile += 16) {
                        // Tiles [tile, tile + 16) are tile rows tile / 4 on: padded rows `tile` on.
                        auto load_row = [&](int i, vec (&d)[N]) {
                            __m512 from0[4], from4[4];
                            for (int r = 0; r < 4; ++r)
                                from0[r] = source.row(std::ptrdiff_t(tile) + 4 * r + i, 0, left_mask);
                            constexpr int from_left = N < 4 ? N : 4;
                            for (int j = 0; j < from_left; ++j) d[j] = winograd_pick_tiles(from0, j);
                            if constexpr (N > 4) {
                                for (int r = 0; r < 4; ++r)
                                    from4[r] = source.row(std::ptrdiff_t(tile) + 4 * r + i, 4, right_mask);
                                for (int j = 4; j < N; ++j) d[j] = winograd_pick_tiles(from4, j - 4);
                            }
                        };
                        winograd_transform_tiles<N, vec>(load_row, rows, dest.at(out, p, image * t.tiles + tile),
                                                         dest.xi_stride);
                    }
                }
            return;
        }
#endif
#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float> && W == 8 && N == 6)
        if (t.quads) {
            winograd_transform_quads(t, images, count, data, image_stride, h, w, top, left, dest, out, rows);
            return;
        }
#endif
    // Otherwise gather from zero-padded copies of plane p of every image, with
    // zero rows below them for the columns that only round up to a whole vector.
    using index = xsimd::as_integer_t<T>;
    using index_vec = simd::index_batch<T>;
    const std::size_t block_size = t.block_h * t.block_w, used = images * t.tiles, columns = (used + W - 1) / W * W;
    thread_local scratch<T> block_buffer;
    thread_local scratch<index> corner_buffer;
    T* blocks = block_buffer.get(images * block_size + 6 * t.block_w);
    index* corners = corner_buffer.get(columns);
    for (std::size_t column = 0; column < columns; ++column) {
        const auto at = t.tile_at(column);
        corners[column] = index(column < used ? at.image * block_size + at.row * t.block_w + at.col : images * block_size);
    }
    // The padding stays zero: every plane writes the same interiors.
    std::fill(blocks, blocks + images * block_size + 6 * t.block_w, T(0));
    for (std::size_t p = 0; p < count; ++p) {
        copy_planes_into_blocks(t, images, p, data, image_stride, h, w, top, left, blocks, block_size, t.block_w,
                                [](const T* src, std::size_t n, T* dst) { std::copy(src, src + n, dst); });
        for (std::size_t column = 0; column < columns; column += W) {
            const index_vec corner = index_vec::load_aligned(corners + column);
            auto load_row = [&](int i, vec (&d)[N]) {
                for (int j = 0; j < N; ++j)
                    d[j] = simd::gather(blocks + std::size_t(i) * t.block_w + std::size_t(j), corner);
            };
            winograd_transform_tiles<N, vec>(load_row, rows, dest.at(out, p, column), dest.xi_stride);
        }
    }
}

/// V_xi = B^T d B for every tile and channel of `images` consecutive images [c, in_h, in_w] (`g`), written as `dest` says.
template <class T>
void winograd_transform_input(const implicit_conv_geometry& g, const winograd_tiling& t, std::size_t images,
                              const T* data, const winograd_destination& dest, T* v)
{
    using vec = simd::batch<T>;
    winograd_transform_planes<6>(t, images, g.channels, data, g.channels * g.in_h * g.in_w, g.in_h, g.in_w, g.pad_top,
                                 g.pad_left, dest, v, [](const vec (&x)[6], vec (&r)[6]) { winograd_input_rows(x, r); });
}

#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// Writes the 4x4 tiles y[i][j] of 16 lanes, four rows of four tiles (an
/// output 16 wide), as output rows first_row + 4 * r + i for r < 4, skipping
/// rows past `out_h` and columns past `out_w`; plus the same rows of `addend`
/// when it is not null.
inline void winograd_store_rows_of_four(const __m512 (&y)[4][4], std::size_t first_row, std::size_t out_h,
                                        std::size_t out_w, float* out, const float* addend)
{
    // Output lane 4 * tx + j of row r is lane 4 * r + tx of y[i][j]: two
    // two-source permutes give the even and odd j, a blend the halves.
    const __m512i base = _mm512_set_epi32(19, 3, 19, 3, 18, 2, 18, 2, 17, 1, 17, 1, 16, 0, 16, 0);
    const __mmask16 columns = out_w >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << out_w) - 1);
    for (int r = 0; r < 4; ++r) {
        const __m512i lanes = _mm512_add_epi32(base, _mm512_set1_epi32(4 * r));
        for (int i = 0; i < 4; ++i) {
            const std::size_t row = first_row + std::size_t(4 * r + i);
            if (row >= out_h) continue;
            const __m512 low = _mm512_permutex2var_ps(y[i][0], lanes, y[i][1]);
            const __m512 high = _mm512_permutex2var_ps(y[i][2], lanes, y[i][3]);
            __m512 pixels = _mm512_mask_blend_ps(0xCCCC, low, high);
            if (addend) pixels = _mm512_add_ps(pixels, _mm512_maskz_loadu_ps(columns, addend + row * out_w));
            _mm512_mask_storeu_ps(out + row * out_w, columns, pixels);
        }
    }
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// Where an output tile goes (`winograd_tiling::quads`): its top-left pixel's
/// offset in the group's outputs for output channel 0, and how many of its 4
/// rows and 4 columns lie inside the image (no rows: a column that only
/// rounds up to a whole vector).
struct winograd_output_tile {
    std::size_t offset;
    std::ptrdiff_t rows, cols;
};

/// Writes the 4x4 tiles y[i][j] of a vector to where `tile[0..7]` say, plus
/// `out`: a 4x4 transpose per row i and half turns four tiles' lanes into
/// their rows of four pixels.
LEPTON_ALWAYS_INLINE void winograd_store_quads(const simd::batch<float> (&y)[4][4], const winograd_output_tile* tile,
                                               std::size_t out_w, float* out)
{
    for (int i = 0; i < 4; ++i) {
        __m256 pixels[4];
        transpose_quads({y[i][0], y[i][1], y[i][2], y[i][3]}, pixels);
        for (int q = 0; q < 4; ++q) {
            const winograd_output_tile& low = tile[q];
            const winograd_output_tile& high = tile[4 + q];
            if (i < low.rows)
                store_first_lanes(out + low.offset + std::size_t(i) * out_w, _mm256_castps256_ps128(pixels[q]), low.cols);
            if (i < high.rows)
                store_first_lanes(out + high.offset + std::size_t(i) * out_w, _mm256_extractf128_ps(pixels[q], 1),
                                  high.cols);
        }
    }
}
#endif

/// y = max(A^T M A + b, floor) for one vector of tiles whose 36 positions start at `col`, `xi_stride` apart.
template <class V>
LEPTON_ALWAYS_INLINE void winograd_output_tiles(const typename V::value_type* col, std::size_t xi_stride, V b,
                                                V floor, V (&y)[4][4])
{
    // M A row by row, then A^T on its columns, one parity of output columns at
    // a time: the even ones (0, 2) need M's columns 0-4, the odd ones (1, 3)
    // columns 1-5. Twelve vectors of M A are live at a time, within AVX2's 16
    // registers; all 24 at once spill to the stack.
    auto columns = [&](auto odd) {
        V t[6][2];
#pragma GCC unroll 6
        for (int a = 0; a < 6; ++a) {
            const auto* row = col + std::size_t(a * 6) * xi_stride;
            auto m = [&](int k) { return V::load_aligned(row + std::size_t(k) * xi_stride); };
            if constexpr (decltype(odd)::value) {
                const V p = m(1) - m(2), q = m(3) - m(4);
                t[a][0] = xsimd::fma(V(2), q, p);
                t[a][1] = xsimd::fma(V(8), q, p) + m(5);
            } else {
                const V p = m(1) + m(2), q = m(3) + m(4);
                t[a][0] = m(0) + p + q;
                t[a][1] = xsimd::fma(V(4), q, p);
            }
        }
#pragma GCC unroll 2
        for (int k = 0; k < 2; ++k) {
            V x[6], r[4];
#pragma GCC unroll 6
            for (int a = 0; a < 6; ++a) x[a] = t[a][k];
            winograd_output_rows(x, r);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) y[i][2 * k + int(decltype(odd)::value)] = xsimd::max(r[i] + b, floor);
        }
    };
    columns(std::false_type{});
    columns(std::true_type{});
}

/// Y = A^T M A (+ bias, then max(0, .) with `relu`) for every tile and output
/// channel of the group's images, written to images [m, out_h, out_w], plus
/// `addend` (images of the same shape) when not null. M is 36 blocks
/// [m][columns], `m_stride` apart.
template <class T>
void winograd_transform_output(const implicit_conv_geometry& g, const winograd_tiling& t, std::size_t m,
                               std::size_t images, const T* mxi, const T* bias, bool relu, T* out,
                               const T* addend = nullptr)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t xi_stride = t.m_stride<T>(m), columns = t.columns<T>(), oh = g.out_h(), ow = g.out_w();
    const vec floor(relu ? T(0) : -std::numeric_limits<T>::infinity());
    // With four tiles to a row (AVX-512) a float vector holds four rows of one
    // image's tiles, written straight to the image; with AVX2 each tile is
    // written straight to where `tiles` says; otherwise the lanes run across
    // images, through Y_ij [16][columns] of one output channel.
    thread_local scratch<T> phase_buffer;
    T* phases = t.rows_of_four || t.quads ? nullptr : phase_buffer.get(16 * columns);
    // A partial last group fills fewer columns; the rest hold nothing of its images.
    const std::size_t filled = (images * t.tiles + W - 1) / W * W;
#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    thread_local scratch<detail::winograd_output_tile> tile_buffer;
    detail::winograd_output_tile* tiles = t.quads ? tile_buffer.get(filled) : nullptr;
    for (std::size_t column = 0; t.quads && column < filled; ++column) {
        const auto at = t.tile_at(column);
        tiles[column] = column < images * t.tiles
                            ? detail::winograd_output_tile{at.image * m * oh * ow + at.row * ow + at.col,
                                                           std::ptrdiff_t(std::min<std::size_t>(4, oh - at.row)),
                                                           std::ptrdiff_t(std::min<std::size_t>(4, ow - at.col))}
                            : detail::winograd_output_tile{0, 0, 0};
    }
#endif
    for (std::size_t o = 0; o < m; ++o) {
        for (std::size_t column = 0; column < filled; column += W) {
            vec y[4][4];
            winograd_output_tiles(mxi + o * columns + column, xi_stride, vec(bias ? bias[o] : T(0)), floor, y);
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
            if constexpr (std::is_same_v<T, float> && W == 16)
                if (t.rows_of_four) {
                    __m512 lanes[4][4];
                    for (int i = 0; i < 4; ++i)
                        for (int j = 0; j < 4; ++j) lanes[i][j] = y[i][j];
                    // Tiles [tile, tile + 16) of an image are tile rows tile / 4 on: output rows `tile` on.
                    const std::size_t image = column / t.tiles, tile = column % t.tiles;
                    const std::size_t plane = (image * m + o) * oh * ow;
                    // The next image's plane of this channel lies a whole image away: ask for it early.
                    if (tile == 0 && image + 1 < images) {
                        prefetch_for_writing(out + plane + m * oh * ow, oh * ow);
                        if (addend) prefetch(addend + plane + m * oh * ow, oh * ow);
                    }
                    winograd_store_rows_of_four(lanes, tile, oh, ow, out + plane, addend ? addend + plane : nullptr);
                    continue;
                }
#endif
#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
            if constexpr (std::is_same_v<T, float> && W == 8)
                if (t.quads) {
                    detail::winograd_store_quads(y, tiles + column, ow, out + o * oh * ow);
                    continue;
                }
#endif
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) y[i][j].store_aligned(phases + std::size_t(i * 4 + j) * columns + column);
        }
        // Output (4 ty + i, 4 tx + j) of an image is its tile ty * tiles_w + tx of Y_ij.
        for (std::size_t image = 0; phases && image < images; ++image) {
            T* dst = out + (image * m + o) * oh * ow;
            for (std::size_t row = 0; row < oh; ++row) {
                const T* phase_row = phases + (row % 4) * 4 * columns + image * t.tiles + (row / 4) * t.tiles_w;
                for (std::size_t x = 0; x < ow; ++x) dst[row * ow + x] = phase_row[(x % 4) * columns + x / 4];
            }
        }
        // The addend joins each plane while the plane is still in L1 (as the
        // rows are stored, with four tiles to a row), which saves the caller a
        // pass over both whole tensors.
        for (std::size_t image = 0; addend && !t.rows_of_four && image < images; ++image) {
            const std::size_t plane = (image * m + o) * oh * ow;
            map(oh * ow, out + plane, addend + plane, out + plane, [](auto u, auto v) { return u + v; });
        }
    }
}

#if defined(__AVX2__) && !defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// The transpose of the 8 x 8 float block at `src` (rows `ld` apart): column c
/// in out[c]. Rows from `valid` on are taken as zero and not read.
LEPTON_ALWAYS_INLINE void transpose_8x8(const float* src, std::size_t ld, __m256 out[8], int valid)
{
    __m256 r[8], t[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = i < valid ? _mm256_loadu_ps(src + std::size_t(i) * ld) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // r[4h + q]: in each 128-bit half, column q (of that half) of rows 4h .. 4h + 3.
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        r[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        r[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        r[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        r[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
        out[q] = _mm256_permute2f128_ps(r[q], r[4 + q], 0x20);
        out[4 + q] = _mm256_permute2f128_ps(r[q], r[4 + q], 0x31);
    }
}
#endif

/// Writes the `channels` planes [h][w] of one image channels last: pixel (y, x)
/// puts its values at dst + ((y + top) * row_pixels + x + left) * lanes.
/// Pixels outside the image are left as they are; so are the lanes from
/// `channels` on, except that the vector code writes zeros up to the next
/// multiple of its block (16 floats with AVX-512, 8 with AVX2), which `lanes`
/// must reach.
template <class T>
void copy_channels_last(const T* src, std::size_t channels, std::size_t h, std::size_t w, std::size_t top,
                        std::size_t left, std::size_t row_pixels, std::size_t lanes, T* dst)
{
    const std::size_t pixels = h * w;
    auto at = [&](std::size_t y, std::size_t x) { return dst + ((y + top) * row_pixels + x + left) * lanes; };
    std::size_t p0 = 0;
    // Blocks of B channels by B pixels are transposed in registers, channel
    // blocks outermost, so that B planes stream in at a time.
    auto blocks = [&](auto block_size, auto transpose_store) {
        constexpr std::size_t B = decltype(block_size)::value;
        const std::size_t whole = pixels / B * B;
        for (std::size_t c0 = 0; c0 < channels; c0 += B)
            for (std::size_t p = 0, y = 0, x = 0; p < whole; p += B) {
                T* out[B];
                for (std::size_t q = 0; q < B; ++q) {
                    out[q] = at(y, x) + c0;
                    if (++x == w) x = 0, ++y;
                }
                transpose_store(src + c0 * pixels + p, std::min(B, channels - c0), out);
            }
        return whole;
    };
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float>)
        p0 = blocks(std::integral_constant<std::size_t, 16>{}, [&](const float* from, std::size_t valid, float* (&out)[16]) {
            __m512 columns[16];
            if (valid == 16)
                transpose_16x16(from, pixels, columns);
            else
                transpose_16x16(from, pixels, columns, int(valid));
#pragma GCC unroll 16
            for (int q = 0; q < 16; ++q) _mm512_storeu_ps(out[q], columns[q]);
        });
#elif defined(__AVX2__) && !defined(LEPTON_KERNELS_SCALAR)
    if constexpr (std::is_same_v<T, float>)
        p0 = blocks(std::integral_constant<std::size_t, 8>{}, [&](const float* from, std::size_t valid, float* (&out)[8]) {
            __m256 columns[8];
            transpose_8x8(from, pixels, columns, int(valid));
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) _mm256_storeu_ps(out[q], columns[q]);
        });
#else
    (void)blocks;
#endif
    for (std::size_t p = p0; p < pixels; ++p) {
        T* out = at(p / w, p % w);
        for (std::size_t c = 0; c < channels; ++c) out[c] = src[c * pixels + p];
    }
}

/// acc[i][:] += sum over k < depth of a[k * a_step + i] * b[k * b_step + :]
/// for a block of R rows and NV vectors of columns, added to c (rows `ldc`
/// apart): the products of the weight gradient, whose operands both hold
/// channels in consecutive lanes, so neither needs packing.
template <class T, int R, int NV>
LEPTON_NOINLINE void accumulate_outer_products(std::size_t depth, const T* a, std::size_t a_step, const T* b,
                                               std::size_t b_step, T* c, std::size_t ldc)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    vec acc[R][NV];
    simd::zero_tile(acc);
    for (std::size_t k = 0; k < depth; ++k) {
        vec bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) bv[j] = vec::load_aligned(b + std::size_t(j) * W);
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) {
            const vec ai(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(ai, bv[j], acc[i][j]);
        }
        a += a_step;
        b += b_step;
    }
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
            T* out = c + std::size_t(i) * ldc + std::size_t(j) * W;
            (vec::load_aligned(out) + acc[i][j]).store_aligned(out);
        }
}

/// z = G^T x for one column x of six vectors: the transpose of the weight
/// transform, which takes the 36 positions back to a 3x3 kernel.
template <class V>
LEPTON_ALWAYS_INLINE void winograd_kernel_rows(const V (&x)[6], V (&z)[3])
{
    const V sixth(T_of<V>(1) / 6), twelfth(T_of<V>(1) / 12), twentyfourth(T_of<V>(1) / 24);
    const V inner = x[1] + x[2], outer = x[3] + x[4];
    z[0] = xsimd::fma(V(T_of<V>(1) / 4), x[0], xsimd::fma(twentyfourth, outer, -sixth * inner));
    z[1] = xsimd::fma(sixth, x[2] - x[1], twelfth * (x[3] - x[4]));
    z[2] = xsimd::fma(sixth, outer - inner, x[5]);
}

} // namespace detail

/// out = the 3x3 convolutions of `count` consecutive images [channels, in_h, in_w]
/// with the kernels `winograd_transform_weights` turned into `packed_u`, each
/// to [m, out_h, out_w] (+ bias per output channel when not null; then
/// max(0, .) with `relu`; then + `addend`, images shaped like `out`, when not
/// null). `g` describes a 3x3, stride-1, undilated convolution of one image.
/// Single-threaded: callers spread images.
template <class T>
void winograd_conv(const implicit_conv_geometry& g, std::size_t m, const T* packed_u, const T* images,
                   std::size_t count, const T* bias, T* out, bool relu = false, const T* addend = nullptr)
{
    constexpr std::size_t NR = std::size_t(gemm_blocking<T>::nr), KC = gemm_blocking<T>::kc;
    static_assert(NR % simd::width<T> == 0, "the transforms store whole vectors into the GEMM's B panels");
    const winograd_tiling t = winograd_tiling::of<T>(g, m);
    const std::size_t c = g.channels, in_size = c * g.in_h * g.in_w, out_size = m * g.out_h() * g.out_w();
    const std::size_t v_stride = t.v_stride<T>(c), m_stride = t.m_stride<T>(m), u_stride = packed_a_size<T>(m, c);
    thread_local scratch<T> v_buffer, m_buffer;
    T* v = v_buffer.get(winograd_positions * v_stride);
    T* mxi = m_buffer.get(winograd_positions * m_stride);
    for (std::size_t first = 0; first < count; first += t.images) {
        const std::size_t group = std::min(t.images, count - first);
        detail::winograd_transform_input(g, t, group, images + first * in_size,
                                         detail::winograd_destination{NR, v_stride, c}, v);
        for (std::size_t xi = 0; xi < winograd_positions; ++xi) {
            packed_a<T> u{packed_u + xi * u_stride, c};
            for (std::size_t p0 = 0; p0 < c; p0 += KC) {
                const std::size_t kc = std::min(KC, c - p0);
                detail::gemm_row_block(0, m, group * t.tiles, p0, kc, u, v + xi * v_stride + p0 * NR, c * NR,
                                       mxi + xi * m_stride, t.columns<T>(), T(1), p0 == 0 ? T(0) : T(1));
            }
        }
        detail::winograd_transform_output(g, t, m, group, mxi, bias, relu, out + first * out_size,
                                          addend ? addend + first * out_size : nullptr);
    }
}

/// dw [m][c][3][3] += the weight gradient of the 3x3 convolution `g` (stride
/// 1, undilated) of `count` consecutive images [c, in_h, in_w], given their
/// output gradients dy [m, out_h, out_w] (and db [m] += dy summed, when not
/// null). This is F(4x4, 3x3) run backwards: the forward pass is exact, so its
/// gradient is the weight gradient,
///     dW = G^T S G,  S_xi[c][o] = sum over tiles of (B^T d B)_xi[tile][c] * (A dY A^T)_xi[tile][o],
/// 36 products whose depth is the tiles, against 9 per pixel directly. Unlike
/// the forward pass, vector lanes are channels here: the images and gradients
/// are copied channels last (a transpose of 16 values per tile, where the
/// transforms write 36), so the transforms load whole vectors without picking
/// tiles out of rows, and both operands of the products arrive with channels
/// in consecutive lanes, as the products read them, with no packing.
/// Single-threaded: callers spread images and add up.
template <class T>
void winograd_weight_grad(const implicit_conv_geometry& g, std::size_t m, const T* images, const T* dy,
                          std::size_t count, T* dw, T* db)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size, slack = 64 / sizeof(T);
    // Rows of the products go 8 at a time (R below): channels round up to that too.
    constexpr std::size_t R = 8, c_round = W > R ? W : (R + W - 1) / W * W;
    const winograd_tiling t = winograd_tiling::of<T>(g, m);
    const std::size_t c = g.channels, oh = g.out_h(), ow = g.out_w(), in_size = c * g.in_h * g.in_w;
    const std::size_t out_size = m * oh * ow, tiles = t.tiles_h * t.tiles_w;
    const std::size_t c_lanes = (c + c_round - 1) / c_round * c_round, m_lanes = (m + W - 1) / W * W;
    // Padded copies, channels last: the image with its zero border, and the
    // gradient rounded up to whole tiles.
    const std::size_t image_pixels = t.block_h * t.block_w, grad_w = 4 * t.tiles_w, grad_pixels = 4 * t.tiles_h * grad_w;
    const std::size_t images_per_group = std::max<std::size_t>(
        1, winograd_group_bytes / (winograd_positions * (c_lanes + m_lanes) * tiles * sizeof(T)));
    const std::size_t group_tiles = std::min(images_per_group, count) * tiles;
    const std::size_t v_stride = group_tiles * c_lanes + slack, e_stride = group_tiles * m_lanes + slack;
    const std::size_t s_stride = c_lanes * m_lanes + slack;
    thread_local scratch<T> x_buffer, dy_buffer, v_buffer, e_buffer, s_buffer;
    const std::size_t x_size = std::min(images_per_group, count) * image_pixels * c_lanes;
    const std::size_t dy_size = std::min(images_per_group, count) * grad_pixels * m_lanes;
    T* xc = x_buffer.get(x_size);
    T* dyc = dy_buffer.get(dy_size);
    T* v = v_buffer.get(winograd_positions * v_stride);
    T* e = e_buffer.get(winograd_positions * e_stride);
    T* sums = s_buffer.get(winograd_positions * s_stride);
    // The borders and the lanes past the channels stay zero: every group writes the same interiors.
    std::fill(xc, xc + x_size, T(0));
    std::fill(dyc, dyc + dy_size, T(0));
    std::fill(sums, sums + winograd_positions * s_stride, T(0));
    for (std::size_t first = 0; first < count; first += images_per_group) {
        const std::size_t group = std::min(images_per_group, count - first), depth = group * tiles;
        for (std::size_t i = 0; i < group; ++i) {
            detail::copy_channels_last(images + (first + i) * in_size, c, g.in_h, g.in_w, g.pad_top, g.pad_left,
                                       t.block_w, c_lanes, xc + i * image_pixels * c_lanes);
            detail::copy_channels_last(dy + (first + i) * out_size, m, oh, ow, 0, 0, grad_w, m_lanes,
                                       dyc + i * grad_pixels * m_lanes);
        }
        // V_xi[tile][c] = B^T d B and E_xi[tile][o] = A dY A^T, tile by tile, a vector of channels at a time.
        for (std::size_t i = 0; i < group; ++i)
            for (std::size_t ty = 0; ty < t.tiles_h; ++ty)
                for (std::size_t tx = 0; tx < t.tiles_w; ++tx) {
                    const std::size_t k = i * tiles + ty * t.tiles_w + tx;
                    const T* x_corner = xc + (i * image_pixels + 4 * ty * t.block_w + 4 * tx) * c_lanes;
                    for (std::size_t c0 = 0; c0 < c_lanes; c0 += W)
                        detail::winograd_transform_tiles<6, vec>(
                            [&](int row, vec (&d)[6]) {
#pragma GCC unroll 6
                                for (int j = 0; j < 6; ++j)
                                    d[j] = vec::load_aligned(x_corner + (std::size_t(row) * t.block_w + std::size_t(j)) * c_lanes + c0);
                            },
                            [](const vec (&x)[6], vec (&r)[6]) { detail::winograd_input_rows(x, r); }, v + k * c_lanes + c0,
                            v_stride);
                    const T* dy_corner = dyc + (i * grad_pixels + 4 * ty * grad_w + 4 * tx) * m_lanes;
                    for (std::size_t o0 = 0; o0 < m_lanes; o0 += W)
                        detail::winograd_transform_tiles<4, vec>(
                            [&](int row, vec (&d)[4]) {
#pragma GCC unroll 4
                                for (int j = 0; j < 4; ++j)
                                    d[j] = vec::load_aligned(dy_corner + (std::size_t(row) * grad_w + std::size_t(j)) * m_lanes + o0);
                            },
                            [](const vec (&x)[4], vec (&r)[6]) { detail::winograd_grad_rows(x, r); }, e + k * m_lanes + o0,
                            e_stride);
                }
        // S_xi += V_xi^T E_xi, R channels by two vectors of outputs at a time.
        for (std::size_t xi = 0; xi < winograd_positions; ++xi)
            for (std::size_t c0 = 0; c0 < c_lanes; c0 += R) {
                const T* a = v + xi * v_stride + c0;
                T* s = sums + xi * s_stride + c0 * m_lanes;
                std::size_t o0 = 0;
                for (; o0 + 2 * W <= m_lanes; o0 += 2 * W)
                    detail::accumulate_outer_products<T, int(R), 2>(depth, a, c_lanes, e + xi * e_stride + o0, m_lanes,
                                                                    s + o0, m_lanes);
                if (o0 < m_lanes)
                    detail::accumulate_outer_products<T, int(R), 1>(depth, a, c_lanes, e + xi * e_stride + o0, m_lanes,
                                                                    s + o0, m_lanes);
            }
        // Position (1, 1) of A dY A^T is the sum of the tile.
        if (db) {
            const T* e11 = e + 7 * e_stride;
            for (std::size_t o0 = 0; o0 < m_lanes; o0 += W) {
                vec total(T(0));
                for (std::size_t k = 0; k < depth; ++k) total += vec::load_aligned(e11 + k * m_lanes + o0);
                alignas(64) T lanes[W];
                total.store_aligned(lanes);
                for (std::size_t lane = 0; lane < std::min(W, m - o0); ++lane) db[o0 + lane] += lanes[lane];
            }
        }
    }
    // dW += G^T S G, over W outputs at a time.
    alignas(64) T kernel[9][W];
    for (std::size_t ci = 0; ci < c; ++ci)
        for (std::size_t o0 = 0; o0 < m; o0 += W) {
            vec z[6][3];  // S G, row by row
            for (int a = 0; a < 6; ++a) {
                vec x[6];
                for (int b = 0; b < 6; ++b)
                    x[b] = vec::load_aligned(sums + std::size_t(a * 6 + b) * s_stride + ci * m_lanes + o0);
                detail::winograd_kernel_rows(x, z[a]);
            }
            for (int q = 0; q < 3; ++q) {
                vec x[6], r[3];
                for (int a = 0; a < 6; ++a) x[a] = z[a][q];
                detail::winograd_kernel_rows(x, r);
                for (int p = 0; p < 3; ++p) r[p].store_aligned(kernel[p * 3 + q]);
            }
            for (std::size_t lane = 0; lane < std::min(W, m - o0); ++lane)
                for (std::size_t k = 0; k < 9; ++k) dw[((o0 + lane) * c + ci) * 9 + k] += kernel[k][lane];
        }
}

#if defined(LEPTON_SEPARATE_KERNELS)
// Compiled once per program with LEPTON_SEPARATE_KERNELS (see target.hpp).
#define LEPTON_WINOGRAD_INSTANCES(T)                                                                                   \
    LEPTON_KERNEL_INSTANCE void winograd_transform_weights<T>(std::size_t, std::size_t, const T*, T*, T*, bool);      \
    LEPTON_KERNEL_INSTANCE void winograd_conv<T>(const implicit_conv_geometry&, std::size_t, const T*, const T*,      \
                                                 std::size_t, const T*, T*, bool, const T*);                          \
    LEPTON_KERNEL_INSTANCE void winograd_weight_grad<T>(const implicit_conv_geometry&, std::size_t, const T*,         \
                                                        const T*, std::size_t, T*, T*);
LEPTON_WINOGRAD_INSTANCES(float)
LEPTON_WINOGRAD_INSTANCES(double)
#undef LEPTON_WINOGRAD_INSTANCES
#endif

LEPTON_KERNELS_END
