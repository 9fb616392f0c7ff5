#pragma once
/// \file
/// Graph attention (Veličković et al., 2018), PyTorch Geometric's `GATConv`:
/// per head h, z = x W_h^T; score(j -> i) = LeakyReLU(att_src . z_j + att_dst . z_i);
/// alpha = softmax of the scores over i's incoming edges (a self loop is added
/// to every node), dropped out with probability `AttentionDropout` in training;
/// y_i = sum_j alpha_ij z_j, heads concatenated or averaged, plus a bias.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../core/real.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/parallel.hpp"
#include "init.hpp"
#include "graph_layer.hpp"

namespace lepton {

/// How `GATConv` combines its heads.
enum class head_merge {
    concat,  ///< [heads * units] features, PyG's concat=True
    mean     ///< [units] features, PyG's concat=False
};

template <class T, class Backend, class In, std::size_t Index, std::size_t Units, std::size_t Heads, head_merge Merge,
          real AttentionDropout, real NegativeSlope>
class gat_conv_layer;

/// `GATConv<Units, Heads, Merge, AttentionDropout>`. Parameters as in PyG:
/// `att_src`, `att_dst` [1, Heads, Units], `bias`, `lin.weight` [Heads * Units, in];
/// Glorot-uniform initialisation, zero bias.
template <std::size_t Units, std::size_t Heads = 1, head_merge Merge = head_merge::concat,
          real AttentionDropout = 0.0, real NegativeSlope = 0.2>
struct GATConv {
    static_assert(Units > 0 && Heads > 0, "Lepton wiring error: GATConv needs at least one unit and one head");
    static_assert(AttentionDropout >= 0.0 && AttentionDropout < 1.0,
                  "Lepton wiring error: GATConv attention dropout must be in [0, 1)");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = gat_conv_layer<T, Backend, In, Index, Units, Heads, Merge, AttentionDropout, NegativeSlope>;
};

/// What `GATConv` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Units, std::size_t Heads, head_merge Merge,
          real AttentionDropout, real NegativeSlope>
class gat_conv_layer
    : public detail::layer_base<
          T, In,
          std::conditional_t<graph_input_must_be_node_features<layer_index<Index>, In>::value,
                             Shape<(Merge == head_merge::concat ? Heads * Units : Units)>, invalid_shape>> {
    static_assert(graph_input_must_be_node_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: GATConv needs node features [features]; put Flatten before it");
    using base = typename gat_conv_layer::layer_base;
    static constexpr std::size_t HC = Heads * Units;  // transformed features per node
    static constexpr std::size_t out_features = Merge == head_merge::concat ? HC : Units;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "GATConv";
    /// Input features per node.
    static constexpr std::size_t in_features = In::size;
    /// Weights of the shared projection (Heads * Units x in).
    static constexpr std::size_t weight_count = HC * In::size;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = 2 * HC + out_features + weight_count;
    /// Takes sparse node features (`sparse_matrix<T>`) as input as well.
    static constexpr bool accepts_sparse_input = true;

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        att_src_ = params;
        att_dst_ = params + HC;
        b_ = params + 2 * HC;
        w_ = params + 2 * HC + out_features;
        g_att_src_ = grads;
        g_att_dst_ = grads + HC;
        gb_ = grads + 2 * HC;
        gw_ = grads + 2 * HC + out_features;
    }

    /// PyG's `glorot` on att_src / att_dst [1, Heads, Units] uses fan sizes Heads and Units.
    template <class Policy = init::glorot_uniform>
    void initialize(random_engine& rng, Policy = {})
    {
        Policy::weight(w_, weight_count, in_features, HC, rng);
        init::glorot_uniform::weight(att_src_, HC, Heads, Units, rng);
        init::glorot_uniform::weight(att_dst_, HC, Heads, Units, rng);
        init::zero_bias::bias(b_, out_features, in_features, rng);
    }

    /// Calls f(name, data, grad, shape) for each parameter tensor, with PyG's names.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("att_src", att_src_, g_att_src_, parameter_shape{1, Heads, Units});
        f("att_dst", att_dst_, g_att_dst_, parameter_shape{1, Heads, Units});
        f("bias", b_, gb_, parameter_shape{out_features});
        f("lin.weight", w_, gw_, parameter_shape{HC, in_features});
    }

    /// Attention coefficients of the last forward call, [edges of the looped graph, Heads]
    /// in the graph's by-target edge order (after dropout in training).
    const std::vector<T>& attention() const noexcept { return alpha_; }

