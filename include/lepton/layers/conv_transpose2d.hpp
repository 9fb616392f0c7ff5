#pragma once
/// \file
/// Transposed 2-D convolution, `torch.nn.ConvTranspose2d` semantics: NCHW
/// activations, weights [in, out / groups, kernel_h, kernel_w], optional bias,
/// stride, padding, output padding, dilation and groups; the output size is
/// PyTorch's (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.
///
/// A transposed convolution is the adjoint of a convolution: its forward pass
/// is the input gradient of the `Conv2D` that maps its output shape back to its
/// input shape with the same weights, its input gradient is that Conv2D's
/// forward pass, and its weight gradient is that Conv2D's weight gradient with
/// the roles of input and output gradient swapped. So it runs on Conv2D's
/// kernels (implicit GEMM and Winograd at stride 1, a GEMM per image with a
/// fold at other strides), never as a scatter over a zero-inserted image.

#include <cstddef>
#include <type_traits>

#include "../core/backend.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/parallel.hpp"
#include "conv2d.hpp"
#include "geometry.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace lepton {

/// Wiring checks shown in compiler notes: the layer at `Where` received `Got`.
template <class Where, class Got>
struct conv_transpose2d_input_must_be_chw {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 3;
};
template <class Where, class Got, bool Divisible>
struct conv_transpose2d_input_channels_must_be_divisible_by_groups {
    static constexpr bool value = Divisible;
};
template <class Where, class Got, bool Positive>
struct conv_transpose2d_output_must_have_pixels {
    static constexpr bool value = Positive;
};

namespace detail {

/// PyTorch's output size of a transposed convolution along one axis (0 when it would be empty).
constexpr std::size_t conv_transpose_output(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t pad,
                                            std::size_t output_pad, std::size_t dilation)
{
    const std::size_t grown = (in - 1) * stride + dilation * (kernel - 1) + output_pad + 1;
    return grown > 2 * pad ? grown - 2 * pad : 0;
}

/// Compile-time geometry of a transposed convolution over input shape In.
template <class In, std::size_t Out, Size2 K, Size2 S, Size2 P, Size2 OP, Size2 D, std::size_t G>
struct conv_transpose2d_shape {
    static constexpr bool chw = In::rank == 3;
    static constexpr std::size_t channels = chw ? In::dims[0] : 1;
    static constexpr std::size_t height = chw ? In::dims[1] : 1;
    static constexpr std::size_t width = chw ? In::dims[2] : 1;
    static constexpr std::size_t out_h = conv_transpose_output(height, K.h, S.h, P.h, OP.h, D.h);
    static constexpr std::size_t out_w = conv_transpose_output(width, K.w, S.w, P.w, OP.w, D.w);
    static constexpr bool groups_ok = channels % G == 0;
    static constexpr bool positive = out_h > 0 && out_w > 0;
    static constexpr bool ok = chw && groups_ok && positive;
    using output = std::conditional_t<ok, Shape<Out, out_h, out_w>, invalid_shape>;
};

} // namespace detail

template <class T, class Backend, class In, std::size_t Index, std::size_t Out, Size2 K, Size2 S, Size2 P, Size2 OP,
          Size2 D, std::size_t G, bool UseBias, class Init>
class conv_transpose2d_layer;

/// `ConvTranspose2D<OutChannels, Kernel, Stride = 1, Padding = 0, OutputPadding = 0, Dilation = 1, Groups = 1,
/// Bias = true, Init>`. Sizes take `4` or `Size2{4, 3}` (`{4, 3}` with g++). As in PyTorch the output padding (extra rows and
/// columns at the bottom and right, which pick the output size when several sizes map to the same input)
/// must be smaller than the stride; PyTorch also accepts one smaller than the dilation, Lepton does not.
template <std::size_t OutChannels, Size2 Kernel, Size2 Stride = 1, Size2 Pad = 0, Size2 OutputPadding = 0,
          Size2 Dilation = 1, std::size_t Groups = 1, bool UseBias = true, class Init = init::torch_default>
struct ConvTranspose2D {
    static_assert(OutChannels > 0, "Lepton wiring error: ConvTranspose2D needs at least one output channel");
    static_assert(Kernel.h > 0 && Kernel.w > 0, "Lepton wiring error: ConvTranspose2D kernel sizes must be positive");
    static_assert(Stride.h > 0 && Stride.w > 0, "Lepton wiring error: ConvTranspose2D strides must be positive");
    static_assert(Dilation.h > 0 && Dilation.w > 0, "Lepton wiring error: ConvTranspose2D dilations must be positive");
    static_assert(Groups > 0 && OutChannels % Groups == 0,
                  "Lepton wiring error: ConvTranspose2D output channels must be divisible by groups");
    static_assert(OutputPadding.h < Stride.h && OutputPadding.w < Stride.w,
                  "Lepton wiring error: ConvTranspose2D output padding must be smaller than the stride");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = conv_transpose2d_layer<T, Backend, In, Index, OutChannels, Kernel, Stride, Pad, OutputPadding, Dilation,
                                        Groups, UseBias, Init>;
};

