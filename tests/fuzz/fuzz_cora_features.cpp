// Cora's features file (node<TAB>label<TAB>word ids) on arbitrary text, for
// a small graph (8 nodes, 16 words, 3 classes) so that complete files are
// within the fuzzer's reach: accepted rows name every node once.
#include <cstddef>
#include <cstdint>

#include <lepton/data/cora.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string& path = fuzz::write_input(data, size);
    fuzz::accepted([&] {
        std::vector<std::int32_t> labels;
        const auto features = lepton::data::cora::read_features<float>(path, 8, 16, 3, labels);
        fuzz::require(labels.size() == 8 && features.rows() == 8 && features.cols() == 16, "sizes as asked");
        for (const auto l : labels) fuzz::require(l >= 0 && l < 3, "labels in range");
    });
    return 0;
}