    /// Dense [nodes, in] or sparse (`sparse_matrix<T>`) node features.
    template <class X>
    const output_type& forward(const X& x, context& ctx)
    {
        const std::size_t n = detail::node_rows(x);
        graph_ = &detail::graph_of(ctx, kind, Index, n);
        const adjacency& a = graph_->with_self_loops();
        const std::size_t edges = a.edge_count();
        ensure_shape(z_, std::array<std::size_t, 2>{n, HC});
        proj_.forward(x, w_, HC, z_.data());

        // Per-node halves of every score: att_src . z_j and att_dst . z_i, per head.
        src_score_.resize(n * Heads);
        dst_score_.resize(n * Heads);
        for (std::size_t v = 0; v < n; ++v)
            for (std::size_t h = 0; h < Heads; ++h) {
                const T* zv = z_.data() + v * HC + h * Units;
                T s = 0, d = 0;
                for (std::size_t c = 0; c < Units; ++c) {
                    s += zv[c] * att_src_[h * Units + c];
                    d += zv[c] * att_dst_[h * Units + c];
                }
                src_score_[v * Heads + h] = s;
                dst_score_[v * Heads + h] = d;
            }

        score_.resize(edges * Heads);
        softmax_.resize(edges * Heads);
        alpha_.resize(edges * Heads);
        dropping_ = ctx.training && AttentionDropout > 0.0;
        if (dropping_) {  // drawn in one sequence so results do not depend on the thread count
            keep_.resize(edges * Heads);
            const T scale = T(1.0 / (1.0 - AttentionDropout));
            for (auto& k : keep_) k = ctx.rng->uniform() < AttentionDropout ? T(0) : scale;
        }

        output_type& y = this->output_for(n);
        T* heads_out = y.data();
        if constexpr (Merge == head_merge::mean) {
            ensure_shape(heads_, std::array<std::size_t, 2>{n, HC});
            heads_out = heads_.data();
        }
        kernels::parallel_region(kernels::threads_for(4.0 * double(edges) * HC), [&](int t, int nt) {
            const kernels::range r = kernels::split_range(n, t, nt);
            for (std::size_t i = r.begin; i < r.end; ++i) attend(a, i, heads_out + i * HC);
        });
        if constexpr (Merge == head_merge::mean) {
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t c = 0; c < Units; ++c) {
                    T s = 0;
                    for (std::size_t h = 0; h < Heads; ++h) s += heads_out[i * HC + h * Units + c];
                    y.data()[i * Units + c] = s / T(Heads);
                }
        }
        kernels::add_row_vector(n, out_features, b_, y.data());
        return y;
    }

    /// Accumulates parameter gradients; with `input_grad` and dense features, returns dL/dx.
    template <class X>
    const input_type& backward(const X& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = detail::node_rows(x);
        const adjacency& a = graph_->with_self_loops();
        kernels::accumulate_column_sums(n, out_features, dy.data(), gb_);

        // dL/d(head outputs) [n, HC]
        const T* dh = dy.data();
        if constexpr (Merge == head_merge::mean) {
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t h = 0; h < Heads; ++h)
                    for (std::size_t c = 0; c < Units; ++c)
                        heads_.data()[i * HC + h * Units + c] = dy.data()[i * Units + c] / T(Heads);
            dh = heads_.data();
        }

        // Per target: gradients of the scores (softmax and LeakyReLU backward) and of att_dst . z_i.
        d_score_.resize(score_.size());
        d_dst_.assign(n * Heads, T(0));
        d_src_.assign(n * Heads, T(0));
        const double work = 4.0 * double(a.edge_count()) * HC;
        kernels::parallel_region(kernels::threads_for(work), [&](int t, int nt) {
            const kernels::range r = kernels::split_range(n, t, nt);
            for (std::size_t i = r.begin; i < r.end; ++i) score_backward(a, i, dh);
        });
        // Per source: dZ_j = sum over edges j -> i of alpha * dH_i, and the src half of the scores,
        // gathered through the transpose so no two threads write one row.
        ensure_shape(dz_, std::array<std::size_t, 2>{n, HC});
        kernels::parallel_region(kernels::threads_for(work), [&](int t, int nt) {
            const kernels::range r = kernels::split_range(n, t, nt);
            for (std::size_t j = r.begin; j < r.end; ++j) source_backward(a, j, dh);
        });
        // Through the scores' dot products: att gradients and the rest of dZ.
        for (std::size_t v = 0; v < n; ++v)
            for (std::size_t h = 0; h < Heads; ++h) {
                const T ds = d_src_[v * Heads + h], dd = d_dst_[v * Heads + h];
                const T* zv = z_.data() + v * HC + h * Units;
                T* dzv = dz_.data() + v * HC + h * Units;
                for (std::size_t c = 0; c < Units; ++c) {
                    g_att_src_[h * Units + c] += ds * zv[c];
                    g_att_dst_[h * Units + c] += dd * zv[c];
                    dzv[c] += ds * att_src_[h * Units + c] + dd * att_dst_[h * Units + c];
                }
            }
        proj_.accumulate_weight_grad(x, dz_.data(), HC, gw_);
        if constexpr (std::is_same_v<X, input_type>) {
            if (input_grad) {
                input_type& dx = this->input_grad_like(x);
                detail::projection<T>::input_grad(n, in_features, dz_.data(), w_, HC, dx.data(), false);
            }
        }
        return this->dx_;
    }