/// What `ConvTranspose2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Out, Size2 K, Size2 S, Size2 P, Size2 OP,
          Size2 D, std::size_t G, bool UseBias, class Init>
class conv_transpose2d_layer
    : public detail::layer_base<T, In, typename detail::conv_transpose2d_shape<In, Out, K, S, P, OP, D, G>::output> {
    using geometry = detail::conv_transpose2d_shape<In, Out, K, S, P, OP, D, G>;
    static_assert(conv_transpose2d_input_must_be_chw<layer_index<Index>, In>::value,
                  "Lepton wiring error: ConvTranspose2D needs an input [channels, height, width]");
    static_assert(conv_transpose2d_input_channels_must_be_divisible_by_groups<layer_index<Index>, In,
                                                                             !geometry::chw || geometry::groups_ok>::value,
                  "Lepton wiring error: ConvTranspose2D input channels must be divisible by groups");
    static_assert(conv_transpose2d_output_must_have_pixels<layer_index<Index>, In,
                                                           !geometry::chw || geometry::positive>::value,
                  "Lepton wiring error: ConvTranspose2D padding removes every output pixel");
    using base = typename conv_transpose2d_layer::layer_base;

    /// The convolution this layer is the adjoint of: from this layer's output
    /// shape back to its input shape, same weights, no bias (the bias here is on
    /// the output). A mis-wired layer gets a harmless stand-in, so that only the
    /// checks above speak.
    using adjoint_conv = std::conditional_t<
        geometry::ok,
        conv2d_layer<T, Backend, Shape<Out, geometry::out_h, geometry::out_w>, Index, geometry::channels, K, S,
                     Padding(P.h, P.w), D, G, false, Init>,
        conv2d_layer<T, Backend, Shape<1, 1, 1>, Index, 1, 1, 1, 0, 1, 1, false, Init>>;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "ConvTranspose2D";
    /// Input channels.
    static constexpr std::size_t in_channels = geometry::channels;
    /// Output channels.
    static constexpr std::size_t out_channels = Out;
    /// Pixels of one input channel.
    static constexpr std::size_t in_pixels = geometry::height * geometry::width;
    /// Pixels of one output channel.
    static constexpr std::size_t out_pixels = geometry::out_h * geometry::out_w;
    /// Number of weights (without the bias): [in, out / groups, kh, kw].
    static constexpr std::size_t weight_count = in_channels * (Out / G) * K.h * K.w;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = weight_count + (UseBias ? Out : 0);

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        conv_.bind(params, grads);  // the adjoint convolution's weight layout [in, out / groups, kh, kw] is this one's
        b_ = params + weight_count;
        gb_ = grads + weight_count;
    }

    /// Weight and bias from the spec's initialiser, or from `Policy` when given; PyTorch computes the fans of
    /// [in, out / groups, kh, kw] as of a convolution's weight, so fan_in = out / groups * kh * kw.
    template <class Policy = Init>
    void initialize(random_engine& rng, Policy policy = {})
    {
        conv_.initialize(rng, policy);
        if constexpr (UseBias) Policy::bias(b_, Out, (Out / G) * K.h * K.w, rng);
    }

    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class F>
    void for_each_parameter(F&& f)
    {
        conv_.for_each_parameter([&](const char*, T* data, T* grad, const parameter_shape& shape) {
            f("weight", data, grad, shape);
        });
        if constexpr (UseBias) f("bias", b_, gb_, parameter_shape{Out});
    }

    /// Forward pass on a batch: the adjoint convolution's input gradient of `x`, plus the bias.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        conv_.gradients(n, nullptr, x.data(), y.data());
        if constexpr (UseBias)
            kernels::parallel_for_each(n * Out, double(n) * double(Out * out_pixels), 4.0e5, [&](std::size_t p) {
                T* plane = y.data() + p * out_pixels;
                const T bias = b_[p % Out];
                kernels::map(out_pixels, plane, plane, [bias](auto v) { return v + decltype(v)(bias); });
            });
        return y;
    }

    /// Backward pass: accumulates the weight gradient (the adjoint convolution's, with `dy` as its input and `x`
    /// as its output gradient) and the bias gradient and, when `input_grad` is set, returns dL/dx (the adjoint
    /// convolution of `dy`).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = this->batch_of(x);
        if constexpr (UseBias)
            for (std::size_t s = 0; s < n; ++s)
                for (std::size_t o = 0; o < Out; ++o) gb_[o] += kernels::sum(out_pixels, dy.data() + (s * Out + o) * out_pixels);
        if (!input_grad) {
            conv_.gradients(n, dy.data(), x.data(), nullptr);
            return this->dx_;
        }
        // Both products read dY unfolded: one unfolding for the two.
        return conv_.forward_and_weight_gradient(dy, x.data());
    }

private:
    adjoint_conv conv_;
    T* b_ = nullptr;
    T* gb_ = nullptr;
};

} // namespace lepton
