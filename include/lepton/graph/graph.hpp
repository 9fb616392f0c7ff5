#pragma once
/// \file
/// `Graph`: the structure graph layers aggregate over, built once from an edge
/// list and reused by every forward and backward pass.
///
/// Edges follow PyTorch Geometric's `edge_index` convention: a pair
/// (source, target) sends a message from `source` to `target`. The adjacency
/// is stored by target (row i lists the sources of i's incoming edges, which is
/// what a gather-style aggregation reads) together with its transpose (row j
/// lists the edges leaving j), which backward passes use to gather instead of
/// scattering, so they thread without atomics.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../kernels/spmm.hpp"

namespace lepton {

/// How `Graph` treats the edge list it is given.
struct graph_options {
    bool symmetrize = false;  ///< add (v, u) for every (u, v): an undirected graph
    bool self_loops = false;  ///< add (i, i) for every node
};

/// A directed adjacency in CSR by target, with its transpose.
class adjacency {
public:
    adjacency() = default;

    /// From sorted, duplicate-free (source, target) pairs ordered by target then source.
    adjacency(std::size_t nodes, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& by_target)
        : offsets_(nodes + 1, 0), sources_(by_target.size())
    {
        for (std::size_t e = 0; e < by_target.size(); ++e) {
            sources_[e] = by_target[e].first;
            ++offsets_[by_target[e].second + 1];
        }
        for (std::size_t i = 0; i < nodes; ++i) offsets_[i + 1] += offsets_[i];
        // Transpose by counting sort over sources; within a row edges stay in target order.
        out_offsets_.assign(nodes + 1, 0);
        for (auto s : sources_) ++out_offsets_[s + 1];
        for (std::size_t i = 0; i < nodes; ++i) out_offsets_[i + 1] += out_offsets_[i];
        targets_.resize(sources_.size());
        out_edge_.resize(sources_.size());
        std::vector<std::size_t> fill(out_offsets_.begin(), out_offsets_.end() - 1);
        for (std::size_t i = 0; i < nodes; ++i)
            for (std::size_t e = offsets_[i]; e < offsets_[i + 1]; ++e) {
                const std::size_t t = fill[sources_[e]]++;
                targets_[t] = static_cast<std::uint32_t>(i);
                out_edge_[t] = e;
            }
        symmetric_ = out_offsets_ == offsets_ && targets_ == sources_;
    }

    /// Nodes of the graph.
    std::size_t node_count() const noexcept { return offsets_.size() - 1; }
    /// Directed edges stored.
    std::size_t edge_count() const noexcept { return sources_.size(); }
    /// Every edge has its reverse: the transpose is the adjacency itself.
    bool is_symmetric() const noexcept { return symmetric_; }

    /// Edges into node i are [offsets()[i], offsets()[i + 1]); their sources are in `sources()`.
    std::span<const std::size_t> offsets() const noexcept { return offsets_; }
    /// Source node of each edge, by target.
    std::span<const std::uint32_t> sources() const noexcept { return sources_; }
    /// Edges out of node j are [out_offsets()[j], out_offsets()[j + 1]); `targets()` names
    /// where they go and `out_edge()` their index in the by-target order.
    std::span<const std::size_t> out_offsets() const noexcept { return out_offsets_; }
    /// Target node of each edge, by source.
    std::span<const std::uint32_t> targets() const noexcept { return targets_; }
    /// By-target index of each edge, by source.
    std::span<const std::size_t> out_edge() const noexcept { return out_edge_; }
    /// Edges into node i.
    std::size_t in_degree(std::size_t i) const noexcept { return offsets_[i + 1] - offsets_[i]; }

    /// The matrix M with M[i, j] = w[e] for edge e = (j -> i): aggregation is M * X.
    template <class T>
    kernels::csr_ref<T> gather(const T* edge_weights) const noexcept
    {
        return {node_count(), offsets_.data(), sources_.data(), edge_weights};
    }
    /// M^T, with weights already in out-edge order (see `to_out_order`).
    template <class T>
    kernels::csr_ref<T> gather_transposed(const T* out_ordered_weights) const noexcept
    {
        return {node_count(), out_offsets_.data(), targets_.data(), out_ordered_weights};
    }
    /// Per-edge values from by-target order into out-edge order.
    template <class T>
    void to_out_order(const T* by_target, T* out_ordered) const noexcept
    {
        for (std::size_t t = 0; t < out_edge_.size(); ++t) out_ordered[t] = by_target[out_edge_[t]];
    }

private:
    std::vector<std::size_t> offsets_{0};
    std::vector<std::uint32_t> sources_;
    std::vector<std::size_t> out_offsets_{0};
    std::vector<std::uint32_t> targets_;
    std::vector<std::size_t> out_edge_;
    bool symmetric_ = true;
};

/// A graph of `node_count()` nodes (a run-time size, like a batch) and the
/// normalisations its layers use, computed once.
class Graph {
public:
    Graph() = default;

