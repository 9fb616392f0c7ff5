#pragma once
/// \file
/// Stride-1 convolution as an implicit GEMM, without an im2col matrix.
///
/// The image is copied once into a zero-padded buffer [C, Hp, Wp]. Computing
/// the output over the padded width (out_h rows of Wp columns, of which the
/// first out_w are kept) makes row k = (c, i, j) of the would-be im2col matrix
/// a contiguous slice of that buffer starting at c*Hp*Wp + i*dh*Wp + j*dw, so
/// the GEMM's B panels are packed straight from it with vector copies. The
/// weights are packed once per call and shared by every image.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../tensor/scratch.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// Geometry of a stride-1 convolution of one image (one channel group).
struct implicit_conv_geometry {
    std::size_t channels, in_h, in_w;
    std::size_t kernel_h, kernel_w, dilation_h, dilation_w;
    std::size_t pad_top, pad_bottom, pad_left, pad_right;

    constexpr std::size_t padded_h() const { return in_h + pad_top + pad_bottom; }
    constexpr std::size_t padded_w() const { return in_w + pad_left + pad_right; }
    constexpr std::size_t out_h() const { return padded_h() - dilation_h * (kernel_h - 1); }
    constexpr std::size_t out_w() const { return padded_w() - dilation_w * (kernel_w - 1); }
    /// Columns of the product: out_h rows of the padded width.
    constexpr std::size_t wide_pixels() const { return out_h() * padded_w(); }
    /// GEMM depth: one row per (channel, kernel row, kernel column).
    constexpr std::size_t depth() const { return channels * kernel_h * kernel_w; }
    /// Elements of the padded buffer, with slack for the last, partly used B panel.
    std::size_t padded_size() const
    {
        const std::size_t last_row = (channels - 1) * padded_h() * padded_w() +
                                     dilation_h * (kernel_h - 1) * padded_w() + dilation_w * (kernel_w - 1);
        const std::size_t nr = std::size_t(gemm_blocking<float>::nr) * 2;  // generous for any scalar type
        return last_row + wide_pixels() + nr;
    }

    /// Start of row k of the implicit im2col matrix in the padded buffer.
    std::vector<std::size_t> row_offsets() const
    {
        std::vector<std::size_t> off(depth());
        for (std::size_t c = 0, k = 0; c < channels; ++c)
            for (std::size_t i = 0; i < kernel_h; ++i)
                for (std::size_t j = 0; j < kernel_w; ++j, ++k)
                    off[k] = c * padded_h() * padded_w() + i * dilation_h * padded_w() + j * dilation_w;
        return off;
    }
};

/// Copies image [channels, in_h, in_w] into the zeroed, padded buffer.
template <class T>
void pad_image(const implicit_conv_geometry& g, const T* image, T* padded)
{
    std::fill(padded, padded + g.padded_size(), T(0));
    const std::size_t hp = g.padded_h(), wp = g.padded_w();
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t y = 0; y < g.in_h; ++y)
            std::memcpy(padded + (c * hp + y + g.pad_top) * wp + g.pad_left, image + (c * g.in_h + y) * g.in_w,
                        g.in_w * sizeof(T));
}

/// B panels of the implicit im2col matrix [depth, wide_pixels] read from a padded image.
template <class T>
struct implicit_columns {
    const T* padded;
    const std::size_t* offsets;

    void operator()(std::size_t j0, std::size_t cols, std::size_t p0, std::size_t kc, T* dst) const
    {
        constexpr int NR = gemm_blocking<T>::nr;
        // Columns past `cols` read padding or the next row: harmless, never stored.
        (void)cols;
        for (std::size_t kk = 0; kk < kc; ++kk) std::memcpy(dst + kk * NR, padded + offsets[p0 + kk] + j0, NR * sizeof(T));
    }
};

/// Up to this many output channels, `implicit_conv` multiplies directly: the
/// GEMM would pack every column of the implicit matrix for only a row or two of
/// weights, and the packing would cost more than the products (conv1's input
/// gradient, one channel from 32: 2.3 ms through the GEMM).
inline constexpr std::size_t few_outputs = 4;
/// Vectors of output computed together by the direct path.
inline constexpr std::size_t few_outputs_block = 4;

