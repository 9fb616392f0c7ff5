#pragma once
/// \file
/// Graph convolution of Kipf & Welling (2017), PyTorch Geometric's `GCNConv`:
/// Y = D^-1/2 (A + I) D^-1/2 X W^T + b, with degrees counted over incoming
/// edges and a self loop added to every node that lacks one.

#include <cstddef>

#include "../kernels/elementwise.hpp"
#include "init.hpp"
#include "graph_layer.hpp"
#include "weight_and_bias.hpp"

namespace lepton {

template <class T, class Backend, class In, std::size_t Index, std::size_t Units, bool UseBias, class Init>
class graph_conv_layer;

/// `GraphConv<Units>`: GCN layer with `Units` output features per node. Its
/// parameters are named as in PyG (`lin.weight` [Units, in], `bias`), and
/// initialised as PyG does (Glorot-uniform weight, zero bias).
template <std::size_t Units, bool UseBias = true, class Init = init::glorot_uniform>
struct GraphConv {
    static_assert(Units > 0, "Lepton wiring error: GraphConv<Units> needs at least one unit");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = graph_conv_layer<T, Backend, In, Index, Units, UseBias, Init>;
};

/// What `GraphConv` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Units, bool UseBias, class Init>
class graph_conv_layer
    : public detail::layer_base<
          T, In,
          std::conditional_t<graph_input_must_be_node_features<layer_index<Index>, In>::value, Shape<Units>,
                             invalid_shape>> {
    static_assert(graph_input_must_be_node_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: GraphConv needs node features [features]; put Flatten before it");
    using base = typename graph_conv_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "GraphConv";
    /// Input features per node.
    static constexpr std::size_t in_features = In::size;
    /// Number of weights (without the bias).
    static constexpr std::size_t weight_count = Units * In::size;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = weight_count + (UseBias ? Units : 0);
    /// Takes sparse node features (`sparse_matrix<T>`) as input as well.
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

    /// Calls f(name, data, grad, shape) for each parameter tensor, with PyG's names.
    template <class F>
    void for_each_parameter(F&& f)
    {
        p_.for_each_parameter(f, "lin.weight");
    }

    /// Dense [nodes, in] or sparse (`sparse_matrix<T>`) node features.
    template <class X>
    const output_type& forward(const X& x, context& ctx)
    {
        const std::size_t n = detail::node_rows(x);
        graph_ = &detail::graph_of(ctx, kind, Index, n);
        ensure_shape(z_, batch_shape<Shape<Units>>(n));
        proj_.forward(x, p_.w, Units, z_.data());  // transform first: Units is usually far below in_features
        output_type& y = this->output_for(n);
        const adjacency& a = graph_->with_self_loops();
        kernels::spmm(a.gather(graph_->gcn_weights<T>().data()), z_.data(), Units, y.data());
        if constexpr (UseBias) kernels::add_row_vector(n, Units, p_.b, y.data());
        return y;
    }

    /// Accumulates parameter gradients; with `input_grad` and dense features, returns dL/dx.
    template <class X>
    const input_type& backward(const X& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = detail::node_rows(x);
        const adjacency& a = graph_->with_self_loops();
        // dZ = Â^T dY; Â is its own transpose on undirected graphs.
        if (a.is_symmetric())
            kernels::spmm(a.gather(graph_->gcn_weights<T>().data()), dy.data(), Units, z_.data());
        else
            kernels::spmm(a.gather_transposed(graph_->gcn_weights_transposed<T>().data()), dy.data(), Units, z_.data());
        if constexpr (UseBias) kernels::accumulate_column_sums(n, Units, dy.data(), p_.gb);
        proj_.accumulate_weight_grad(x, z_.data(), Units, p_.gw);
        if constexpr (std::is_same_v<X, input_type>) {
            if (input_grad) {
                input_type& dx = this->input_grad_like(x);
                detail::projection<T>::input_grad(n, in_features, z_.data(), p_.w, Units, dx.data(), false);
            }
        }
        return this->dx_;
    }

private:
    detail::weight_and_bias<T, Units, In::size, UseBias> p_;
    const Graph* graph_ = nullptr;
    output_type z_;  ///< X W^T in forward, then dL/d(X W^T) in backward
    detail::projection<T> proj_;
};

} // namespace lepton