private:
    static T leaky(T s) noexcept { return s > T(0) ? s : T(NegativeSlope) * s; }

    /// Scores, softmax and weighted sum for target node i.
    void attend(const adjacency& a, std::size_t i, T* out) noexcept
    {
        const std::size_t begin = a.offsets()[i], end = a.offsets()[i + 1];
        for (std::size_t h = 0; h < Heads; ++h) {
            T m = -std::numeric_limits<T>::infinity();
            for (std::size_t e = begin; e < end; ++e) {
                const T s = src_score_[a.sources()[e] * Heads + h] + dst_score_[i * Heads + h];
                score_[e * Heads + h] = s;
                m = std::max(m, leaky(s));
            }
            T sum = 0;
            for (std::size_t e = begin; e < end; ++e) {
                const T p = std::exp(leaky(score_[e * Heads + h]) - m);
                softmax_[e * Heads + h] = p;
                sum += p;
            }
            for (std::size_t e = begin; e < end; ++e) {
                const std::size_t k = e * Heads + h;
                softmax_[k] /= sum;
                alpha_[k] = dropping_ ? softmax_[k] * keep_[k] : softmax_[k];
            }
        }
        std::fill(out, out + HC, T(0));
        for (std::size_t e = begin; e < end; ++e) {
            const T* zj = z_.data() + std::size_t(a.sources()[e]) * HC;
            for (std::size_t h = 0; h < Heads; ++h) {
                const T w = alpha_[e * Heads + h];
                kernels::map(Units, out + h * Units, zj + h * Units, out + h * Units,
                             [w](auto acc, auto v) { return acc + decltype(v)(w) * v; });
            }
        }
    }

    /// dL/dscore for the edges into i, and i's share of dL/d(att_dst . z_i).
    void score_backward(const adjacency& a, std::size_t i, const T* dh) noexcept
    {
        const std::size_t begin = a.offsets()[i], end = a.offsets()[i + 1];
        for (std::size_t h = 0; h < Heads; ++h) {
            const T* dhi = dh + i * HC + h * Units;
            T weighted = 0;  // sum_e p_e dL/dp_e
            for (std::size_t e = begin; e < end; ++e) {
                const std::size_t k = e * Heads + h;
                const T* zj = z_.data() + std::size_t(a.sources()[e]) * HC + h * Units;
                T d_alpha = 0;
                for (std::size_t c = 0; c < Units; ++c) d_alpha += dhi[c] * zj[c];
                const T d_p = dropping_ ? d_alpha * keep_[k] : d_alpha;
                d_score_[k] = d_p;
                weighted += softmax_[k] * d_p;
            }
            T d_dst = 0;
            for (std::size_t e = begin; e < end; ++e) {
                const std::size_t k = e * Heads + h;
                const T d_leaky = softmax_[k] * (d_score_[k] - weighted);
                d_score_[k] = score_[k] > T(0) ? d_leaky : T(NegativeSlope) * d_leaky;
                d_dst += d_score_[k];
            }
            d_dst_[i * Heads + h] = d_dst;
        }
    }

    /// dZ_j from the weighted sums j feeds, and dL/d(att_src . z_j).
    void source_backward(const adjacency& a, std::size_t j, const T* dh) noexcept
    {
        T* dzj = dz_.data() + j * HC;
        std::fill(dzj, dzj + HC, T(0));
        for (std::size_t t = a.out_offsets()[j]; t < a.out_offsets()[j + 1]; ++t) {
            const std::size_t e = a.out_edge()[t];
            const T* dhi = dh + std::size_t(a.targets()[t]) * HC;
            for (std::size_t h = 0; h < Heads; ++h) {
                const T w = alpha_[e * Heads + h];
                kernels::map(Units, dzj + h * Units, dhi + h * Units, dzj + h * Units,
                             [w](auto acc, auto v) { return acc + decltype(v)(w) * v; });
                d_src_[j * Heads + h] += d_score_[e * Heads + h];
            }
        }
    }

    T* w_ = nullptr;
    T* gw_ = nullptr;
    T* att_src_ = nullptr;
    T* g_att_src_ = nullptr;
    T* att_dst_ = nullptr;
    T* g_att_dst_ = nullptr;
    T* b_ = nullptr;
    T* gb_ = nullptr;
    const Graph* graph_ = nullptr;
    bool dropping_ = false;
    tensor<T, 2> z_, dz_, heads_;
    std::vector<T> src_score_, dst_score_, score_, softmax_, alpha_, keep_, d_score_, d_src_, d_dst_;
    detail::projection<T> proj_;
};

} // namespace lepton
