// load_checkpoint on arbitrary files: a load either succeeds or throws
// io_error and leaves the network, the optimizer and the loader as they were.
#include <cstddef>
#include <cstdint>

#include <lepton/io/checkpoint.hpp>

#include "fuzz_common.hpp"
#include "fuzz_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string& path = fuzz::write_input(data, size);
    static fuzz::ImageNet net(1);
    static lepton::Adam<float> optimizer(net);
    static lepton::data::Dataset<float, 3> images = [] {
        lepton::data::Dataset<float, 3> d;
        d.features.resize({6, 1, 4, 4});
        d.labels = {0, 1, 2, 0, 1, 2};
        return d;
    }();
    static lepton::data::BatchLoader loader(images, 2, true, 1);
    const std::string before = fuzz::snapshot(net, &optimizer), loader_before = loader.state();
    if (!fuzz::accepted([&] { lepton::io::load_checkpoint(path, net, optimizer, loader); })) {
        fuzz::require(fuzz::snapshot(net, &optimizer) == before, "a failed load leaves network and optimizer unchanged");
        fuzz::require(loader.state() == loader_before, "a failed load leaves the loader unchanged");
    } else {
        // What loaded is usable: a step count and learning rate that the next step can take.
        fuzz::require(optimizer.steps() >= 0 && optimizer.learning_rate() >= 0, "loaded bookkeeping in range");
    }
    return 0;
}
