#pragma once
/// \file
/// Pooling over [channels, height, width] samples: `MaxPool2D`, `AvgPool2D`
/// (`torch.nn.MaxPool2d` / `AvgPool2d` with ceil_mode=False and, for averages,
/// count_include_pad=True) and `GlobalAvgPool2D` ([C, H, W] -> [C], Keras'
/// GlobalAveragePooling2D; PyTorch's AdaptiveAvgPool2d(1) followed by Flatten).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../kernels/elementwise.hpp"
#include "../kernels/maxpool2x2.hpp"
#include "../kernels/parallel.hpp"
#include "geometry.hpp"
#include "layer.hpp"

namespace lepton {

/// Wiring checks shown in compiler notes.
template <class Where, class Got>
struct pool2d_input_must_be_chw {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 3;
};
template <class Where, class Got, bool Fits>
struct pool2d_window_must_fit_padded_input {
    static constexpr bool value = Fits;
};

namespace detail {

template <class In, Size2 K, Size2 S, Padding P>
struct pool2d_shape {
    static constexpr bool chw = In::rank == 3;
    static constexpr std::size_t channels = chw ? In::dims[0] : 1;
    static constexpr std::size_t height = chw ? In::dims[1] : 1;
    static constexpr std::size_t width = chw ? In::dims[2] : 1;
    static constexpr Size2 stride = S.h == 0 ? K : S;  // stride defaults to the kernel size
    static constexpr window_axis rows = window_axis::make(height, K.h, stride.h, 1, P.h, false);
    static constexpr window_axis cols = window_axis::make(width, K.w, stride.w, 1, P.w, false);
    static constexpr bool fits = rows.fits() && cols.fits();
    using output = std::conditional_t<chw && fits, Shape<channels, rows.output(), cols.output()>, invalid_shape>;
};

/// What max and average pooling share: geometry, checks, and the plane loop.
template <class T, class In, std::size_t Index, Size2 K, Size2 S, Padding P>
class pool2d_base : public layer_base<T, In, typename pool2d_shape<In, K, S, P>::output> {
protected:
    using geometry = pool2d_shape<In, K, S, P>;
    static_assert(pool2d_input_must_be_chw<layer_index<Index>, In>::value,
                  "Lepton wiring error: pooling needs an input [channels, height, width]");
    static_assert(pool2d_window_must_fit_padded_input<layer_index<Index>, In, !geometry::chw || geometry::fits>::value,
                  "Lepton wiring error: pooling window is larger than its padded input");
    static constexpr std::size_t in_h = geometry::height, in_w = geometry::width;
    static constexpr std::size_t out_h = geometry::rows.output(), out_w = geometry::cols.output();
    static constexpr std::size_t in_plane = in_h * in_w, out_plane = out_h * out_w;
    static constexpr std::size_t sh = geometry::stride.h, sw = geometry::stride.w;
    static constexpr std::size_t pt = geometry::rows.pad_before, pl = geometry::cols.pad_before;

    /// Calls body(plane) for every (sample, channel) plane, spread over threads.
    template <class Body>
    static void for_each_plane(std::size_t planes, Body&& body)
    {
        kernels::parallel_for_each(planes, double(planes) * double(in_plane) * 2.0, 2.0e5, body);
    }