namespace detail {

/// wide_out [M][`stride`] = w * implicit_columns(padded), with w in
/// `pack_a_full` layout (one panel: w[o][k] at k * MR + o), for the wide pixels
/// rounded up to `few_outputs_block` vectors: reads run past the padded image
/// by less than that, writes up to `stride`. Every loaded input vector serves all M outputs.
template <class T, std::size_t M>
void implicit_conv_few_outputs(const implicit_conv_geometry& g, const std::size_t* offsets, const T* packed_w,
                               const T* padded, T* wide_out, std::size_t stride)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size, U = few_outputs_block, MR = std::size_t(gemm_blocking<T>::mr);
    const std::size_t wide = g.wide_pixels(), depth = g.depth();
    for (std::size_t p = 0; p < wide; p += U * W) {
        vec acc[M][U];
#pragma GCC unroll 4
        for (std::size_t o = 0; o < M; ++o)
#pragma GCC unroll 4
            for (std::size_t u = 0; u < U; ++u) acc[o][u] = vec(T(0));
        for (std::size_t k = 0; k < depth; ++k) {
            const T* src = padded + offsets[k] + p;
            vec in[U];
#pragma GCC unroll 4
            for (std::size_t u = 0; u < U; ++u) in[u] = vec::load_unaligned(src + u * W);
#pragma GCC unroll 4
            for (std::size_t o = 0; o < M; ++o) {
                const vec w(packed_w[k * MR + o]);
#pragma GCC unroll 4
                for (std::size_t u = 0; u < U; ++u) acc[o][u] = xsimd::fma(w, in[u], acc[o][u]);
            }
        }
#pragma GCC unroll 4
        for (std::size_t o = 0; o < M; ++o)
#pragma GCC unroll 4
            for (std::size_t u = 0; u < U; ++u) acc[o][u].store_unaligned(wide_out + o * stride + p + u * W);
    }
}

} // namespace detail

/// out [m, out_h, out_w] = W * implicit_columns(image) (+ bias per output channel;
/// then max(0, .) with `relu`),
/// with W packed by `pack_a_full` ([m, depth]). Single-threaded: callers spread images.
template <class T>
void implicit_conv(const implicit_conv_geometry& g, const std::size_t* offsets, std::size_t m, const T* packed_w,
                   const T* image, const T* bias, T* out, bool relu = false)
{
    constexpr std::size_t W = simd::width<T>;
    const std::size_t wide = g.wide_pixels(), wp = g.padded_w(), oh = g.out_h(), ow = g.out_w();
    thread_local scratch<T> padded_buffer, wide_buffer;
    constexpr std::size_t block = few_outputs_block * W;
    const bool few = m <= few_outputs;
    // The direct path runs to whole blocks of outputs: its reads, past the padded image, by less than a block.
    T* padded = padded_buffer.get(g.padded_size() + block);
    const std::size_t stride = few ? (wide + block - 1) / block * block : wide;
    T* wide_out = wide_buffer.get(m * stride);
    pad_image(g, image, padded);
    if (few) {
        auto direct = [&]<std::size_t M>(std::integral_constant<std::size_t, M>) {
            detail::implicit_conv_few_outputs<T, M>(g, offsets, packed_w, padded, wide_out, stride);
        };
        static_assert(few_outputs == 4);
        switch (m) {
        case 1: direct(std::integral_constant<std::size_t, 1>{}); break;
        case 2: direct(std::integral_constant<std::size_t, 2>{}); break;
        case 3: direct(std::integral_constant<std::size_t, 3>{}); break;
        default: direct(std::integral_constant<std::size_t, 4>{}); break;
        }
    } else
        gemm_packed(m, wide, g.depth(), T(1), packed_a<T>{packed_w, g.depth()}, implicit_columns<T>{padded, offsets},
                    T(0), wide_out, wide, 1);
    for (std::size_t o = 0; o < m; ++o) {
        const T b = bias ? bias[o] : T(0);
        for (std::size_t y = 0; y < oh; ++y) {
            const T* src = wide_out + o * stride + y * wp;
            T* dst = out + (o * oh + y) * ow;
            if (relu)
                for (std::size_t x = 0; x < ow; ++x) dst[x] = std::max(src[x] + b, T(0));
            else
                for (std::size_t x = 0; x < ow; ++x) dst[x] = src[x] + b;
        }
    }
}

/// Register blocking of the weight gradient: MO output channels by NK rows
/// of the implicit matrix, one vector accumulator each.
struct weight_grad_blocking {
    /// Output channels per tile.
    static constexpr int mo = simd::vector_registers == 32 ? 4 : 2;
    /// Rows of the implicit matrix (input channel, kernel row, kernel column) per tile.
    static constexpr int nk = simd::vector_registers == 32 ? 6 : 5;
    /// Depth up to which one tile spans all rows of the implicit matrix and
    /// sums the bias gradient too (a first layer on grey images: 1 x 3 x 3),
    /// with 2 output channels per tile: 20 accumulators. With 6 rows per tile,
    /// depth 9 would take two tiles, the second a third idle, and dY another pass.
    static constexpr int shallow_depth = simd::vector_registers == 32 ? 9 : 0;
};

