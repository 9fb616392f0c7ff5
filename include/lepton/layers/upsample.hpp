#pragma once
/// \file
/// `Upsample2D<Scale, Mode>`: [C, H, W] -> [C, H * scale_h, W * scale_w] by an
/// integer factor, as `torch.nn.Upsample(scale_factor=s, mode=...)`:
/// `upsample_mode::nearest` repeats each pixel, `upsample_mode::bilinear`
/// interpolates with PyTorch's `align_corners=False` rule (output pixel centres
/// mapped back onto the input's, edges clamped).

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>

#include "../kernels/parallel.hpp"
#include "geometry.hpp"
#include "layer.hpp"

namespace lepton {

/// How `Upsample2D` fills the new pixels.
enum class upsample_mode {
    nearest,   ///< each output pixel copies the input pixel it falls in
    bilinear,  ///< weighted mean of the four nearest input pixels (align_corners=False)
};

/// Wiring check shown in compiler notes: the layer at `Where` received `Got`.
template <class Where, class Got>
struct upsample2d_input_must_be_chw {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 3;
};

namespace detail {

template <class In, Size2 S>
struct upsample2d_shape {
    static constexpr bool chw = In::rank == 3;
    static constexpr std::size_t channels = chw ? In::dims[0] : 1;
    static constexpr std::size_t height = chw ? In::dims[1] : 1;
    static constexpr std::size_t width = chw ? In::dims[2] : 1;
    using output = std::conditional_t<chw, Shape<channels, height * S.h, width * S.w>, invalid_shape>;
};

/// One output row's (or column's) two input rows and their weights, for bilinear upsampling.
template <class T>
struct bilinear_tap {
    std::size_t first = 0, second = 0;
    T first_weight = 1, second_weight = 0;
};

/// PyTorch's align_corners=False source positions for an axis of `in` pixels
/// upsampled `scale` times: (o + 0.5) / scale - 0.5, clamped below at 0, and
/// the next pixel (the same one at the last).
template <class T, std::size_t In, std::size_t Scale>
constexpr std::array<bilinear_tap<T>, In * Scale> bilinear_taps()
{
    std::array<bilinear_tap<T>, In * Scale> taps{};
    for (std::size_t o = 0; o < In * Scale; ++o) {
        const T source = std::max(T(0), (T(o) + T(0.5)) / T(Scale) - T(0.5));
        auto& t = taps[o];
        t.first = std::size_t(source);
        t.second = t.first + (t.first + 1 < In ? 1 : 0);
        t.second_weight = source - T(t.first);
        t.first_weight = T(1) - t.second_weight;
    }
    return taps;
}

} // namespace detail

/// What `Upsample2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, Size2 S, upsample_mode Mode>
class upsample2d_layer : public detail::layer_base<T, In, typename detail::upsample2d_shape<In, S>::output> {
    using geometry = detail::upsample2d_shape<In, S>;
    static_assert(upsample2d_input_must_be_chw<layer_index<Index>, In>::value,
                  "Lepton wiring error: Upsample2D needs an input [channels, height, width]");
    using base = typename upsample2d_layer::layer_base;
    static constexpr std::size_t in_h = geometry::height, in_w = geometry::width;
    static constexpr std::size_t out_h = in_h * S.h, out_w = in_w * S.w;
    static constexpr std::size_t in_plane = in_h * in_w, out_plane = out_h * out_w;
    static constexpr auto rows = detail::bilinear_taps<T, in_h, S.h>();
    static constexpr auto cols = detail::bilinear_taps<T, in_w, S.w>();

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = Mode == upsample_mode::nearest ? "Upsample2D(nearest)" : "Upsample2D(bilinear)";

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        for_each_plane(n, [&](std::size_t p) {
            const T* in = x.data() + p * in_plane;
            T* out = y.data() + p * out_plane;
            for (std::size_t oy = 0; oy < out_h; ++oy) {
                T* row = out + oy * out_w;
                if constexpr (Mode == upsample_mode::nearest) {
                    const T* from = in + (oy / S.h) * in_w;
                    for (std::size_t ix = 0; ix < in_w; ++ix) std::fill_n(row + ix * S.w, S.w, from[ix]);
                } else {
                    const auto& r = rows[oy];
                    const T* top = in + r.first * in_w;
                    const T* bottom = in + r.second * in_w;
                    for (std::size_t ox = 0; ox < out_w; ++ox) {
                        const auto& c = cols[ox];
                        row[ox] = r.first_weight * (c.first_weight * top[c.first] + c.second_weight * top[c.second]) +
                                  r.second_weight *
                                      (c.first_weight * bottom[c.first] + c.second_weight * bottom[c.second]);
                    }
                }
            }
        });
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx
    /// (each output gradient handed back to the input pixels it was made of, with their weights).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        const std::size_t n = this->batch_of(x);
        input_type& dx = this->input_grad_like(x);
        for_each_plane(n, [&](std::size_t p) {
            T* d = dx.data() + p * in_plane;
            const T* g = dy.data() + p * out_plane;
            std::fill(d, d + in_plane, T(0));
            for (std::size_t oy = 0; oy < out_h; ++oy) {
                const T* row = g + oy * out_w;
                if constexpr (Mode == upsample_mode::nearest) {
                    T* to = d + (oy / S.h) * in_w;
                    for (std::size_t ox = 0; ox < out_w; ++ox) to[ox / S.w] += row[ox];
                } else {
                    const auto& r = rows[oy];
                    T* top = d + r.first * in_w;
                    T* bottom = d + r.second * in_w;
                    for (std::size_t ox = 0; ox < out_w; ++ox) {
                        const auto& c = cols[ox];
                        const T upper = r.first_weight * row[ox], lower = r.second_weight * row[ox];
                        top[c.first] += c.first_weight * upper;
                        top[c.second] += c.second_weight * upper;
                        bottom[c.first] += c.first_weight * lower;
                        bottom[c.second] += c.second_weight * lower;
                    }
                }
            }
        });
        return dx;
    }

private:
    /// Calls body(plane) for every (sample, channel) plane of a batch of `n`, spread over threads.
    template <class Body>
    static void for_each_plane(std::size_t n, Body&& body)
    {
        const std::size_t planes = n * geometry::channels;
        kernels::parallel_for_each(planes, double(planes) * double(out_plane) * 4.0, 2.0e5, body);
    }
};

/// `Upsample2D<Scale, Mode = upsample_mode::nearest>`; the scale takes `2` or `Size2{2, 3}` (rows, columns; `{2, 3}` with g++).
template <Size2 Scale, upsample_mode Mode = upsample_mode::nearest>
struct Upsample2D {
    static_assert(Scale.h > 0 && Scale.w > 0, "Lepton wiring error: Upsample2D scale factors must be positive");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = upsample2d_layer<T, Backend, In, Index, Scale, Mode>;
};

} // namespace lepton
