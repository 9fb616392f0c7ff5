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
#include <vector>

#include "../tensor/scratch.hpp"
#include "gemm.hpp"

namespace lepton::kernels {

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

/// B panels of the transposed implicit matrix [wide_pixels, depth] (for weight gradients).
template <class T>
struct implicit_columns_transposed {
    const T* padded;
    const std::size_t* offsets;

    void operator()(std::size_t j0, std::size_t cols, std::size_t p0, std::size_t kc, T* dst) const
    {
        constexpr std::size_t NR = std::size_t(gemm_blocking<T>::nr);
        // Interleave NR rows of the padded image, writing the panel front to back.
        const T* rows[NR];
        for (std::size_t c = 0; c < NR; ++c) rows[c] = c < cols ? padded + offsets[j0 + c] + p0 : nullptr;
        if (cols == NR) {
            for (std::size_t kk = 0; kk < kc; ++kk)
                for (std::size_t c = 0; c < NR; ++c) dst[kk * NR + c] = rows[c][kk];
        } else {
            for (std::size_t kk = 0; kk < kc; ++kk)
                for (std::size_t c = 0; c < NR; ++c) dst[kk * NR + c] = c < cols ? rows[c][kk] : T(0);
        }
    }
};

/// out [m, out_h, out_w] = W * implicit_columns(image) (+ bias per output channel),
/// with W packed by `pack_a_full` ([m, depth]). Single-threaded: callers spread images.
template <class T>
void implicit_conv(const implicit_conv_geometry& g, const std::size_t* offsets, std::size_t m, const T* packed_w,
                   const T* image, const T* bias, T* out)
{
    const std::size_t wide = g.wide_pixels(), wp = g.padded_w(), oh = g.out_h(), ow = g.out_w();
    thread_local scratch<T> padded_buffer, wide_buffer;
    T* padded = padded_buffer.get(g.padded_size());
    T* wide_out = wide_buffer.get(m * wide);
    pad_image(g, image, padded);
    gemm_packed(m, wide, g.depth(), T(1), packed_a<T>{packed_w, g.depth()}, implicit_columns<T>{padded, offsets},
                T(0), wide_out, wide, 1);
    for (std::size_t o = 0; o < m; ++o) {
        const T b = bias ? bias[o] : T(0);
        for (std::size_t y = 0; y < oh; ++y) {
            const T* src = wide_out + o * wide + y * wp;
            T* dst = out + (o * oh + y) * ow;
            for (std::size_t x = 0; x < ow; ++x) dst[x] = src[x] + b;
        }
    }
}

/// dW [m, depth] += dY [m, out_h, out_w] * implicit_columns(image)^T.
template <class T>
void implicit_conv_weight_grad(const implicit_conv_geometry& g, const std::size_t* offsets, std::size_t m,
                               const T* image, const T* dy, T* dw)
{
    const std::size_t wide = g.wide_pixels(), wp = g.padded_w(), oh = g.out_h(), ow = g.out_w();
    thread_local scratch<T> padded_buffer, wide_buffer;
    T* padded = padded_buffer.get(g.padded_size());
    T* wide_dy = wide_buffer.get(m * wide);
    pad_image(g, image, padded);
    // dY spread to the padded width, zero in the columns the forward pass dropped.
    for (std::size_t o = 0; o < m; ++o)
        for (std::size_t y = 0; y < oh; ++y) {
            T* dst = wide_dy + o * wide + y * wp;
            std::memcpy(dst, dy + (o * oh + y) * ow, ow * sizeof(T));
            std::fill(dst + ow, dst + wp, T(0));
        }
    constexpr int MR = gemm_blocking<T>::mr;
    auto pack_dy = [&](std::size_t i0, std::size_t rows, std::size_t p0, std::size_t kc, T* dst) {
        detail::pack_a<T, MR>(transpose::no, rows, kc, wide_dy + i0 * wide + p0, wide, dst);
    };
    gemm_packed(m, g.depth(), wide, T(1), pack_dy, implicit_columns_transposed<T>{padded, offsets}, T(1), dw,
                g.depth(), 1);
}

} // namespace lepton::kernels
