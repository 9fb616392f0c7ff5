#pragma once
/// \file
/// Reading PNG, JPEG and BMP images (through stb_image, Debian: `libstb-dev`)
/// into 8-bit pixels, and resizing them (stb_image_resize).
///
///     io::image picture = io::read_image("cat.jpg", 3);     // RGB, whatever the file holds
///     picture = io::resize_image(picture, 224, 224);
///
/// Decoding is safe on any thread (stb's error state is thread-local). A file
/// that cannot be read or decoded throws `io_error` naming it and saying why.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "detail/stb_image.hpp"

namespace lepton::io {

/// An 8-bit image: `height` rows of `width` pixels of `channels` bytes (1 grey,
/// 2 grey + alpha, 3 RGB, 4 RGBA), row-major from the top-left corner.
struct image {
    int width = 0;               ///< pixels per row
    int height = 0;              ///< rows
    int channels = 0;            ///< bytes per pixel
    std::vector<std::uint8_t> pixels;  ///< height * width * channels bytes

    /// The byte of channel `c` of the pixel in row `y`, column `x`.
    std::uint8_t at(int y, int x, int c) const
    {
        return pixels[(std::size_t(y) * std::size_t(width) + std::size_t(x)) * std::size_t(channels) + std::size_t(c)];
    }
};

namespace detail {

/// Why a JPEG's Huffman tables would make stb_image 2.27 read or write outside
/// its arrays (empty when they would not, or when `bytes` is not a JPEG).
/// stb_image 2.28 added these checks (its issues 1289 and 1291); Debian's
/// libstb-dev ships 2.27, so Lepton walks the JPEG's segments as stb does and
/// checks each table of every DHT segment itself first (at most 256 codes, and
/// no more codes of a length than the shorter codes leave room for) and that
/// every scan decodes with tables defined before it (stb leaves the others uninitialised).
inline std::string bad_jpeg_huffman_tables(std::span<const std::uint8_t> bytes)
{
    // Start of image: 0xFF (stb, like the standard, takes any number), then 0xD8.
    std::size_t i = 0;
    while (i < bytes.size() && bytes[i] == 0xFF) ++i;
    if (i == 0 || i >= bytes.size() || bytes[i] != 0xD8) return {};
    ++i;
    bool defined[2][4] = {};  // [DC, AC][table id]
    while (i + 4 <= bytes.size()) {
        if (bytes[i] != 0xFF || bytes[i + 1] == 0xFF) {  // entropy-coded data, or fill bytes
            ++i;
            continue;
        }
        const std::uint8_t marker = bytes[i + 1];
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
            i += 2;
            continue;
        }
        if (marker == 0xD9) break;  // end of image
        const std::size_t length = std::size_t(bytes[i + 2]) << 8 | bytes[i + 3];
        if (marker == 0xDA && i + 5 <= bytes.size()) {  // start of scan: components, then Ss, Se, Ah/Al
            const std::size_t components = bytes[i + 4], after = i + 5 + 2 * components;
            if (after + 3 <= bytes.size()) {
                const std::uint8_t first = bytes[after], last = bytes[after + 1], high = bytes[after + 2] >> 4;
                const bool dc = first == 0 && high == 0, ac = first > 0 || last > 0;  // what the scan decodes
                for (std::size_t c = 0; c < components; ++c) {
                    const std::uint8_t tables = bytes[i + 6 + 2 * c];
                    if ((dc && !defined[0][(tables >> 4) & 3]) || (ac && !defined[1][tables & 3]))
                        return "a scan using a Huffman table that was never defined";
                }
            }
        }
        if (marker == 0xC4) {
            // stb reads tables while the segment has bytes left, whatever their
            // sizes say, and reads 0 past the end of the data.
            auto byte = [&](std::size_t k) { return k < bytes.size() ? bytes[k] : std::uint8_t(0); };
            long left = long(length) - 2;
            std::size_t at = i + 4;
            while (left > 0 && at < bytes.size()) {
                std::size_t codes = 0;
                std::uint64_t room = 1;  // codes still free at the current length, times 2 per bit
                for (std::size_t bits = 1; bits <= 16; ++bits) {
                    room *= 2;
                    const std::size_t count = byte(at + bits);
                    if (count > room) return "a Huffman table with more codes of " + std::to_string(bits) + " bits than fit";
                    room -= count;
                    codes += count;
                }
                if (codes > 256) return "a Huffman table of " + std::to_string(codes) + " codes (at most 256)";
                const std::uint8_t kind = byte(at);
                if ((kind >> 4) <= 1 && (kind & 15) <= 3) defined[kind >> 4][kind & 15] = true;  // stb refuses others
                at += 17 + codes;
                left -= long(17 + codes);
            }
        }
        i += 2 + length;
    }
    return {};
}

/// Why a PNG's chunks would make stb_image 2.27 take far more memory than the
/// file could fill (empty when they would not, or when `bytes` is not a PNG):
/// stb grows its buffer of compressed pixels to each IDAT chunk's declared
/// length before reading it, so a 100-byte file declaring a 1 GiB chunk costs
/// 2 GiB before stb notices the data is missing. A chunk that runs past the
/// end of the file is refused first; the walk stops at IEND, as stb does.
inline std::string bad_png_chunks(std::span<const std::uint8_t> bytes)
{
    static constexpr std::uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (bytes.size() < 8 || !std::equal(signature, signature + 8, bytes.begin())) return {};
    std::size_t at = 8;
    while (at + 8 <= bytes.size()) {
        const std::size_t length = std::size_t(bytes[at]) << 24 | std::size_t(bytes[at + 1]) << 16 |
                                   std::size_t(bytes[at + 2]) << 8 | bytes[at + 3];
        std::string type(reinterpret_cast<const char*>(bytes.data() + at + 4), 4);
        for (char& c : type)
            if (c < 0x20 || c > 0x7e) c = '?';
        const std::size_t left = bytes.size() - at - 8;
        if (length > left)
            return "the '" + type + "' chunk at offset " + std::to_string(at) + " declares " + std::to_string(length) +
                   " bytes, and the file has " + std::to_string(left) + " after its header";
        if (type == "IEND") break;
        at += 12 + length;  // length, type, data, CRC
    }
    return {};
}

} // namespace detail