    /// The input rows/columns [begin, end) covered by output row/column o (padding excluded).
    static constexpr void window(std::size_t o, std::size_t stride, std::size_t pad, std::size_t kernel,
                                 std::size_t size, std::size_t& begin, std::size_t& end)
    {
        const std::ptrdiff_t start = std::ptrdiff_t(o * stride) - std::ptrdiff_t(pad);
        begin = std::size_t(std::max<std::ptrdiff_t>(start, 0));
        end = std::size_t(std::min<std::ptrdiff_t>(start + std::ptrdiff_t(kernel), std::ptrdiff_t(size)));
    }
};

} // namespace detail

/// What `MaxPool2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, Size2 K, Size2 S, Padding P>
class maxpool2d_layer : public detail::pool2d_base<T, In, Index, K, S, P> {
    using base = detail::pool2d_base<T, In, Index, K, S, P>;
    using base::in_h, base::in_w, base::out_h, base::out_w, base::in_plane, base::out_plane;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "MaxPool2D";

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        argmax_.resize(y.size());
        const std::size_t planes = n * base::geometry::channels;
        base::for_each_plane(planes, [&](std::size_t p) {
            const T* in = x.data() + p * in_plane;
            T* out = y.data() + p * out_plane;
            std::int32_t* arg = argmax_.data() + p * out_plane;
            if constexpr (tiling_2x2) {
                for (std::size_t oy = 0; oy < out_h; ++oy)
                    kernels::maxpool2x2_forward_row(in + 2 * oy * in_w, in_w, out_w, std::int32_t(2 * oy * in_w),
                                                    out + oy * out_w, arg + oy * out_w);
            } else {
                for (std::size_t oy = 0; oy < out_h; ++oy) {
                    std::size_t y0, y1;
                    base::window(oy, base::sh, base::pt, K.h, in_h, y0, y1);
                    for (std::size_t ox = 0; ox < out_w; ++ox) {
                        std::size_t x0, x1;
                        base::window(ox, base::sw, base::pl, K.w, in_w, x0, x1);
                        T best = -std::numeric_limits<T>::infinity();
                        std::int32_t at = std::int32_t(y0 * in_w + x0);
                        for (std::size_t iy = y0; iy < y1; ++iy)
                            for (std::size_t ix = x0; ix < x1; ++ix)
                                if (in[iy * in_w + ix] > best) best = in[iy * in_w + ix], at = std::int32_t(iy * in_w + ix);
                        out[oy * out_w + ox] = best;
                        arg[oy * out_w + ox] = at;
                    }
                }
            }
        });
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        const std::size_t n = this->batch_of(x);
        input_type& dx = this->input_grad_like(x);
        base::for_each_plane(n * base::geometry::channels, [&](std::size_t p) {
            T* d = dx.data() + p * in_plane;
            const T* g = dy.data() + p * out_plane;
            const std::int32_t* arg = argmax_.data() + p * out_plane;
            const T* best = this->y_.data() + p * out_plane;
            if constexpr (tiling_2x2) {
                // Windows tile the input: every covered input gets its window's
                // gradient or zero, written once, with no clearing pass.
                for (std::size_t oy = 0; oy < out_h; ++oy) {
                    T* r0 = d + 2 * oy * in_w;
                    T* r1 = r0 + in_w;
                    kernels::maxpool2x2_backward_row(g + oy * out_w, best + oy * out_w, arg + oy * out_w, in_w, out_w,
                                                     std::int32_t(2 * oy * in_w), relu_gradient_, r0);
                    if constexpr (in_w % 2 != 0) r0[in_w - 1] = r1[in_w - 1] = T(0);
                }
                if constexpr (in_h % 2 != 0) std::fill(d + (in_h - 1) * in_w, d + in_plane, T(0));
            } else {
                std::fill(d, d + in_plane, T(0));
                for (std::size_t o = 0; o < out_plane; ++o)
                    d[arg[o]] += relu_gradient_ ? kernels::detail::value_if(best[o] > T(0), g[o]) : g[o];
            }
        });
        return dx;
    }

    /// Called by the network when a ReLU precedes this layer: a window whose
    /// maximum is not positive passes no gradient (ReLU's own gradient there),
    /// so the ReLU can pass this layer's input gradient on unchanged.
    void apply_relu_gradient(bool on) noexcept { relu_gradient_ = on; }

private:
    bool relu_gradient_ = false;
    /// The common 2x2 window with stride 2 and no padding, which has fast paths.
    static constexpr bool tiling_2x2 =
        K.h == 2 && K.w == 2 && base::sh == 2 && base::sw == 2 && base::pt == 0 && base::pl == 0;
    storage<std::int32_t> argmax_;
};

