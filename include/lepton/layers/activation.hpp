#pragma once
/// \file
/// Element-wise activations: ReLU, LeakyReLU, Sigmoid, Tanh, ELU, GELU.
///
/// Each is a pair of functors applied with `kernels::map`, which runs them on
/// xsimd batches (and on scalars for the tail): `forward(x)` and
/// `backward(x, y, dy)` giving dL/dx from the input, the output and dL/dy.

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../core/real.hpp"
#include "../kernels/elementwise.hpp"
#include "layer.hpp"

namespace lepton {

namespace activation {

/// max(x, 0).
struct relu {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "ReLU";
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return xsimd::max(x, V(0)); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V, V y, V dy) { return simd::select(y > V(0), dy, V(0)); }
};

/// x for x > 0, Slope * x otherwise.
template <real Slope>
struct leaky_relu {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "LeakyReLU";
    /// The slope for x <= 0.
    static constexpr double slope = Slope;
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return simd::select(x > V(0), x, x * V(slope)); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V x, V, V dy) { return simd::select(x > V(0), dy, dy * V(slope)); }
};

/// 1 / (1 + exp(-x)).
struct sigmoid {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "Sigmoid";
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return V(1) / (V(1) + xsimd::exp(-x)); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V, V y, V dy) { return dy * y * (V(1) - y); }
};

/// tanh(x).
struct tanh {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "Tanh";
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return xsimd::tanh(x); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V, V y, V dy) { return dy * (V(1) - y * y); }
};

/// exp(x) - 1 below zero, `torch.nn.ELU()` with alpha = 1.
struct elu {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "ELU";
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return simd::select(x > V(0), x, xsimd::exp(x) - V(1)); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V x, V y, V dy) { return simd::select(x > V(0), dy, dy * (y + V(1))); }
};

/// GELU with the exact Gaussian CDF, as `torch.nn.GELU()` (approximate='none').
struct gelu {
    /// Name of the activation, shown in summaries.
    static constexpr const char* name = "GELU";
    /// f(x), on an xsimd batch or a scalar.
    template <class V>
    static V forward(V x) { return V(0.5) * x * (V(1) + xsimd::erf(x * V(0.70710678118654752440))); }
    /// dL/dx from the input x, the output y = f(x) and dL/dy.
    template <class V>
    static V backward(V x, V, V dy)
    {
        const V cdf = V(0.5) * (V(1) + xsimd::erf(x * V(0.70710678118654752440)));
        const V pdf = xsimd::exp(V(-0.5) * x * x) * V(0.39894228040143267794);
        return dy * (cdf + x * pdf);
    }
};

} // namespace activation

/// An element-wise layer: the output has the input's shape.
template <class T, class Backend, class In, std::size_t Index, class Fn>
class activation_layer : public detail::layer_base<T, In, In> {
    using base = typename activation_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = Fn::name;

    /// Forward pass on a batch; returns the layer's own output buffer, or the
    /// input itself when the layer before has already applied this ReLU.
    const output_type& forward(const input_type& x, context&)
    {
        if (activated_input_) {
            passed_ = &x;
            return x;
        }
        output_type& y = this->output_like(x);
        kernels::map(x.size(), x.data(), y.data(), [](auto v) { return Fn::forward(v); });
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        if (gradient_masked_) return dy;  // already zero wherever the output is
        input_type& dx = this->input_grad_like(x);
        kernels::map(x.size(), x.data(), output().data(), dy.data(), dx.data(),
                     [](auto xv, auto yv, auto g) { return Fn::backward(xv, yv, g); });
        return dx;
    }

    /// The output of the last forward call.
    const output_type& output() const noexcept { return passed_ ? *passed_ : this->y_; }

    /// Called by the network when the layer before applies this ReLU to its own
    /// output (a convolution's fused epilogue, BatchNorm's normalising pass, a
    /// residual sum; each saves a pass over memory): forward then passes that
    /// output on. ReLU's gradient reads only its output, which is the same either way.
    void take_activated_input(bool on) noexcept
        requires std::is_same_v<Fn, activation::relu>
    {
        activated_input_ = on;
        passed_ = nullptr;
    }

    /// Called by the network when a neighbour applies this ReLU's gradient
    /// itself (max pooling after it, which knows which windows had a positive
    /// maximum; BatchNorm before it, which masks with its own output):
    /// backward then passes dL/dy on as dL/dx.
    void pass_gradient_through(bool on) noexcept
        requires std::is_same_v<Fn, activation::relu>
    {
        gradient_masked_ = on;
    }

private:
    bool activated_input_ = false;
    bool gradient_masked_ = false;
    const output_type* passed_ = nullptr;
};

namespace detail {
template <class Fn>
struct activation_spec {
    template <class T, class Backend, class In, std::size_t Index>
    using bind = activation_layer<T, Backend, In, Index, Fn>;
};
} // namespace detail

/// max(x, 0)
struct ReLU : detail::activation_spec<activation::relu> {};
/// x for x > 0, Slope * x otherwise (PyTorch's default slope 0.01).
template <real Slope = 0.01>
struct LeakyReLU : detail::activation_spec<activation::leaky_relu<Slope>> {};
/// 1 / (1 + exp(-x))
struct Sigmoid : detail::activation_spec<activation::sigmoid> {};
/// tanh(x)
struct Tanh : detail::activation_spec<activation::tanh> {};
/// x for x > 0, exp(x) - 1 otherwise.
struct ELU : detail::activation_spec<activation::elu> {};
/// x * Phi(x), exact.
struct GELU : detail::activation_spec<activation::gelu> {};

} // namespace lepton
