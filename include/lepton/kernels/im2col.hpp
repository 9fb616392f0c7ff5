#pragma once
/// \file
/// im2col / col2im for one image (or one channel group of it), channels first.
///
/// col has kernel_h * kernel_w rows per input channel and one column per output
/// pixel: col[(c * kh + i) * kw + j][oy * out_w + ox] =
///     x[c][oy * sh - pad_top + i * dh][ox * sw - pad_left + j * dw], or 0 outside.
/// The convolution is then a matrix product with the [out, c * kh * kw] weights.
/// Both go through a zero-padded copy of one channel split by column phase
/// (`detail::phase_planes`), so that with any stride every row of col is a
/// run of contiguous copies (or additions) without bounds checks.

#include <algorithm>
#include <cstddef>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
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

namespace detail {

/// Buffer of the phase planes of one channel.
struct im2col_phase_tag {};

/// Sizes of the phase planes of one channel: the zero-padded channel split by
/// column into `stride_w` planes, plane r holding columns r, r + stride_w, ...
/// Then tap (i, j) of output row oy reads `out_w` consecutive elements of plane
/// (j * dw) % sw, row oy * sh + i * dh, from column (j * dw) / sw on: every
/// row of col is a run of plain copies, with no bounds to check.
struct phase_planes {
    std::size_t rows, cols;  // of one plane

    explicit phase_planes(const conv_geometry& g)
        : rows((g.out_h - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1),
          cols(g.out_w + (g.kernel_w - 1) * g.dilation_w / g.stride_w)
    {
    }
    /// Elements of all planes.
    std::size_t size(const conv_geometry& g) const { return g.stride_w * rows * cols; }
    /// Start of tap (i, j)'s reads: row i * dh of plane (j * dw) % sw, from column (j * dw) / sw.
    std::size_t tap(const conv_geometry& g, std::size_t i, std::size_t j) const
    {
        const std::size_t column = j * g.dilation_w;
        return ((column % g.stride_w) * rows + i * g.dilation_h) * cols + column / g.stride_w;
    }
    /// Calls f(start of a plane row, start of its input row, u_lo, u_hi, first) for every row of
    /// every plane: the row's elements [u_lo, u_hi) are pixels first, first + sw, ... of that input
    /// row, the others padding (all of them in the padding rows, where u_lo = u_hi = cols).
    template <class F>
    void for_each_row(const conv_geometry& g, F&& f) const
    {
        for (std::size_t r = 0; r < g.stride_w; ++r) {
            const auto offset = std::ptrdiff_t(r) - std::ptrdiff_t(g.pad_left);
            std::size_t lo, hi;
            valid_range(cols, g.in_w, g.stride_w, offset, lo, hi);
            const std::ptrdiff_t first = std::ptrdiff_t(lo * g.stride_w) + offset;
            for (std::size_t py = 0; py < rows; ++py) {
                const auto y = std::ptrdiff_t(py) - std::ptrdiff_t(g.pad_top);
                const bool inside = y >= 0 && y < std::ptrdiff_t(g.in_h);
                f((r * rows + py) * cols, inside ? std::size_t(y) * g.in_w : std::size_t(0), inside ? lo : cols,
                  inside ? hi : cols, std::size_t(first < 0 ? 0 : first));
            }
        }
    }
};

} // namespace detail

/// Unfolds image x ([g.channels, in_h, in_w]) into col ([channels * kh * kw, out_h * out_w], rows
/// `col_stride` elements apart: several images' columns can sit side by side).
template <class T>
void im2col(const conv_geometry& g, const T* x, T* col, std::size_t col_stride)
{
    const detail::phase_planes planes(g);
    T* phases = thread_scratch<T, detail::im2col_phase_tag>().get(planes.size(g));
    for (std::size_t c = 0; c < g.channels; ++c) {
        const T* channel = x + c * g.in_h * g.in_w;
        planes.for_each_row(g, [&](std::size_t at, std::size_t input_row, std::size_t lo, std::size_t hi,
                                   std::size_t first) {
            T* p = phases + at;
            const T* src = channel + input_row + first;
            std::fill(p, p + lo, T(0));
            for (std::size_t u = lo; u < hi; ++u, src += g.stride_w) p[u] = *src;
            std::fill(p + hi, p + planes.cols, T(0));
        });
        for (std::size_t i = 0; i < g.kernel_h; ++i)
            for (std::size_t j = 0; j < g.kernel_w; ++j) {
                T* LEPTON_RESTRICT row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * col_stride;
                const T* LEPTON_RESTRICT src = phases + planes.tap(g, i, j);
                for (std::size_t oy = 0; oy < g.out_h; ++oy, row += g.out_w, src += g.stride_h * planes.cols)
                    for (std::size_t ox = 0; ox < g.out_w; ++ox) row[ox] = src[ox];
            }
    }
}

/// Folds col (rows `col_stride` elements apart) back into image dx, adding overlapping contributions (dx is not cleared).
template <class T>
void col2im_add(const conv_geometry& g, const T* col, std::size_t col_stride, T* dx)
{
    const detail::phase_planes planes(g);
    T* phases = thread_scratch<T, detail::im2col_phase_tag>().get(planes.size(g));
    for (std::size_t c = 0; c < g.channels; ++c) {
        std::fill(phases, phases + planes.size(g), T(0));
        for (std::size_t i = 0; i < g.kernel_h; ++i)
            for (std::size_t j = 0; j < g.kernel_w; ++j) {
                const T* LEPTON_RESTRICT row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * col_stride;
                T* LEPTON_RESTRICT dst = phases + planes.tap(g, i, j);
                for (std::size_t oy = 0; oy < g.out_h; ++oy, row += g.out_w, dst += g.stride_h * planes.cols)
                    for (std::size_t ox = 0; ox < g.out_w; ++ox) dst[ox] += row[ox];
            }
        // Each input pixel is one plane element; the padding's sums are dropped.
        T* channel = dx + c * g.in_h * g.in_w;
        planes.for_each_row(g, [&](std::size_t at, std::size_t input_row, std::size_t lo, std::size_t hi,
                                   std::size_t first) {
            const T* p = phases + at;
            T* dst = channel + input_row + first;
            for (std::size_t u = lo; u < hi; ++u, dst += g.stride_w) *dst += p[u];
        });
    }
}

#if defined(LEPTON_SEPARATE_KERNELS)
// Compiled once per program with LEPTON_SEPARATE_KERNELS (see target.hpp).
LEPTON_KERNEL_INSTANCE void im2col<float>(const conv_geometry&, const float*, float*, std::size_t);
LEPTON_KERNEL_INSTANCE void im2col<double>(const conv_geometry&, const double*, double*, std::size_t);
LEPTON_KERNEL_INSTANCE void col2im_add<float>(const conv_geometry&, const float*, std::size_t, float*);
LEPTON_KERNEL_INSTANCE void col2im_add<double>(const conv_geometry&, const double*, std::size_t, double*);
#endif

LEPTON_KERNELS_END