/// What `AvgPool2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, Size2 K, Size2 S, Padding P>
class avgpool2d_layer : public detail::pool2d_base<T, In, Index, K, S, P> {
    using base = detail::pool2d_base<T, In, Index, K, S, P>;
    using base::in_h, base::in_w, base::out_h, base::out_w, base::in_plane, base::out_plane;
    static constexpr T inv_area = T(1) / T(K.h * K.w);  // count_include_pad=True

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "AvgPool2D";

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        base::for_each_plane(n * base::geometry::channels, [&](std::size_t p) {
            const T* in = x.data() + p * in_plane;
            T* out = y.data() + p * out_plane;
            for (std::size_t oy = 0; oy < out_h; ++oy) {
                std::size_t y0, y1;
                base::window(oy, base::sh, base::pt, K.h, in_h, y0, y1);
                for (std::size_t ox = 0; ox < out_w; ++ox) {
                    std::size_t x0, x1;
                    base::window(ox, base::sw, base::pl, K.w, in_w, x0, x1);
                    T s = 0;
                    for (std::size_t iy = y0; iy < y1; ++iy)
                        for (std::size_t ix = x0; ix < x1; ++ix) s += in[iy * in_w + ix];
                    out[oy * out_w + ox] = s * inv_area;
                }
            }
        });
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        const std::size_t n = this->batch_of(x);
        input_type& dx = this->input_grad_like(x);
        base::for_each_plane(n * base::geometry::channels, [&](std::size_t p) {
            T* d = dx.data() + p * in_plane;
            std::fill(d, d + in_plane, T(0));
            const T* g = dy.data() + p * out_plane;
            for (std::size_t oy = 0; oy < out_h; ++oy) {
                std::size_t y0, y1;
                base::window(oy, base::sh, base::pt, K.h, in_h, y0, y1);
                for (std::size_t ox = 0; ox < out_w; ++ox) {
                    std::size_t x0, x1;
                    base::window(ox, base::sw, base::pl, K.w, in_w, x0, x1);
                    const T share = g[oy * out_w + ox] * inv_area;
                    for (std::size_t iy = y0; iy < y1; ++iy)
                        for (std::size_t ix = x0; ix < x1; ++ix) d[iy * in_w + ix] += share;
                }
            }
        });
        return dx;
    }
};

/// What `GlobalAvgPool2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index>
class global_avgpool2d_layer
    : public detail::layer_base<T, In,
                                std::conditional_t<pool2d_input_must_be_chw<layer_index<Index>, In>::value &&
                                                       !is_invalid_shape<In>,
                                                   Shape<In::dims[0]>, invalid_shape>> {
    static_assert(pool2d_input_must_be_chw<layer_index<Index>, In>::value,
                  "Lepton wiring error: GlobalAvgPool2D needs an input [channels, height, width]");
    using base = typename global_avgpool2d_layer::layer_base;
    static constexpr std::size_t channels = In::dims[0];
    static constexpr std::size_t plane = In::size / channels;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "GlobalAvgPool2D";

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        for (std::size_t p = 0; p < n * channels; ++p) y.data()[p] = kernels::sum(plane, x.data() + p * plane) / T(plane);
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        const std::size_t n = this->batch_of(x);
        input_type& dx = this->input_grad_like(x);
        for (std::size_t p = 0; p < n * channels; ++p) {
            const T share = dy.data()[p] / T(plane);
            std::fill(dx.data() + p * plane, dx.data() + (p + 1) * plane, share);
        }
        return dx;
    }
};

/// `MaxPool2D<Kernel, Stride = Kernel, Padding = 0>`; sizes take `2` or `{2, 3}`.
template <Size2 Kernel, Size2 Stride = 0, Padding Pad = 0>
struct MaxPool2D {
    static_assert(Kernel.h > 0 && Kernel.w > 0, "Lepton wiring error: MaxPool2D kernel sizes must be positive");
    static_assert(!Pad.is_same && 2 * Pad.h <= Kernel.h && 2 * Pad.w <= Kernel.w,
                  "Lepton wiring error: MaxPool2D padding must be at most half the kernel (as in PyTorch)");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = maxpool2d_layer<T, Backend, In, Index, Kernel, Stride, Pad>;
};

/// `AvgPool2D<Kernel, Stride = Kernel, Padding = 0>`; padded zeros count in the average.
template <Size2 Kernel, Size2 Stride = 0, Padding Pad = 0>
struct AvgPool2D {
    static_assert(Kernel.h > 0 && Kernel.w > 0, "Lepton wiring error: AvgPool2D kernel sizes must be positive");
    static_assert(!Pad.is_same && 2 * Pad.h <= Kernel.h && 2 * Pad.w <= Kernel.w,
                  "Lepton wiring error: AvgPool2D padding must be at most half the kernel (as in PyTorch)");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = avgpool2d_layer<T, Backend, In, Index, Kernel, Stride, Pad>;
};

/// Mean over each channel's plane: [C, H, W] -> [C].
struct GlobalAvgPool2D {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = global_avgpool2d_layer<T, Backend, In, Index>;
};

} // namespace lepton
