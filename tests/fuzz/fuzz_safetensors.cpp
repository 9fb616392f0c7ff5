// safetensors_file on arbitrary bytes: every tensor it accepts lies inside
// the buffer, and the tensors tile the data exactly.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <lepton/io/safetensors.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    fuzz::accepted([&] {
        const lepton::io::safetensors_file file(std::vector<std::byte>(bytes, bytes + size), "fuzz input");
        std::size_t covered = 0;
        unsigned sum = 0;
        for (const auto& t : file.tensors()) {
            const auto b = file.bytes(t);
            for (const std::byte x : b) sum += unsigned(x);  // every byte readable (ASan)
            covered += b.size();
        }
        fuzz::require(file.data_offset() + covered == size, "the tensors tile the data buffer");
        (void)sum;
    });
    return 0;
}
