#pragma once
/// \file
/// Softmax over the last dimension, `torch.nn.Softmax(dim=-1)`.
/// For classification training prefer raw logits with `SoftmaxCrossEntropy`,
/// which fuses the two and is numerically safer.

#include <cmath>
#include <cstddef>

#include "../kernels/elementwise.hpp"
#include "layer.hpp"

namespace lepton {

/// What `Softmax` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index>
class softmax_layer : public detail::layer_base<T, In, In> {
    using base = typename softmax_layer::layer_base;
    static constexpr std::size_t cols = In::dims[In::rank - 1];

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Softmax";

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        output_type& y = this->output_like(x);
        const std::size_t rows = x.size() / cols;
        for (std::size_t r = 0; r < rows; ++r) {
            const T* in = x.data() + r * cols;
            T* out = y.data() + r * cols;
            T m = in[0];
            for (std::size_t c = 1; c < cols; ++c) m = in[c] > m ? in[c] : m;
            kernels::map(cols, in, out, [m](auto v) { return xsimd::exp(v - decltype(v)(m)); });
            const T inv = T(1) / kernels::sum(cols, out);
            kernels::map(cols, out, out, [inv](auto v) { return v * decltype(v)(inv); });
        }
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_like(x);
        const std::size_t rows = x.size() / cols;
        for (std::size_t r = 0; r < rows; ++r) {
            const T* y = this->y_.data() + r * cols;
            const T* g = dy.data() + r * cols;
            T dot = 0;
            for (std::size_t c = 0; c < cols; ++c) dot += y[c] * g[c];
            // dx = y * (dy - <y, dy>)
            kernels::map(cols, y, g, dx.data() + r * cols,
                         [dot](auto yv, auto gv) { return yv * (gv - decltype(yv)(dot)); });
        }
        return dx;
    }
};

/// Softmax over the last dimension of each sample.
struct Softmax {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = softmax_layer<T, Backend, In, Index>;
};

} // namespace lepton