    /// Builds from (source, target) pairs. Repeated edges count once. Throws
    /// `value_error` naming the first edge that names a node outside [0, nodes).
    Graph(std::size_t nodes, std::span<const std::pair<std::size_t, std::size_t>> edges, graph_options options = {})
    {
        if (nodes >= (std::size_t{1} << 32)) throw value_error("lepton: Graph: at most 2^32 - 1 nodes");
        std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;  // (target, source) while sorting
        pairs.reserve(edges.size() * (options.symmetrize ? 2 : 1) + (options.self_loops ? nodes : 0));
        for (std::size_t e = 0; e < edges.size(); ++e) {
            const auto [s, t] = edges[e];
            if (s >= nodes || t >= nodes)
                throw value_error("lepton: Graph: edge " + std::to_string(e) + " (" + std::to_string(s) + " -> " +
                                  std::to_string(t) + ") names node " + std::to_string(s >= nodes ? s : t) +
                                  ", but the graph has " + std::to_string(nodes) + " nodes (0.." +
                                  std::to_string(nodes == 0 ? 0 : nodes - 1) + ")");
            pairs.emplace_back(std::uint32_t(t), std::uint32_t(s));
            if (options.symmetrize) pairs.emplace_back(std::uint32_t(s), std::uint32_t(t));
        }
        if (options.self_loops)
            for (std::size_t i = 0; i < nodes; ++i) pairs.emplace_back(std::uint32_t(i), std::uint32_t(i));
        edges_ = make_adjacency(nodes, std::move(pairs));

        // A + I where I only adds the loops that are missing (PyG's add_remaining_self_loops).
        std::vector<std::pair<std::uint32_t, std::uint32_t>> looped;
        looped.reserve(edges_.edge_count() + nodes);
        for (std::size_t i = 0; i < nodes; ++i) {
            for (std::size_t e = edges_.offsets()[i]; e < edges_.offsets()[i + 1]; ++e)
                looped.emplace_back(std::uint32_t(i), edges_.sources()[e]);
            looped.emplace_back(std::uint32_t(i), std::uint32_t(i));
        }
        looped_ = make_adjacency(nodes, std::move(looped));
        compute_normalisations();
    }

    /// Nodes of the graph: the row count its node features must have.
    std::size_t node_count() const noexcept { return edges_.node_count(); }
    /// Directed edges stored (an undirected edge counts twice, a self loop once).
    std::size_t edge_count() const noexcept { return edges_.edge_count(); }
    /// Every edge has its reverse.
    bool is_symmetric() const noexcept { return edges_.is_symmetric(); }

    /// The edges as given (after the options).
    const adjacency& edges() const noexcept { return edges_; }
    /// The edges plus one self loop on every node that lacks one (GCN, GAT).
    const adjacency& with_self_loops() const noexcept { return looped_; }

    /// Per-edge weights of `with_self_loops()`: deg(i)^-1/2 deg(j)^-1/2 for edge j -> i,
    /// degrees counted over incoming edges including the loop (GCN's D^-1/2 (A+I) D^-1/2).
    template <class T>
    std::span<const T> gcn_weights() const noexcept
    {
        return pick<T>(gcn_);
    }
    /// The same weights in out-edge order, for the transposed product.
    template <class T>
    std::span<const T> gcn_weights_transposed() const noexcept
    {
        return pick<T>(gcn_t_);
    }
    /// Per-edge weights of `edges()`: 1 / in-degree(i) for edge j -> i (mean aggregation).
    template <class T>
    std::span<const T> mean_weights() const noexcept
    {
        return pick<T>(mean_);
    }
    /// The mean weights in out-edge order, for the transposed product.
    template <class T>
    std::span<const T> mean_weights_transposed() const noexcept
    {
        return pick<T>(mean_t_);
    }

private:
    struct weights {
        std::vector<float> f;
        std::vector<double> d;
        void assign(const std::vector<double>& v)
        {
            d = v;
            f.assign(v.begin(), v.end());
        }
    };
    template <class T>
    static std::span<const T> pick(const weights& w) noexcept
    {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "graph weights are float or double");
        if constexpr (std::is_same_v<T, float>)
            return w.f;
        else
            return w.d;
    }

    static adjacency make_adjacency(std::size_t nodes, std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs)
    {
        std::sort(pairs.begin(), pairs.end());
        pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
        for (auto& p : pairs) std::swap(p.first, p.second);  // to (source, target)
        return adjacency(nodes, pairs);
    }

    void compute_normalisations()
    {
        const std::size_t n = node_count();
        std::vector<double> inv_sqrt(n);
        for (std::size_t i = 0; i < n; ++i) inv_sqrt[i] = 1.0 / std::sqrt(double(looped_.in_degree(i)));
        std::vector<double> gcn(looped_.edge_count()), gcn_t(looped_.edge_count());
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t e = looped_.offsets()[i]; e < looped_.offsets()[i + 1]; ++e)
                gcn[e] = inv_sqrt[i] * inv_sqrt[looped_.sources()[e]];
        looped_.to_out_order(gcn.data(), gcn_t.data());
        gcn_.assign(gcn);
        gcn_t_.assign(gcn_t);

        std::vector<double> mean(edges_.edge_count()), mean_t(edges_.edge_count());
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t e = edges_.offsets()[i]; e < edges_.offsets()[i + 1]; ++e)
                mean[e] = 1.0 / double(edges_.in_degree(i));
        edges_.to_out_order(mean.data(), mean_t.data());
        mean_.assign(mean);
        mean_t_.assign(mean_t);
    }

    adjacency edges_;
    adjacency looped_;
    weights gcn_, gcn_t_, mean_, mean_t_;
};

} // namespace lepton
