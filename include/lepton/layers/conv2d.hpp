#pragma once
/// \file
/// 2-D convolution, `torch.nn.Conv2d` semantics: NCHW activations, weights
/// [out, in / groups, kernel_h, kernel_w] (OIHW), optional bias, stride,
/// zero padding (or `Padding::same`), dilation and groups.
///
/// Stride-1 convolutions run as implicit GEMMs on a padded copy of each image
/// (kernels/conv_implicit.hpp), and so does the input gradient, which is the
/// convolution of the output gradient with the flipped, transposed weights.
/// Strided convolutions unfold each image (im2col) into a per-thread matrix,
/// several images side by side when their output planes are small;
/// 1x1 convolutions with stride 1 use the image itself. Both run a GEMM per
/// image (or group of images) on weights packed once per call. Images of a batch are
/// spread over threads; weight gradients are summed per thread and reduced at
/// the end, so nothing is shared while the products run.

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/backend.hpp"
#include "../kernels/conv_direct.hpp"
#include "../kernels/conv_implicit.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/im2col.hpp"
#include "../kernels/parallel.hpp"
#include "../kernels/winograd.hpp"
#include "init.hpp"
#include "geometry.hpp"
#include "layer.hpp"

namespace lepton {

/// Wiring checks shown in compiler notes: the layer at `Where` received `Got`.
template <class Where, class Got>
struct conv2d_input_must_be_chw {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 3;
};
template <class Where, class Got, bool Divisible>
struct conv2d_input_channels_must_be_divisible_by_groups {
    static constexpr bool value = Divisible;
};
template <class Where, class Got, bool Fits>
struct conv2d_kernel_must_fit_padded_input {
    static constexpr bool value = Fits;
};

namespace detail {

/// Compile-time geometry of a convolution over input shape In.
template <class In, std::size_t Out, Size2 K, Size2 S, Padding P, Size2 D, std::size_t G>
struct conv2d_shape {
    static constexpr bool chw = In::rank == 3;
    static constexpr std::size_t channels = chw ? In::dims[0] : 1;
    static constexpr std::size_t height = chw ? In::dims[1] : 1;
    static constexpr std::size_t width = chw ? In::dims[2] : 1;
    static constexpr window_axis rows = window_axis::make(height, K.h, S.h, D.h, P.h, P.is_same);
    static constexpr window_axis cols = window_axis::make(width, K.w, S.w, D.w, P.w, P.is_same);
    static constexpr bool groups_ok = channels % G == 0;
    static constexpr bool fits = rows.fits() && cols.fits();
    static constexpr bool ok = chw && groups_ok && fits;
    using output = std::conditional_t<ok, Shape<Out, rows.output(), cols.output()>, invalid_shape>;
};

/// Tags of a convolution's per-thread buffers.
struct im2col_tag {};
struct col2im_tag {};
struct product_tag {};

} // namespace detail

template <class T, class Backend, class In, std::size_t Index, std::size_t Out, Size2 K, Size2 S, Padding P, Size2 D,
          std::size_t G, bool UseBias, class Init>
class conv2d_layer;

/// `Conv2D<OutChannels, Kernel, Stride = 1, Padding = 0, Dilation = 1, Groups = 1, Bias = true, Init>`.
/// Kernel, stride and dilation take `3` or `{3, 5}`; padding takes `1`, `{1, 2}` or `Padding::same`.
template <std::size_t OutChannels, Size2 Kernel, Size2 Stride = 1, Padding Pad = 0, Size2 Dilation = 1,
          std::size_t Groups = 1, bool UseBias = true, class Init = init::torch_default>
struct Conv2D {
    static_assert(OutChannels > 0, "Lepton wiring error: Conv2D needs at least one output channel");
    static_assert(Kernel.h > 0 && Kernel.w > 0, "Lepton wiring error: Conv2D kernel sizes must be positive");
    static_assert(Stride.h > 0 && Stride.w > 0, "Lepton wiring error: Conv2D strides must be positive");
    static_assert(Dilation.h > 0 && Dilation.w > 0, "Lepton wiring error: Conv2D dilations must be positive");
    static_assert(Groups > 0 && OutChannels % Groups == 0,
                  "Lepton wiring error: Conv2D output channels must be divisible by groups");
    static_assert(!Pad.is_same || (Stride.h == 1 && Stride.w == 1),
                  "Lepton wiring error: Conv2D Padding::same needs stride 1 (as in PyTorch)");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = conv2d_layer<T, Backend, In, Index, OutChannels, Kernel, Stride, Pad, Dilation, Groups, UseBias, Init>;
};

/// What `Conv2D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Out, Size2 K, Size2 S, Padding P, Size2 D,
          std::size_t G, bool UseBias, class Init>
class conv2d_layer
    : public detail::layer_base<T, In, typename detail::conv2d_shape<In, Out, K, S, P, D, G>::output> {
    using geometry = detail::conv2d_shape<In, Out, K, S, P, D, G>;
    static_assert(conv2d_input_must_be_chw<layer_index<Index>, In>::value,
                  "Lepton wiring error: Conv2D needs an input [channels, height, width]");
    static_assert(conv2d_input_channels_must_be_divisible_by_groups<layer_index<Index>, In,
                                                                   !geometry::chw || geometry::groups_ok>::value,
                  "Lepton wiring error: Conv2D input channels must be divisible by groups");
    static_assert(conv2d_kernel_must_fit_padded_input<layer_index<Index>, In, !geometry::chw || geometry::fits>::value,
                  "Lepton wiring error: Conv2D kernel (with dilation) is larger than its padded input");
    using base = typename conv2d_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Conv2D";
    /// Input channels.
    static constexpr std::size_t in_channels = geometry::channels;
    /// Output channels.
    static constexpr std::size_t out_channels = Out;
    static constexpr std::size_t group_in = in_channels / G;    ///< input channels per group
    static constexpr std::size_t group_out = Out / G;           ///< output channels per group
    static constexpr std::size_t group_k = group_in * K.h * K.w;  ///< GEMM depth per group
    /// Pixels of one input channel.
    static constexpr std::size_t in_pixels = geometry::height * geometry::width;
    /// Pixels of one output channel.
    static constexpr std::size_t out_pixels = geometry::rows.output() * geometry::cols.output();
    /// Number of weights (without the bias).
    static constexpr std::size_t weight_count = Out * group_k;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = weight_count + (UseBias ? Out : 0);
    /// A 1x1, stride-1, unpadded convolution reads the image as its own column matrix.
    static constexpr bool pointwise = K.h == 1 && K.w == 1 && S.h == 1 && S.w == 1 && geometry::rows.pad_before == 0 &&
                                      geometry::rows.pad_after == 0 && geometry::cols.pad_before == 0 &&
                                      geometry::cols.pad_after == 0;

    /// A kernel exactly as large as its unpadded input (a 7x7 kernel on a 7x7
    /// image, DCGAN's first and last layers), ungrouped and undilated, has one
    /// output pixel: it is a Dense layer on the flattened image, and its three
    /// products run as one GEMM over the whole batch instead of one per image.
    static constexpr bool whole_image = G == 1 && K.h == geometry::height && K.w == geometry::width && D.h == 1 &&
                                        D.w == 1 && geometry::rows.pad_before == 0 && geometry::rows.pad_after == 0 &&
                                        geometry::cols.pad_before == 0 && geometry::cols.pad_after == 0;

    /// Stride-1, non-pointwise convolutions take the implicit-GEMM path.
    static constexpr bool implicit = S.h == 1 && S.w == 1 && !pointwise;
    /// The input gradient is itself a stride-1 convolution when no padding exceeds the dilated kernel, and
    /// worth running as one unless the output has less than a quarter of the input's pixels (a 5x5 kernel
    /// on a 6x6 image, or a ConvTranspose2D from 1x1): its cost follows the input's pixels, that of a GEMM
    /// with W^T and a fold the output's, so it would mostly multiply the zeros padding dY.
    static constexpr bool implicit_input_grad =
        implicit && geometry::rows.pad_before <= D.h * (K.h - 1) && geometry::rows.pad_after <= D.h * (K.h - 1) &&
        geometry::cols.pad_before <= D.w * (K.w - 1) && geometry::cols.pad_after <= D.w * (K.w - 1) &&
        4 * out_pixels >= in_pixels;

    /// 3x3, stride-1 convolutions with enough channels on both sides run by
    /// Winograd's F(4x4, 3x3) (kernels/winograd.hpp): 36 multiply-adds per 4x4
    /// output tile and channel pair instead of 144. With few channels the
    /// transforms would cost more than the products they save.
    static constexpr std::size_t winograd_min_channels = 16;
    /// A 3x3, stride-1, undilated, ungrouped kernel with enough channels for Winograd's method.
    static constexpr bool winograd_shape = implicit && K.h == 3 && K.w == 3 && D.h == 1 && D.w == 1 && G == 1 &&
                                           in_channels >= winograd_min_channels && Out >= winograd_min_channels;
    /// Shallow kernels (a first layer on grey-scale images: depth 9) run as a
    /// direct convolution (kernels/conv_direct.hpp) in the forward pass.
    static constexpr bool direct = implicit && G == 1 && group_k <= 16 && geometry::cols.output() >= simd::width<T> &&
                                   Out % kernels::direct_conv_channels<T> == 0;
    /// The forward pass runs by Winograd's method.
    static constexpr bool winograd = winograd_shape;
    /// The input gradient (a 3x3 convolution of dY) runs by Winograd's method.
    static constexpr bool winograd_input_grad = winograd_shape && implicit_input_grad;
    /// The weight gradient runs by Winograd's method backwards.
    static constexpr bool winograd_weight_grad = winograd_shape;
    /// Scratch for the transformed weights before packing.
    static constexpr std::size_t winograd_plain_size = kernels::winograd_plain_size<T>(Out, in_channels);
    /// Strided convolutions with small output planes (7x7: 49 pixels) multiply
    /// several images' columns side by side: a GEMM 49 columns wide leaves most
    /// of its last column panel idle and has too little width to pay for
    /// packing its weights (25 against 33 GFLOP/s on a Zen 1 at 512 x 49 x 64).
    static constexpr std::size_t images_per_product =
        pointwise || implicit || whole_image || out_pixels >= 128 ? 1 : (256 + out_pixels - 1) / out_pixels;
    /// The forward pass unfolds the input (im2col, or the image itself when pointwise) and multiplies the columns.
    static constexpr bool unfolded = !whole_image && !implicit;
    /// Columns of the widest product: `images_per_product` output planes.
    static constexpr std::size_t product_width = images_per_product * out_pixels;

    conv2d_layer() : forward_offsets_(forward_geometry().row_offsets()), backward_offsets_(backward_geometry().row_offsets()) {}

    /// Applies ReLU to the output in the same pass (set by the network when a
    /// ReLU layer follows, which then passes this output on unchanged).
    void fuse_relu(bool on) noexcept { relu_ = on; }

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        w_ = params;
        gw_ = grads;
        b_ = params + weight_count;
        gb_ = grads + weight_count;
    }

