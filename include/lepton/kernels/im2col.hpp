#pragma once
/// \file
/// im2col / col2im for one image (or one channel group of it), channels first.
///
/// col has kernel_h * kernel_w rows per input channel and one column per output
/// pixel: col[(c * kh + i) * kw + j][oy * out_w + ox] =
///     x[c][oy * sh - pad_top + i * dh][ox * sw - pad_left + j * dw], or 0 outside.
/// The convolution is then a matrix product with the [out, c * kh * kw] weights.

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// Geometry of a 2-D sliding window over a [channels, height, width] image.
struct conv_geometry {
    std::size_t channels, in_h, in_w;
    std::size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    std::size_t out_h, out_w;
};

namespace detail {
/// The range of output columns ox whose input column ox * s - pad + off lies in [0, in).
inline void valid_range(std::size_t out, std::size_t in, std::size_t stride, std::ptrdiff_t offset, std::size_t& lo,
                        std::size_t& hi)
{
    // first ox with ox * s + offset >= 0, and last with ox * s + offset < in
    const auto s = static_cast<std::ptrdiff_t>(stride);
    std::ptrdiff_t first = offset >= 0 ? 0 : (-offset + s - 1) / s;
    std::ptrdiff_t last = (static_cast<std::ptrdiff_t>(in) - 1 - offset);
    last = last < 0 ? -1 : last / s;
    first = std::min<std::ptrdiff_t>(first, static_cast<std::ptrdiff_t>(out));
    last = std::min<std::ptrdiff_t>(last, static_cast<std::ptrdiff_t>(out) - 1);
    lo = static_cast<std::size_t>(first);
    hi = last < first ? lo : static_cast<std::size_t>(last + 1);
}
} // namespace detail

/// Unfolds image x ([g.channels, in_h, in_w]) into col ([channels * kh * kw, out_h * out_w]).
template <class T>
void im2col(const conv_geometry& g, const T* x, T* col)
{
    const std::size_t out_pixels = g.out_h * g.out_w;
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t i = 0; i < g.kernel_h; ++i)
            for (std::size_t j = 0; j < g.kernel_w; ++j) {
                T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_pixels;
                const auto dy = static_cast<std::ptrdiff_t>(i * g.dilation_h) - static_cast<std::ptrdiff_t>(g.pad_top);
                const auto dx = static_cast<std::ptrdiff_t>(j * g.dilation_w) - static_cast<std::ptrdiff_t>(g.pad_left);
                std::size_t x_lo, x_hi;
                detail::valid_range(g.out_w, g.in_w, g.stride_w, dx, x_lo, x_hi);
                for (std::size_t oy = 0; oy < g.out_h; ++oy) {
                    T* out = row + oy * g.out_w;
                    const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * g.stride_h) + dy;
                    if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.in_h)) {
                        std::fill(out, out + g.out_w, T(0));
                        continue;
                    }
                    const T* src = x + (c * g.in_h + static_cast<std::size_t>(iy)) * g.in_w;
                    std::fill(out, out + x_lo, T(0));
                    if (g.stride_w == 1) {
                        std::memcpy(out + x_lo, src + (static_cast<std::ptrdiff_t>(x_lo) + dx), (x_hi - x_lo) * sizeof(T));
                    } else {
                        for (std::size_t ox = x_lo; ox < x_hi; ++ox)
                            out[ox] = src[static_cast<std::ptrdiff_t>(ox * g.stride_w) + dx];
                    }
                    std::fill(out + x_hi, out + g.out_w, T(0));
                }
            }
}

/// Folds col back into image dx, adding overlapping contributions (dx is not cleared).
template <class T>
void col2im_add(const conv_geometry& g, const T* col, T* dx)
{
    const std::size_t out_pixels = g.out_h * g.out_w;
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t i = 0; i < g.kernel_h; ++i)
            for (std::size_t j = 0; j < g.kernel_w; ++j) {
                const T* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_pixels;
                const auto dy = static_cast<std::ptrdiff_t>(i * g.dilation_h) - static_cast<std::ptrdiff_t>(g.pad_top);
                const auto dxo = static_cast<std::ptrdiff_t>(j * g.dilation_w) - static_cast<std::ptrdiff_t>(g.pad_left);
                std::size_t x_lo, x_hi;
                detail::valid_range(g.out_w, g.in_w, g.stride_w, dxo, x_lo, x_hi);
                for (std::size_t oy = 0; oy < g.out_h; ++oy) {
                    const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * g.stride_h) + dy;
                    if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.in_h)) continue;
                    const T* in = row + oy * g.out_w;
                    T* dst = dx + (c * g.in_h + static_cast<std::size_t>(iy)) * g.in_w;
                    if (g.stride_w == 1) {
                        T* d = dst + (static_cast<std::ptrdiff_t>(x_lo) + dxo);
                        for (std::size_t ox = x_lo; ox < x_hi; ++ox) d[ox - x_lo] += in[ox];
                    } else {
                        for (std::size_t ox = x_lo; ox < x_hi; ++ox)
                            dst[static_cast<std::ptrdiff_t>(ox * g.stride_w) + dxo] += in[ox];
                    }
                }
            }
}

#if defined(LEPTON_SEPARATE_KERNELS)
// Compiled once per program with LEPTON_SEPARATE_KERNELS (see target.hpp).
LEPTON_KERNEL_INSTANCE void im2col<float>(const conv_geometry&, const float*, float*);
LEPTON_KERNEL_INSTANCE void im2col<double>(const conv_geometry&, const double*, double*);
LEPTON_KERNEL_INSTANCE void col2im_add<float>(const conv_geometry&, const float*, float*);
LEPTON_KERNEL_INSTANCE void col2im_add<double>(const conv_geometry&, const double*, double*);
#endif

LEPTON_KERNELS_END