/// The largest image Lepton decodes by default, in pixels (64 Mi, e.g. 8192 x
/// 8192): a header that claims more is refused before any memory is taken.
inline constexpr std::size_t max_image_pixels = std::size_t(1) << 26;

/// Pixels a file may claim per byte it has (beyond the first 64 Ki pixels):
/// more than deflate or JPEG can pack into a byte even for a flat image (about
/// 1,000 and 200), so a small file whose header claims a huge image is refused
/// instead of decoded into zeros.
inline constexpr std::size_t max_pixels_per_byte = 4096;

/// Decodes a PNG, JPEG or BMP file's bytes. `channels` 0 keeps the file's
/// channels; 1 (grey) or 3 (RGB) converts as stb_image does (grey from
/// RGB by ITU-R BT.601 luma, alpha dropped). `name` (the file name) is what
/// errors say. Throws `io_error` for bytes that are not such an image (with
/// stb's reason: "corrupt JPEG", "bad png sig", ...) or whose header claims
/// more than `max_pixels` pixels (or more than `max_pixels_per_byte` per byte
/// of the file), or whose chunks or segments would make stb_image 2.27 read
/// outside its arrays or take memory the file cannot fill (the checks above),
/// and `value_error` for `channels` outside 0-4.
inline image decode_image(std::span<const std::uint8_t> bytes, const std::string& name, int channels = 0,
                          std::size_t max_pixels = max_image_pixels)
{
    if (channels < 0 || channels > 4)
        throw value_error("lepton: decode_image(" + name + "): channels must be 0 (as stored) or 1-4, got " +
                          std::to_string(channels));
#if LEPTON_HAS_IMAGE_READ
    namespace stb = detail::stb_read;
    if (bytes.size() > std::size_t(std::numeric_limits<int>::max()))
        throw io_error("lepton: '" + name + "': " + std::to_string(bytes.size()) + " bytes is too large an image file");
    if (const std::string bad = detail::bad_jpeg_huffman_tables(bytes); !bad.empty())
        throw io_error("lepton: '" + name + "': corrupt JPEG (" + bad + ")");
    if (const std::string bad = detail::bad_png_chunks(bytes); !bad.empty())
        throw io_error("lepton: '" + name + "': truncated or corrupt PNG (" + bad + ")");
    const auto* data = reinterpret_cast<const stb::stbi_uc*>(bytes.data());
    const int length = int(bytes.size());
    int width = 0, height = 0, stored = 0;
    if (!stb::lepton_stbi_info_from_memory(data, length, &width, &height, &stored))
        throw io_error("lepton: '" + name + "' is not a PNG, JPEG or BMP image (" +
                       stb::lepton_stbi_failure_reason() + ")");
    const std::size_t pixels = std::size_t(width) * std::size_t(height);
    const std::size_t plausible = std::min(max_pixels, (std::size_t(1) << 16) + max_pixels_per_byte * bytes.size());
    if (width <= 0 || height <= 0 || pixels > plausible)
        throw io_error("lepton: '" + name + "': its header says " + std::to_string(width) + "x" +
                       std::to_string(height) + " pixels, more than Lepton decodes from " +
                       std::to_string(bytes.size()) + " bytes (" + std::to_string(plausible) + ")");
    int w = 0, h = 0;
    const std::unique_ptr<stb::stbi_uc, void (*)(void*)> decoded(
        stb::lepton_stbi_load_from_memory(data, length, &w, &h, &stored, channels), stb::lepton_stbi_image_free);
    if (!decoded) throw io_error("lepton: '" + name + "': cannot decode the image (" + stb::lepton_stbi_failure_reason() + ")");
    image out;
    out.width = w;
    out.height = h;
    out.channels = channels ? channels : stored;
    out.pixels.assign(decoded.get(), decoded.get() + std::size_t(w) * std::size_t(h) * std::size_t(out.channels));
    return out;
#else
    (void)bytes;
    throw io_error("lepton: decode_image(" + name +
                   "): Lepton was compiled without stb_image.h and stb_image_resize.h (Debian: libstb-dev), "
                   "LEPTON_HAS_IMAGE_READ is 0");
#endif
}

