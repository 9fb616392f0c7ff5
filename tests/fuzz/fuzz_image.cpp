// Image decoding (stb_image's PNG, JPEG and BMP readers inside io/image.hpp)
// on arbitrary bytes, as grey, RGB and as stored: an accepted image has a
// positive size within the limit asked for and exactly its pixels' bytes, and
// resizes to a small size without error. The limit (1 Mi pixels) keeps each
// input's decoding short under the sanitizers.
#include <cstddef>
#include <cstdint>
#include <span>

#include <lepton/io/image.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::span<const std::uint8_t> bytes(data, size);
    constexpr std::size_t max_pixels = std::size_t(1) << 20;
    for (const int channels : {0, 1, 3}) {
        fuzz::accepted([&] {
            const lepton::io::image picture = lepton::io::decode_image(bytes, "fuzz.img", channels, max_pixels);
            fuzz::require(picture.width > 0 && picture.height > 0, "a decoded image has pixels");
            fuzz::require(std::size_t(picture.width) * std::size_t(picture.height) <= max_pixels,
                          "a decoded image is within the limit");
            fuzz::require(channels == 0 || picture.channels == channels, "the channels asked for");
            fuzz::require(picture.pixels.size() == std::size_t(picture.width) * std::size_t(picture.height) *
                                                       std::size_t(picture.channels),
                          "the pixels match the size");
            if (std::size_t(picture.width) * std::size_t(picture.height) <= 4096) {
                const auto small = lepton::io::resize_image(picture, 5, 3);
                fuzz::require(small.pixels.size() == std::size_t(15 * picture.channels), "a resized image has its size");
            }
        });
    }
    return 0;
}
