// Cora's class-name file and split files (train / val / test ids) on
// arbitrary text; the first byte chooses which.
#include <cstddef>
#include <cstdint>

#include <lepton/data/cora.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const bool names = data[0] & 1;
    const std::string& path = fuzz::write_input(data + 1, size - 1);
    fuzz::accepted([&] {
        if (names) {
            const auto classes = lepton::data::cora::read_class_names(path);
            for (const auto& c : classes) fuzz::require(!c.empty(), "class names are not empty");
        } else {
            for (const auto id : lepton::data::cora::read_split(path, lepton::data::cora_nodes))
                fuzz::require(id < lepton::data::cora_nodes, "split ids in range");
        }
    });
    return 0;
}