/// Reads and decodes an image file (see `decode_image`); throws `io_error`
/// naming `path` when it cannot be opened or read, or is not an image.
inline image read_image(const std::string& path, int channels = 0)
{
    // Unbuffered C stdio in growing chunks: a third faster than an ifstream
    // for the small files of an image folder (no stream buffer, no stat).
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw io_error("lepton: cannot open image '" + path + "'");
    std::setvbuf(file.get(), nullptr, _IONBF, 0);
    std::vector<std::uint8_t> bytes;
    std::size_t used = 0, chunk = std::size_t(1) << 14;
    for (;;) {
        bytes.resize(used + chunk);
        const std::size_t got = std::fread(bytes.data() + used, 1, chunk, file.get());
        used += got;
        if (got < chunk) break;
        chunk = std::min(chunk * 2, std::size_t(1) << 26);
    }
    if (std::ferror(file.get())) throw io_error("lepton: cannot read image '" + path + "'");
    bytes.resize(used);
    return decode_image(bytes, path, channels);
}

/// `picture` resampled to `width` x `height` pixels (stb_image_resize's
/// defaults: Mitchell filter when shrinking, Catmull-Rom when enlarging, in
/// the bytes' own scale). The same size returns a copy.
inline image resize_image(const image& picture, int width, int height)
{
    if (width <= 0 || height <= 0 || std::size_t(width) * std::size_t(height) > max_image_pixels)
        throw value_error("lepton: resize_image: bad size " + std::to_string(width) + "x" + std::to_string(height));
    if (picture.width <= 0 || picture.height <= 0 || picture.channels < 1 || picture.channels > 4 ||
        picture.pixels.size() != std::size_t(picture.width) * std::size_t(picture.height) * std::size_t(picture.channels))
        throw value_error("lepton: resize_image: the image's pixels do not match its size " +
                          std::to_string(picture.width) + "x" + std::to_string(picture.height) + "x" +
                          std::to_string(picture.channels));
    if (width == picture.width && height == picture.height) return picture;
#if LEPTON_HAS_IMAGE_READ
    image out;
    out.width = width;
    out.height = height;
    out.channels = picture.channels;
    out.pixels.resize(std::size_t(width) * std::size_t(height) * std::size_t(picture.channels));
    if (!detail::stb_read::stbir_resize_uint8(picture.pixels.data(), picture.width, picture.height, 0, out.pixels.data(),
                                              width, height, 0, picture.channels))
        throw std::bad_alloc();  // stb_image_resize fails only when its buffers cannot be allocated
    return out;
#else
    throw io_error("lepton: resize_image: Lepton was compiled without stb_image_resize.h (Debian: libstb-dev), "
                   "LEPTON_HAS_IMAGE_READ is 0");
#endif
}

} // namespace lepton::io
