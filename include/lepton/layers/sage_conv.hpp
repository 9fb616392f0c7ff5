#pragma once
/// \file
/// GraphSAGE with mean aggregation (Hamilton et al., 2017), PyTorch
/// Geometric's `SAGEConv(aggr="mean")`: y_i = W_l mean_{j -> i} x_j + b + W_r x_i.
/// A node without incoming edges aggregates to zero.

#include <cstddef>

#include "../kernels/elementwise.hpp"
#include "init.hpp"
#include "graph_layer.hpp"

namespace lepton {

template <class T, class Backend, class In, std::size_t Index, std::size_t Units, class Init>
class sage_conv_layer;

/// `SAGEConv<Units>`: parameters named as in PyG (`lin_l.weight`, `lin_l.bias`,
/// `lin_r.weight`, all [Units, in] or [Units]); PyTorch's Linear initialisation.
template <std::size_t Units, class Init = init::torch_default>
struct SAGEConv {
    static_assert(Units > 0, "Lepton wiring error: SAGEConv<Units> needs at least one unit");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = sage_conv_layer<T, Backend, In, Index, Units, Init>;
};

/// What `SAGEConv` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Units, class Init>
class sage_conv_layer
    : public detail::layer_base<
          T, In,
          std::conditional_t<graph_input_must_be_node_features<layer_index<Index>, In>::value, Shape<Units>,
                             invalid_shape>> {
    static_assert(graph_input_must_be_node_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: SAGEConv needs node features [features]; put Flatten before it");
    using base = typename sage_conv_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "SAGEConv";
    /// Input features per node.
    static constexpr std::size_t in_features = In::size;
    /// Weights of each of the two linear maps.
    static constexpr std::size_t weight_count = Units * In::size;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = 2 * weight_count + Units;
    /// Takes sparse node features (`sparse_matrix<T>`) as input as well.
    static constexpr bool accepts_sparse_input = true;

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        wl_ = params;
        gwl_ = grads;
        b_ = params + weight_count;
        gb_ = grads + weight_count;
        wr_ = params + weight_count + Units;
        gwr_ = grads + weight_count + Units;
    }

    /// Weights and bias from the spec's initialiser, or from `Policy` when given.
    template <class Policy = Init>
    void initialize(random_engine& rng, Policy = {})
    {
        Policy::weight(wl_, weight_count, in_features, Units, rng);
        Policy::bias(b_, Units, in_features, rng);
        Policy::weight(wr_, weight_count, in_features, Units, rng);
    }

    /// Calls f(name, data, grad, shape) for each parameter tensor, with PyG's names.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("lin_l.weight", wl_, gwl_, parameter_shape{Units, in_features});
        f("lin_l.bias", b_, gb_, parameter_shape{Units});
        f("lin_r.weight", wr_, gwr_, parameter_shape{Units, in_features});
    }

    /// Dense [nodes, in] or sparse (`sparse_matrix<T>`) node features.
    template <class X>
    const output_type& forward(const X& x, context& ctx)
    {
        const std::size_t n = detail::node_rows(x);
        graph_ = &detail::graph_of(ctx, kind, Index, n);
        // mean(x) W_l^T = mean(x W_l^T): transform first, aggregate Units columns.
        ensure_shape(z_, batch_shape<Shape<Units>>(n));
        proj_.forward(x, wl_, Units, z_.data());
        output_type& y = this->output_for(n);
        proj_.forward(x, wr_, Units, y.data());
        const adjacency& a = graph_->edges();
        kernels::spmm(a.gather(graph_->mean_weights<T>().data()), z_.data(), Units, y.data(), /*accumulate=*/true);
        kernels::add_row_vector(n, Units, b_, y.data());
        return y;
    }

    /// Accumulates parameter gradients; with `input_grad` and dense features, returns dL/dx.
    template <class X>
    const input_type& backward(const X& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = detail::node_rows(x);
        const adjacency& a = graph_->edges();
        // The mean's transpose weighs edge j -> i by 1 / in-degree(i): not symmetric even on undirected graphs.
        kernels::spmm(a.gather_transposed(graph_->mean_weights_transposed<T>().data()), dy.data(), Units, z_.data());
        kernels::accumulate_column_sums(n, Units, dy.data(), gb_);
        proj_.accumulate_weight_grad(x, z_.data(), Units, gwl_);
        proj_.accumulate_weight_grad(x, dy.data(), Units, gwr_);
        if constexpr (std::is_same_v<X, input_type>) {
            if (input_grad) {
                input_type& dx = this->input_grad_like(x);
                detail::projection<T>::input_grad(n, in_features, z_.data(), wl_, Units, dx.data(), false);
                detail::projection<T>::input_grad(n, in_features, dy.data(), wr_, Units, dx.data(), true);
            }
        }
        return this->dx_;
    }

private:
    T* wl_ = nullptr;
    T* gwl_ = nullptr;
    T* b_ = nullptr;
    T* gb_ = nullptr;
    T* wr_ = nullptr;
    T* gwr_ = nullptr;
    const Graph* graph_ = nullptr;
    output_type z_;  ///< X W_l^T in forward, then dL/d(X W_l^T) in backward
    detail::projection<T> proj_;
};

} // namespace lepton
