#pragma once
/// \file
/// What graph layers share: finding the graph that travels with the input
/// and the wiring rule for node features.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../graph/graph.hpp"
#include "projection.hpp"
#include "layer.hpp"

namespace lepton {

/// Wiring check shown in compiler notes: a graph layer at `Where` received `Got`
/// instead of per-node features [features].
template <class Where, class Got>
struct graph_input_must_be_node_features {
    static constexpr bool value = is_invalid_shape<Got> || (Got::rank == 1 && !Got::has_dynamic);
};

namespace detail {

/// The graph of the current forward call, checked against the node count.
inline const Graph& graph_of(const context& ctx, const char* kind, std::size_t index, std::size_t rows)
{
    if (!ctx.graph)
        throw std::logic_error("lepton: layer " + std::to_string(index) + " (" + kind +
                               ") needs a graph: call forward(graph, node_features)");
    if (ctx.graph->node_count() != rows)
        throw shape_error("lepton: layer " + std::to_string(index) + " (" + kind + ") expects features for the graph's " +
                          std::to_string(ctx.graph->node_count()) + " nodes, got " + std::to_string(rows) + " rows");
    return *ctx.graph;
}

} // namespace detail
} // namespace lepton