namespace detail {

/// One vector step of a weight-gradient tile: acc[i][j] += dy_i[p..] * x_j[p..]
/// (and acc[i][NK] += dy_i[p..] with `Bias`), dY's vector read masked to
/// `lanes` when that is less than a whole vector.
template <class T, int MO, int NK, bool Bias>
LEPTON_ALWAYS_INLINE void weight_grad_step(simd::batch<T> (&acc)[MO][NK + Bias], const T* const* d,
                                           const T* const* xs, std::size_t p, std::size_t lanes)
{
    using vec = simd::batch<T>;
    vec dv[MO];
#pragma GCC unroll 32
    for (int i = 0; i < MO; ++i) dv[i] = lanes == vec::size ? vec::load_unaligned(d[i] + p) : simd::load_first(d[i] + p, lanes);
#pragma GCC unroll 32
    for (int j = 0; j < NK; ++j) {
        vec xv = vec::load_unaligned(xs[j] + p);
        simd::keep_in_register(xv);  // one (line-straddling) load for MO uses
#pragma GCC unroll 32
        for (int i = 0; i < MO; ++i) acc[i][j] = xsimd::fma(dv[i], xv, acc[i][j]);
    }
    if constexpr (Bias)
#pragma GCC unroll 32
        for (int i = 0; i < MO; ++i) acc[i][NK] = acc[i][NK] + dv[i];
}

/// A tile of weight-gradient sums: out[i][j] = sum over images s and output pixels (y, x) of
///   dy[s * dy_image + rows[i] * out_h * out_w + y * out_w + x] * x_in[s * x_image + offsets[j] + y * x_row + x],
/// dY as stored and the input as a padded image with rows `x_row` apart.
/// The pixels of a row run along the vector lanes (both operands are
/// contiguous there, so nothing is transposed or packed); each lane keeps a
/// partial sum and the lanes are added once at the end. A row's last, partial
/// vector reads dY masked, which zeroes whatever the input holds past the row.
/// dY spread to the padded width is one row per image (out_h = 1). With
/// `Bias`, out[i][NK] is the sum of dY's row i (out is MO x (NK + Bias)).
template <class T, int MO, int NK, bool Bias>
LEPTON_NOINLINE void weight_grad_tile(std::size_t images, std::size_t out_h, std::size_t out_w, const T* dy,
                                           std::size_t dy_image, const std::size_t* rows, const T* x_in,
                                           std::size_t x_image, std::size_t x_row, const std::size_t* offsets, T* out)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t plane = out_h * out_w, full = out_w / W * W, tail = out_w - full;
    constexpr int columns = NK + Bias;
    vec acc[MO][columns];
    simd::zero_tile(acc);
    for (std::size_t s = 0; s < images; ++s) {
        const T* d[MO];
        const T* xs[NK];
#pragma GCC unroll 32
        for (int i = 0; i < MO; ++i) d[i] = dy + s * dy_image + rows[i] * plane;
#pragma GCC unroll 32
        for (int j = 0; j < NK; ++j) xs[j] = x_in + s * x_image + offsets[j];
        for (std::size_t y = 0; y < out_h; ++y) {
            for (std::size_t p = 0; p < full; p += W) weight_grad_step<T, MO, NK, Bias>(acc, d, xs, p, W);
            if (tail) weight_grad_step<T, MO, NK, Bias>(acc, d, xs, full, tail);
#pragma GCC unroll 32
            for (int i = 0; i < MO; ++i) d[i] += out_w;
#pragma GCC unroll 32
            for (int j = 0; j < NK; ++j) xs[j] += x_row;
        }
    }
#pragma GCC unroll 32
    for (int i = 0; i < MO; ++i)
#pragma GCC unroll 32
        for (int j = 0; j < columns; ++j) out[i * columns + j] = simd::reduce_add(acc[i][j]);
}

} // namespace detail

