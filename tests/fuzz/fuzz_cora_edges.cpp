// Cora's edge file on arbitrary text, and the Graph built from what it
// accepts (symmetrised, as load_cora does, or not, with or without self
// loops: the first byte chooses), over 50 nodes.
#include <cstddef>
#include <cstdint>

#include <lepton/data/cora.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    const std::string& path = fuzz::write_input(data + 1, size - 1);
    fuzz::accepted([&] {
        const auto edges = lepton::data::cora::read_edges(path, 50);
        for (const auto& [u, v] : edges) fuzz::require(u < 50 && v < 50, "node ids in range");
        const lepton::Graph g(50, edges, {.symmetrize = bool(flags & 1), .self_loops = bool(flags & 2)});
        fuzz::require(g.node_count() == 50, "the node count as asked");
        float sum = 0;
        for (const float w : g.gcn_weights<float>()) sum += w;
        for (const float w : g.mean_weights<float>()) sum += w;
        fuzz::require(sum == sum, "finite normalisations");
    });
    return 0;
}
