#pragma once
/// \file
/// Dropout, `torch.nn.Dropout(p)`: in training, zeroes each element with
/// probability p and scales the rest by 1 / (1 - p); the identity in evaluation.
/// `Dropout2D` (`torch.nn.Dropout2d`) drops whole channels of [C, H, W] samples.

#include <algorithm>
#include <cstddef>

#include "../core/real.hpp"
#include "../kernels/elementwise.hpp"
#include "../graph/sparse_matrix.hpp"
#include "layer.hpp"

namespace lepton {

/// `Plane` elements share one keep/drop decision: 1 for Dropout, H * W for Dropout2D.
template <class T, class Backend, class In, std::size_t Index, real Rate, std::size_t Plane>
class dropout_layer : public detail::layer_base<T, In, In> {
    using base = typename dropout_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = Plane == 1 ? "Dropout" : "Dropout2D";
    /// Dropout (not Dropout2D) takes sparse rows as input as well.
    static constexpr bool accepts_sparse_input = Plane == 1;

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context& ctx)
    {
        output_type& y = this->output_like(x);
        training_ = ctx.training && Rate > 0.0;
        if (!training_) {
            std::copy(x.data(), x.data() + x.size(), y.data());
            return y;
        }
        ensure_shape(mask_, x.shape());
        const T keep_scale = T(1.0 / (1.0 - Rate));
        T* mask = mask_.data();
        for (std::size_t i = 0; i < mask_.size(); i += Plane) {
            const T m = ctx.rng->uniform() < Rate ? T(0) : keep_scale;
            std::fill(mask + i, mask + i + Plane, m);
        }
        kernels::map(x.size(), x.data(), mask, y.data(), [](auto a, auto m) { return a * m; });
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_like(x);
        if (!training_)
            std::copy(dy.data(), dy.data() + dy.size(), dx.data());
        else
            kernels::map(dy.size(), dy.data(), mask_.data(), dx.data(), [](auto g, auto m) { return g * m; });
        return dx;
    }

    /// Sparse rows (e.g. bag-of-words node features): drops stored entries and
    /// returns a sparse matrix of the same structure; the zeros stay zero.
    const sparse_matrix<T>& forward(const sparse_matrix<T>& x, context& ctx)
        requires(Plane == 1)
    {
        sparse_y_.copy_structure(x);
        std::span<const T> in = x.values();
        std::span<T> out = sparse_y_.values();
        const T keep_scale = T(1.0 / (1.0 - Rate));
        const bool drop = ctx.training && Rate > 0.0;
        for (std::size_t k = 0; k < in.size(); ++k)
            out[k] = drop && ctx.rng->uniform() < Rate ? T(0) : (drop ? in[k] * keep_scale : in[k]);
        return sparse_y_;
    }

private:
    sparse_matrix<T> sparse_y_;
    tensor<T, In::rank + 1> mask_;
    bool training_ = false;
};

/// `Dropout<0.5>` drops half of the activations during training.
template <real Rate>
struct Dropout {
    static_assert(Rate >= 0.0 && Rate < 1.0, "Lepton wiring error: Dropout rate must be in [0, 1)");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = dropout_layer<T, Backend, In, Index, Rate, 1>;
};

template <class Where, class Got>
struct dropout2d_input_must_be_chw {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 3;
};

/// `Dropout2D<0.2>` drops each channel of a [C, H, W] sample with probability 0.2.
template <real Rate>
struct Dropout2D {
    static_assert(Rate >= 0.0 && Rate < 1.0, "Lepton wiring error: Dropout2D rate must be in [0, 1)");
    /// Checks the input shape before binding.
    template <class T, class Backend, class In, std::size_t Index>
    struct checked {
        static_assert(dropout2d_input_must_be_chw<layer_index<Index>, In>::value,
                      "Lepton wiring error: Dropout2D needs an input [channels, height, width]");
        /// The bound layer.
        using type = dropout_layer<T, Backend, In, Index, Rate, In::size / In::dims[0]>;
    };
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename checked<T, Backend, In, Index>::type;
};

} // namespace lepton