/// dW [m, depth] += sum over `images` images of dY [m, out_h, out_w] * implicit_columns(image)^T,
/// and, when `db` is not null, db [m] += the sums of dY's channels (the bias
/// gradient, taken while dY is read anyway). Images are `image_stride`
/// elements apart in `images_in`, their output gradients `dy_stride` apart in
/// `dy`. Single-threaded: callers spread images.
template <class T>
void implicit_conv_weight_grad(const implicit_conv_geometry& g, const std::size_t* offsets, std::size_t m,
                               std::size_t images, const T* images_in, std::size_t image_stride, const T* dy,
                               std::size_t dy_stride, T* dw, T* db = nullptr)
{
    constexpr std::size_t W = simd::width<T>;
    const std::size_t wp = g.padded_w(), oh = g.out_h(), ow = g.out_w(), depth = g.depth();
    // Output rows at least a vector wide are read in place, row by row. Narrower
    // ones are spread to the padded width (zero in the columns the forward pass
    // drops) and rounded up to whole vectors, so that one run covers an image.
    // The padded image has slack for a vector running past a row.
    const bool in_place = ow >= W;
    const std::size_t pixels = in_place ? 0 : (g.wide_pixels() + W - 1) / W * W;
    const std::size_t padded = (g.padded_size() + W - 1) / W * W;
    // A group of images whose padded copies and gradients stay in L2 while
    // every tile of dW passes over them.
    const std::size_t per_image = (padded + m * (in_place ? oh * ow : pixels)) * sizeof(T);
    const std::size_t group = std::clamp<std::size_t>((384u << 10) / per_image, 1, images);
    thread_local scratch<T> padded_buffer, wide_buffer;
    T* xpad = padded_buffer.get(group * padded);
    T* wide_dy = in_place ? nullptr : wide_buffer.get(group * m * pixels);
    const bool shallow = depth <= std::size_t(weight_grad_blocking::shallow_depth);
    // dW (and with `Bias` db) for the group of images from s0 on: MO x NK tiles;
    // edge tiles repeat their last row or column and keep only the real ones.
    auto tiles = [&]<int MO, int NK, bool Bias>(std::size_t s0, std::size_t count) {
        T tile[MO * (NK + Bias)];
        std::size_t rows[MO], cols[NK];
        for (std::size_t o0 = 0; o0 < m; o0 += MO) {
            for (int i = 0; i < MO; ++i) rows[i] = std::min(o0 + std::size_t(i), m - 1);
            for (std::size_t k0 = 0; k0 < depth; k0 += NK) {
                for (int j = 0; j < NK; ++j) cols[j] = offsets[std::min(k0 + std::size_t(j), depth - 1)];
                if (in_place)
                    detail::weight_grad_tile<T, MO, NK, Bias>(count, oh, ow, dy + s0 * dy_stride, dy_stride, rows,
                                                              xpad, padded, wp, cols, tile);
                else
                    detail::weight_grad_tile<T, MO, NK, Bias>(count, 1, pixels, wide_dy, m * pixels, rows, xpad,
                                                              padded, 0, cols, tile);
                for (std::size_t i = 0; i < std::min<std::size_t>(MO, m - o0); ++i) {
                    for (std::size_t j = 0; j < std::min<std::size_t>(NK, depth - k0); ++j)
                        dw[(o0 + i) * depth + k0 + j] += tile[i * (NK + Bias) + j];
                    if (Bias && db) db[o0 + i] += tile[i * (NK + Bias) + NK];
                }
            }
        }
    };
    for (std::size_t s0 = 0; s0 < images; s0 += group) {
        const std::size_t count = std::min(group, images - s0);
        for (std::size_t s = 0; s < count; ++s) {
            pad_image(g, images_in + (s0 + s) * image_stride, xpad + s * padded);
            const T* dys = dy + (s0 + s) * dy_stride;
            if (!in_place) {
                T* wide = wide_dy + s * m * pixels;
                std::fill(wide, wide + m * pixels, T(0));
                for (std::size_t o = 0; o < m; ++o)
                    for (std::size_t y = 0; y < oh; ++y)
                        std::memcpy(wide + o * pixels + y * wp, dys + (o * oh + y) * ow, ow * sizeof(T));
            }
            if (db && !shallow)
                for (std::size_t o = 0; o < m; ++o) db[o] += sum(oh * ow, dys + o * oh * ow);
        }
        if constexpr (weight_grad_blocking::shallow_depth > 0)
            if (shallow) {
                tiles.template operator()<2, weight_grad_blocking::shallow_depth, true>(s0, count);
                continue;
            }
        tiles.template operator()<weight_grad_blocking::mo, weight_grad_blocking::nk, false>(s0, count);
    }
}

#if defined(LEPTON_SEPARATE_KERNELS)
// Compiled once per program with LEPTON_SEPARATE_KERNELS (see target.hpp).
#define LEPTON_IMPLICIT_CONV_INSTANCES(T)                                                                              \
    LEPTON_KERNEL_INSTANCE void implicit_conv<T>(const implicit_conv_geometry&, const std::size_t*, std::size_t,      \
                                                 const T*, const T*, const T*, T*, bool);                             \
    LEPTON_KERNEL_INSTANCE void implicit_conv_weight_grad<T>(const implicit_conv_geometry&, const std::size_t*,       \
                                                             std::size_t, std::size_t, const T*, std::size_t,         \
                                                             const T*, std::size_t, T*, T*);
LEPTON_IMPLICIT_CONV_INSTANCES(float)
LEPTON_IMPLICIT_CONV_INSTANCES(double)
#undef LEPTON_IMPLICIT_CONV_INSTANCES
#endif

LEPTON_KERNELS_END
