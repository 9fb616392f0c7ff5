// load_weights on arbitrary files: a load either succeeds or throws io_error
// and leaves the network exactly as it was.
#include <cstddef>
#include <cstdint>

#include <lepton/io/checkpoint.hpp>

#include "fuzz_common.hpp"
#include "fuzz_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string& path = fuzz::write_input(data, size);
    static fuzz::ImageNet images(1);
    static fuzz::SequenceNet sequences(1);
    const std::string images_before = fuzz::snapshot(images), sequences_before = fuzz::snapshot(sequences);
    if (!fuzz::accepted([&] { lepton::io::load_weights(images, path); }))
        fuzz::require(fuzz::snapshot(images) == images_before, "a failed load leaves the network unchanged");
    if (!fuzz::accepted([&] { lepton::io::load_weights(sequences, path); }))
        fuzz::require(fuzz::snapshot(sequences) == sequences_before, "a failed load leaves the network unchanged");
    return 0;
}
