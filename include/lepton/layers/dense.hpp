#pragma once
/// \file
/// Fully connected layer, `torch.nn.Linear` semantics: y = x W^T + b with
/// W stored [out_features, in_features] as in PyTorch.

#include <cstddef>

#include "../core/backend.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "init.hpp"
#include "layer.hpp"
#include "weight_and_bias.hpp"
#include "projection.hpp"

namespace lepton {

/// Wiring check shown in compiler notes: Dense at `Where` received a non-flat `Got`.
template <class Where, class Got>
struct dense_input_must_be_flat {
    static constexpr bool value = is_invalid_shape<Got> || (Got::rank == 1 && !Got::has_dynamic);
};

template <class T, class Backend, class In, std::size_t Index, std::size_t Units, bool UseBias, class Init>
class dense_layer;

/// `Dense<Units>`: a fully connected layer with `Units` outputs.
/// `UseBias = false` drops the bias; `Init` picks the initialiser (PyTorch's by default).
template <std::size_t Units, bool UseBias = true, class Init = init::torch_default>
struct Dense {
    static_assert(Units > 0, "Lepton wiring error: Dense<Units> needs at least one unit");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = dense_layer<T, Backend, In, Index, Units, UseBias, Init>;
};

/// What `Dense` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Units, bool UseBias, class Init>
class dense_layer
    : public detail::layer_base<T, In, std::conditional_t<dense_input_must_be_flat<layer_index<Index>, In>::value,
                                                          Shape<Units>, invalid_shape>> {
    static_assert(dense_input_must_be_flat<layer_index<Index>, In>::value,
                  "Lepton wiring error: Dense needs a flat input [features]; put Flatten before it");
    using base = typename dense_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Dense";
    /// Input features.
    static constexpr std::size_t in_features = In::size;
    /// Output features (Units).
    static constexpr std::size_t out_features = Units;
    /// Number of weights (without the bias).
    static constexpr std::size_t weight_count = Units * In::size;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = weight_count + (UseBias ? Units : 0);
    /// Takes sparse rows (`sparse_matrix<T>`) as input as well.
    static constexpr bool accepts_sparse_input = true;

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        p_.bind(params, grads);
    }

    /// Weight and bias from the spec's initialiser, or from `Policy` when given.
    template <class Policy = Init>
    void initialize(random_engine& rng, Policy = {})
    {
        p_.template initialize<Policy>(rng);
    }

    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class F>
    void for_each_parameter(F&& f)
    {
        p_.for_each_parameter(f, "weight");
    }

    /// The weight [out_features, in_features] as an xtensor view.
    auto weight() { return view<T, 2>(p_.w, {Units, in_features}); }
    /// The bias [out_features] (only with UseBias).
    auto bias() requires UseBias { return view<T, 1>(p_.b, {Units}); }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, n, Units, in_features, T(1), x.data(),
                         in_features, p_.w, in_features, T(0), y.data(), Units);
        if constexpr (UseBias) kernels::add_row_vector(n, Units, p_.b, y.data());
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = this->batch_of(x);
        // dW += dy^T x ; db += column sums of dy ; dx = dy W
        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, Units, in_features, n, T(1), dy.data(),
                         Units, x.data(), in_features, T(1), p_.gw, in_features);
        if constexpr (UseBias) kernels::accumulate_column_sums(n, Units, dy.data(), p_.gb);
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_like(x);
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::no, n, in_features, Units, T(1), dy.data(), Units,
                         p_.w, in_features, T(0), dx.data(), in_features);
        return dx;
    }

    /// Sparse rows (`sparse_matrix<T>`, e.g. bag-of-words features), never densified.
    const output_type& forward(const sparse_matrix<T>& x, context&)
    {
        check_columns(x);
        output_type& y = this->output_for(x.rows());
        sparse_.forward(x, p_.w, Units, y.data());
        if constexpr (UseBias) kernels::add_row_vector(x.rows(), Units, p_.b, y.data());
        return y;
    }

    /// Parameter gradients for a sparse input; a sparse input has no gradient.
    const input_type& backward(const sparse_matrix<T>& x, const output_type& dy, bool)
    {
        sparse_.accumulate_weight_grad(x, dy.data(), Units, p_.gw);
        if constexpr (UseBias) kernels::accumulate_column_sums(x.rows(), Units, dy.data(), p_.gb);
        return this->dx_;
    }

private:
    static void check_columns(const sparse_matrix<T>& x)
    {
        if (x.cols() != in_features)
            throw shape_error("lepton: layer " + std::to_string(Index) + " (Dense) expects sparse rows of " +
                              std::to_string(in_features) + " features, got " + std::to_string(x.cols()));
    }

    detail::projection<T> sparse_;
    detail::weight_and_bias<T, Units, In::size, UseBias> p_;
};

} // namespace lepton