    /// Weight and bias from the spec's initialiser, or from `Policy` when given.
    template <class Policy = Init>
    void initialize(random_engine& rng, Policy = {})
    {
        // PyTorch: fan_in = in/groups * kh * kw, fan_out = out/groups * kh * kw
        Policy::weight(w_, weight_count, group_k, group_out * K.h * K.w, rng);
        if constexpr (UseBias) Policy::bias(b_, Out, group_k, rng);
    }

    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("weight", w_, gw_, parameter_shape{Out, group_in, K.h, K.w});
        if constexpr (UseBias) f("bias", b_, gb_, parameter_shape{Out});
    }

    /// The weight [out, in / groups, kh, kw] as an xtensor view.
    auto weight() { return view<T, 4>(w_, {Out, group_in, K.h, K.w}); }
    /// The bias [out] (only with UseBias).
    auto bias() requires UseBias { return view<T, 1>(b_, {Out}); }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        const int threads = sample_threads(n);
        if constexpr (whole_image) {
            kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, n, Out, group_k, T(1), x.data(), group_k,
                             w_, group_k, T(0), y.data(), Out);
            if constexpr (UseBias) kernels::add_row_vector(n, Out, b_, y.data());
            if (relu_) kernels::map(n * Out, y.data(), y.data(), [](auto v) { return xsimd::max(v, decltype(v)(0)); });
            return y;
        } else if constexpr (winograd) {
            // Transform the weights once; every image's products read them.
            T* packed = packed_weights_.get(kernels::winograd_weights_size<T>(Out, in_channels));
            kernels::winograd_transform_weights(Out, in_channels, w_, flipped_weights_.get(winograd_plain_size),
                                                packed);
            kernels::parallel_region(threads, [&](int t, int nt) {
                const auto range = kernels::split_range(n, t, nt);
                kernels::winograd_conv(forward_geometry(), Out, packed, x.data() + range.begin * in_channels * in_pixels,
                                       range.end - range.begin, UseBias ? b_ : nullptr,
                                       y.data() + range.begin * Out * out_pixels, relu_);
            });
            return y;
        } else if constexpr (direct) {
            kernels::parallel_region(threads, [&](int t, int nt) {
                const auto range = kernels::split_range(n, t, nt);
                for (std::size_t s = range.begin; s < range.end; ++s)
                    kernels::direct_conv<T, group_k>(forward_geometry(), forward_offsets_.data(), Out, w_,
                                                     x.data() + s * in_channels * in_pixels, UseBias ? b_ : nullptr,
                                                     y.data() + s * Out * out_pixels, relu_);
            });
            return y;
        } else if constexpr (implicit) {
            // Pack the weights once; every image's product reads them.
            const T* packed = pack_weights(kernels::transpose::no);
            kernels::parallel_region(threads, [&](int t, int nt) {
                const auto range = kernels::split_range(n, t, nt);
                for (std::size_t s = range.begin; s < range.end; ++s)
                    for (std::size_t g = 0; g < G; ++g)
                        kernels::implicit_conv(forward_geometry(), forward_offsets_.data(), group_out,
                                               packed + g * packed_group_size,
                                               x.data() + (s * in_channels + g * group_in) * in_pixels,
                                               UseBias ? b_ + g * group_out : nullptr,
                                               y.data() + (s * Out + g * group_out) * out_pixels, relu_);
            });
            return y;
        } else {
            unfolded_pass(n, x.data(), y.data(), nullptr);
            return y;
        }
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        input_type* dx = input_grad ? &this->input_grad_like(x) : nullptr;
        gradients(this->batch_of(x), x.data(), dy.data(), dx ? dx->data() : nullptr);
        return dx ? *dx : this->dx_;
    }

    /// As `backward`, but dL/dx comes back plus `addend` (shaped like `x`), added by the Winograd input
    /// gradient's output transform while each plane is in L1: this is how a residual block's identity
    /// shortcut joins its body's input gradient without a pass over both tensors of its own.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad, const input_type& addend)
        requires winograd_input_grad
    {
        input_type* dx = input_grad ? &this->input_grad_like(x) : nullptr;
        gradients(this->batch_of(x), x.data(), dy.data(), dx ? dx->data() : nullptr, dx ? addend.data() : nullptr);
        return dx ? *dx : this->dx_;
    }

    /// For ConvTranspose2D's backward pass, which needs both products of one input: the forward pass of `x`, and
    /// the weight (and bias) gradient for the output gradient `dy` ([n, out, oh, ow]) accumulated as `backward`
    /// would. Strided and pointwise convolutions unfold `x` once for the two; the others run them one after the other.
    const output_type& forward_and_weight_gradient(const input_type& x, const T* dy)
    {
        const std::size_t n = this->batch_of(x);
        if constexpr (unfolded) {
            output_type& y = this->output_for(n);
            unfolded_pass(n, x.data(), y.data(), dy);
            return y;
        } else {
            gradients(n, x.data(), dy, nullptr);
            context none;
            return forward(x, none);
        }
    }

    /// The two halves of `backward` on `n` samples, for the layers that run a
    /// convolution backwards (ConvTranspose2D): the weight (and bias) gradients
    /// are accumulated when `x` is given, and dL/dx is written into `dx` when
    /// that is given ([n, in_channels, height, width]), plus `dx_addend` when
    /// that is given too (Winograd input gradients only).
    void gradients(std::size_t n, const T* x, const T* dy, T* dx, const T* dx_addend = nullptr)
    {
        if constexpr (whole_image) {
            // dW += dY^T X ; db += column sums of dY ; dX = dY W, with images as rows.
            if (x) {
                kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, Out, group_k, n, T(1), dy, Out, x,
                                 group_k, T(1), gw_, group_k);
                if constexpr (UseBias) kernels::accumulate_column_sums(n, Out, dy, gb_);
            }
            if (dx)
                kernels::gemm<T>(kernels::transpose::no, kernels::transpose::no, n, group_k, Out, T(1), dy, Out, w_,
                                 group_k, T(0), dx, group_k);
            return;
        }
        if (dx && !pointwise && !implicit_input_grad) std::fill(dx, dx + n * in_channels * in_pixels, T(0));
        // The input gradient convolves dY with the weights flipped in space and
        // transposed in channels: W'[c][o][i][j] = W[o][c][kh-1-i][kw-1-j].
        const std::size_t per_group = winograd_input_grad
                                          ? kernels::winograd_weights_size<T>(group_in, group_out)
                                          : kernels::packed_a_size<T>(group_in, group_out * K.h * K.w);
        T* packed_flipped = nullptr;
        if constexpr (winograd_input_grad) {
            // (One group.) The transform reads the kernels flipped and transposed where they are.
            if (dx) {
                packed_flipped = packed_weights_.get(per_group);
                kernels::winograd_transform_weights(group_in, group_out, w_, flipped_weights_.get(winograd_plain_size),
                                                    packed_flipped, true);
            }
        } else if constexpr (implicit_input_grad) {
            if (dx) {
                packed_flipped = packed_weights_.get(G * per_group);
                T* flipped = flipped_weights_.get(weight_count);
                for (std::size_t g = 0; g < G; ++g) {
                    const T* wg = w_ + g * group_out * group_k;
                    for (std::size_t c = 0; c < group_in; ++c)
                        for (std::size_t o = 0; o < group_out; ++o)
                            for (std::size_t i = 0; i < K.h; ++i)
                                for (std::size_t j = 0; j < K.w; ++j)
                                    flipped[((c * group_out + o) * K.h + i) * K.w + j] =
                                        wg[((o * group_in + c) * K.h + (K.h - 1 - i)) * K.w + (K.w - 1 - j)];
                    kernels::pack_a_full(kernels::transpose::no, group_in, group_out * K.h * K.w, flipped,
                                         group_out * K.h * K.w, packed_flipped + g * per_group);
                }
            }
        }
        // Without the implicit input gradient, dcols = W_g^T dY_g: W^T packed once for every image.
        const T* packed_transposed = nullptr;
        if constexpr (!implicit_input_grad)
            if (dx) packed_transposed = pack_weights(kernels::transpose::yes);
        for_sample_ranges(n, x != nullptr, [&](kernels::range range, T* gw, T* gb) {
            T* col = implicit || pointwise || !x ? nullptr : thread_scratch<T, detail::im2col_tag>().get(group_k * product_width);
            T* dcol = implicit_input_grad || pointwise || !dx ? nullptr : thread_scratch<T, detail::col2im_tag>().get(group_k * product_width);
            T* gathered = images_per_product == 1 ? nullptr
                                                  : thread_scratch<T, detail::product_tag>().get(group_out * product_width);
            if (!x) {
                // no weight gradient asked for
            } else if constexpr (winograd_weight_grad)
                kernels::winograd_weight_grad(forward_geometry(), Out, x + range.begin * in_channels * in_pixels,
                                              dy + range.begin * Out * out_pixels, range.end - range.begin, gw,
                                              UseBias ? gb : nullptr);
            else if constexpr (implicit)
                for (std::size_t g = 0; g < G; ++g)
                    kernels::implicit_conv_weight_grad(
                        forward_geometry(), forward_offsets_.data(), group_out, range.end - range.begin,
                        x + (range.begin * in_channels + g * group_in) * in_pixels, in_channels * in_pixels,
                        dy + (range.begin * Out + g * group_out) * out_pixels, Out * out_pixels,
                        gw + g * group_out * group_k, UseBias ? gb + g * group_out : nullptr);
            if constexpr (winograd_input_grad)
                if (dx)
                    kernels::winograd_conv(backward_geometry(), in_channels, packed_flipped,
                                           dy + range.begin * Out * out_pixels, range.end - range.begin,
                                           static_cast<const T*>(nullptr),
                                           dx + range.begin * in_channels * in_pixels, false,
                                           dx_addend ? dx_addend + range.begin * in_channels * in_pixels : nullptr);
            for (std::size_t s0 = range.begin; s0 < range.end; s0 += images_per_product) {
                const std::size_t count = std::min(images_per_product, range.end - s0), width = count * out_pixels;
                for (std::size_t g = 0; g < G; ++g) {
                    // This group's dY: in place for one image, side by side for several.
                    const T* dy_g = count == 1 ? dy + (s0 * Out + g * group_out) * out_pixels
                                               : gather_planes(dy, s0, count, g, gathered);
                    if (!implicit && x) {
                        // dW_g += dY_g cols^T
                        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, group_out, group_k, width,
                                         T(1), dy_g, width, columns(x, s0, count, g, col), width, T(1),
                                         gw + g * group_out * group_k, group_k);
                    }
                    if (!dx || winograd_input_grad) continue;
                    T* dimage = dx + (s0 * in_channels + g * group_in) * in_pixels;
                    if constexpr (implicit_input_grad) {
                        kernels::implicit_conv(backward_geometry(), backward_offsets_.data(), group_in,
                                               packed_flipped + g * per_group, dy_g, static_cast<const T*>(nullptr),
                                               dimage);
                    } else {
                        // dcols = W_g^T dY_g, folded back onto each image
                        T* target = pointwise ? dimage : dcol;
                        kernels::gemm_prepacked_a<T>(group_k, width, group_out,
                                                     packed_transposed + g * packed_transposed_group_size, dy_g,
                                                     width, T(0), target, width);
                        if constexpr (!pointwise)
                            for (std::size_t i = 0; i < count; ++i)
                                kernels::col2im_add(group_geometry(), dcol + i * out_pixels, width,
                                                    dimage + i * in_channels * in_pixels);
                    }
                }
                // (The implicit path sums the bias gradient while it reads dY.)
                if constexpr (!implicit)
                    if (x) accumulate_bias_gradient(dy, s0, count, gb);
            }
        });
    }


