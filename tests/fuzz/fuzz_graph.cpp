// Graph construction from binary edge lists: a node count, options, then
// (source, target) pairs that may lie outside the graph.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <lepton/graph/graph.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    fuzz::reader in(data, size);
    const std::size_t nodes = in.take<std::uint16_t>() % 1024;
    const std::uint8_t flags = in.take<std::uint8_t>();
    std::vector<std::pair<std::size_t, std::size_t>> edges;
    while (in.left() >= 4) {
        const std::size_t u = in.take<std::uint16_t>(), v = in.take<std::uint16_t>();
        edges.emplace_back(flags & 4 ? u : u % (nodes + 1), flags & 4 ? v : v % (nodes + 1));
    }
    fuzz::accepted([&] {
        const lepton::Graph g(nodes, edges, {.symmetrize = bool(flags & 1), .self_loops = bool(flags & 2)});
        fuzz::require(g.node_count() == nodes, "the node count as asked");
        double sum = 0;
        for (const double w : g.gcn_weights<double>()) sum += w;
        for (const double w : g.mean_weights<double>()) sum += w;
        fuzz::require(sum == sum, "finite normalisations");
    });
    return 0;
}
