#pragma once
/// \file
/// Stride-1 convolution with a shallow kernel (few input channels times taps,
/// such as a first layer on grey-scale images: 1 x 3 x 3 = 9), computed directly.
///
/// A GEMM would run a k-loop of only `Depth` steps per register tile and then
/// store the tile: mostly overhead. Here the `Depth` shifted input vectors of
/// one stretch of an output row stay in registers while every output channel
/// takes `Depth` multiply-adds with its weights broadcast from memory, and the
/// result is stored straight into the NCHW output. Rows are covered by whole
/// vectors; the last one overlaps the one before instead of running past the
/// row, so no lane is ever masked.

#include <algorithm>
#include <cstddef>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
#include "conv_implicit.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// Output channels computed together: with AVX-512's 32 registers, 16
/// accumulators beside the inputs; with 16 registers, inputs are reread from L1.
template <class T>
inline constexpr std::size_t direct_conv_channels = simd::vector_registers == 32 ? 16 : 4;

/// out [m, out_h, out_w] = w [m, Depth] * implicit_columns(image) (+ bias per
/// output channel; then max(0, .) with `relu`), for a geometry with `g.depth() == Depth` whose output rows
/// are at least one vector wide, and m a multiple of `direct_conv_channels`.
/// Single-threaded: callers spread images.
template <class T, std::size_t Depth>
void direct_conv(const implicit_conv_geometry& g, const std::size_t* offsets, std::size_t m, const T* w,
                 const T* image, const T* bias, T* out, bool relu = false)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size, OB = direct_conv_channels<T>;
    const std::size_t wp = g.padded_w(), oh = g.out_h(), ow = g.out_w(), plane = oh * ow;
    thread_local scratch<T> padded_buffer;
    T* padded = padded_buffer.get(g.padded_size());
    pad_image(g, image, padded);
    for (std::size_t y = 0; y < oh; ++y)
        for (std::size_t x = 0; x < ow; x += W) {
            const std::size_t x0 = std::min(x, ow - W);
            const T* src = padded + y * wp + x0;
            vec in[Depth];
#pragma GCC unroll 32
            for (std::size_t k = 0; k < Depth; ++k) in[k] = vec::load_unaligned(src + offsets[k]);
            for (std::size_t o0 = 0; o0 < m; o0 += OB) {
                const T* wb = w + o0 * Depth;
                vec acc[OB];
#pragma GCC unroll 16
                for (std::size_t i = 0; i < OB; ++i) acc[i] = vec(bias ? bias[o0 + i] : T(0));
#pragma GCC unroll 32
                for (std::size_t k = 0; k < Depth; ++k)
#pragma GCC unroll 16
                    for (std::size_t i = 0; i < OB; ++i) acc[i] = xsimd::fma(vec(wb[i * Depth + k]), in[k], acc[i]);
                T* dst = out + o0 * plane + y * ow + x0;
                if (relu)
#pragma GCC unroll 16
                    for (std::size_t i = 0; i < OB; ++i) acc[i] = xsimd::max(acc[i], vec(T(0)));
#pragma GCC unroll 16
                for (std::size_t i = 0; i < OB; ++i) acc[i].store_unaligned(dst + i * plane);
            }
        }
}

LEPTON_KERNELS_END