private:
    /// The forward pass as a stride-1 implicit convolution of one group.
    static constexpr kernels::implicit_conv_geometry forward_geometry()
    {
        return {group_in,
                geometry::height,
                geometry::width,
                K.h,
                K.w,
                D.h,
                D.w,
                geometry::rows.pad_before,
                geometry::rows.pad_after,
                geometry::cols.pad_before,
                geometry::cols.pad_after};
    }
    /// The input gradient as a stride-1 implicit convolution of one group's dY
    /// (meaningful only when `implicit_input_grad`).
    static constexpr kernels::implicit_conv_geometry backward_geometry()
    {
        constexpr std::size_t span_h = D.h * (K.h - 1), span_w = D.w * (K.w - 1);
        constexpr bool ok = implicit_input_grad;
        return {group_out,
                geometry::rows.output(),
                geometry::cols.output(),
                K.h,
                K.w,
                D.h,
                D.w,
                ok ? span_h - geometry::rows.pad_before : 0,
                ok ? span_h - geometry::rows.pad_after : 0,
                ok ? span_w - geometry::cols.pad_before : 0,
                ok ? span_w - geometry::cols.pad_after : 0};
    }

    static constexpr kernels::conv_geometry group_geometry()
    {
        return {group_in,
                geometry::height,
                geometry::width,
                K.h,
                K.w,
                S.h,
                S.w,
                D.h,
                D.w,
                geometry::rows.pad_before,
                geometry::cols.pad_before,
                geometry::rows.output(),
                geometry::cols.output()};
    }

    /// The column matrix of group g of `count` images from `s0` on, side by side
    /// ([group_k, count * out_pixels]): the image itself for pointwise
    /// convolutions (one image at a time), else unfolded into `col`.
    static const T* columns(const T* images, std::size_t s0, std::size_t count, std::size_t g, T* col)
    {
        const T* first = images + (s0 * in_channels + g * group_in) * in_pixels;
        if constexpr (pointwise) {
            return first;
        } else {
            for (std::size_t i = 0; i < count; ++i)
                kernels::im2col(group_geometry(), first + i * in_channels * in_pixels, col + i * out_pixels,
                                count * out_pixels);
            return col;
        }
    }

    /// Group g's output planes (or their gradients) of `count` images from `s0` on, side by side in `dst`
    /// ([group_out, count * out_pixels]).
    static const T* gather_planes(const T* planes, std::size_t s0, std::size_t count, std::size_t g, T* dst)
    {
        for (std::size_t i = 0; i < count; ++i)
            for (std::size_t o = 0; o < group_out; ++o)
                std::copy_n(planes + ((s0 + i) * Out + g * group_out + o) * out_pixels, out_pixels,
                            dst + o * count * out_pixels + i * out_pixels);
        return dst;
    }

    /// dst = src + bias of channel o, then max(0, .) with a fused ReLU (src may be dst).
    void finish_output_plane(const T* src, std::size_t o, T* dst) const
    {
        if constexpr (UseBias) {
            const T bias = b_[o];
            if (relu_)
                kernels::map(out_pixels, src, dst, [bias](auto v) {
                    using V = decltype(v);
                    return xsimd::max(v + V(bias), V(0));
                });
            else
                kernels::map(out_pixels, src, dst, [bias](auto v) { return v + decltype(v)(bias); });
        } else if (relu_) {
            kernels::map(out_pixels, src, dst, [](auto v) { return xsimd::max(v, decltype(v)(0)); });
        } else if (src != dst) {
            std::copy_n(src, out_pixels, dst);
        }
    }

    /// The forward pass of strided and pointwise convolutions: im2col and a GEMM per image, or per
    /// `images_per_product` images side by side when the output planes are small, with the weights packed once.
    /// With `dy`, the weight (and bias) gradient is accumulated from the same columns.
    void unfolded_pass(std::size_t n, const T* x, T* y, const T* dy)
    {
        const T* packed = pack_weights(kernels::transpose::no);
        for_sample_ranges(n, dy != nullptr, [&](kernels::range range, T* gw, T* gb) {
            T* col = pointwise ? nullptr : thread_scratch<T, detail::im2col_tag>().get(group_k * product_width);
            // Several images' outputs before they are spread, then their dY side by side.
            T* product = images_per_product == 1 ? nullptr
                                                 : thread_scratch<T, detail::product_tag>().get(group_out * product_width);
            for (std::size_t s0 = range.begin; s0 < range.end; s0 += images_per_product) {
                const std::size_t count = std::min(images_per_product, range.end - s0), width = count * out_pixels;
                for (std::size_t g = 0; g < G; ++g) {
                    const T* cols = columns(x, s0, count, g, col);
                    // One image writes its output planes in place; several are spread afterwards.
                    T* target = count == 1 ? y + (s0 * Out + g * group_out) * out_pixels : product;
                    kernels::gemm_prepacked_a<T>(group_out, width, group_k, packed + g * packed_group_size, cols,
                                                 width, T(0), target, width);
                    for (std::size_t i = 0; i < count; ++i)
                        for (std::size_t o = g * group_out; o < (g + 1) * group_out; ++o) {
                            T* plane = y + ((s0 + i) * Out + o) * out_pixels;
                            const T* src = count == 1 ? plane : product + (o - g * group_out) * width + i * out_pixels;
                            finish_output_plane(src, o, plane);
                        }
                    if (!dy) continue;
                    // dW_g += dY_g cols^T, as in `gradients`
                    const T* dy_g = count == 1 ? dy + (s0 * Out + g * group_out) * out_pixels
                                               : gather_planes(dy, s0, count, g, product);
                    kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, group_out, group_k, width, T(1),
                                     dy_g, width, cols, width, T(1), gw + g * group_out * group_k, group_k);
                }
                if (dy) accumulate_bias_gradient(dy, s0, count, gb);
            }
        });
    }

    /// Runs `body(range, gw, gb)` over the samples, a range per thread of `sample_threads(n)`. With `accumulate`,
    /// `gw` and `gb` say where the thread sums the weight and bias gradients: thread 0 into the network's, the
    /// others into zeroed private sums that are added afterwards. Without it they are null.
    template <class Body>
    void for_sample_ranges(std::size_t n, bool accumulate, Body&& body)
    {
        const int threads = sample_threads(n);
        if (accumulate && thread_grads_.size() < std::size_t(threads)) thread_grads_.resize(std::size_t(threads));
        // The team that actually ran (one thread inside an outer parallel region), whose private sums are added.
        int team = 1;
        kernels::parallel_region(threads, [&](int t, int nt) {
            if (t == 0) team = nt;
            T* gw = nullptr;
            T* gb = nullptr;
            if (accumulate && t == 0) {
                gw = gw_;
                gb = gb_;
            } else if (accumulate) {
                auto& own = thread_grads_[std::size_t(t)];
                own.assign(parameter_count, T(0));
                gw = own.data();
                gb = own.data() + weight_count;
            }
            body(kernels::split_range(n, t, nt), gw, gb);
        });
        for (int t = 1; t < team && accumulate; ++t) {
            const T* own = thread_grads_[std::size_t(t)].data();
            kernels::map(parameter_count, gw_, own, gw_, [](auto a, auto b) { return a + b; });
        }
    }
    /// db += the sums of the output-gradient planes of `count` images from `s0` on.
    static void accumulate_bias_gradient(const T* dy, std::size_t s0, std::size_t count, T* gb)
    {
        if constexpr (UseBias)
            for (std::size_t i = 0; i < count; ++i)
                for (std::size_t o = 0; o < Out; ++o) gb[o] += kernels::sum(out_pixels, dy + ((s0 + i) * Out + o) * out_pixels);
    }

    /// Elements of one group's weights W_g [group_out, group_k] packed by `pack_a_full`.
    static constexpr std::size_t packed_group_size = kernels::packed_a_size<T>(group_out, group_k);
    /// The same for W_g^T [group_k, group_out].
    static constexpr std::size_t packed_transposed_group_size = kernels::packed_a_size<T>(group_k, group_out);

    /// Packs each group's weights W_g (or W_g^T with `transpose::yes`) as the A operand of the GEMMs,
    /// a slice per group, into `packed_weights_`.
    T* pack_weights(kernels::transpose how)
    {
        const bool t = how == kernels::transpose::yes;
        const std::size_t per_group = t ? packed_transposed_group_size : packed_group_size;
        T* packed = packed_weights_.get(G * per_group);
        for (std::size_t g = 0; g < G; ++g)
            kernels::pack_a_full(how, t ? group_k : group_out, t ? group_out : group_k, w_ + g * group_out * group_k,
                                 group_k, packed + g * per_group);
        return packed;
    }

    static int sample_threads(std::size_t n)
    {
        const double flops = 2.0 * double(n) * double(Out) * double(group_k) * double(out_pixels);
        const int t = kernels::threads_for(flops, 2.0e6);
        return int(std::min<std::size_t>(std::size_t(t), n));
    }

    T* w_ = nullptr;
    T* gw_ = nullptr;
    T* b_ = nullptr;
    T* gb_ = nullptr;
    std::vector<storage<T>> thread_grads_;
    std::vector<std::size_t> forward_offsets_, backward_offsets_;
    scratch<T> packed_weights_, flipped_weights_;
    bool relu_ = false;
};

} // namespace lepton
