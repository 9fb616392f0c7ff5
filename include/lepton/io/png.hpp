#pragma once
/// \file
/// PNG files through stb_image_write (Debian: `libstb-dev`).
///
/// stb's implementation is compiled into this header inside
/// `lepton::io::detail::stb`, with `static` linkage and without stdio (the bytes
/// go through a `std::ofstream`), so it does not clash with a program that
/// also uses stb_image_write, in this or another translation unit, before or
/// after this header, with or without `STB_IMAGE_WRITE_IMPLEMENTATION`. stb's
/// configuration macros (`STBIW_MALLOC`, `STBIW_ASSERT`, ...) are saved and
/// restored around it, so a program's own settings apply only to its own copy.
/// One exception: a program that defines `STBIW_ZLIB_COMPRESS` before this
/// header has its compressor used by Lepton's copy too.
///
/// The header is looked up as `<stb_image_write.h>` (the include directory CMake
/// adds when it finds stb) and then as `<stb/stb_image_write.h>` (Debian's
/// layout, which needs no extra flag). Without either, `LEPTON_HAS_PNG` is 0
/// and `write_png` (with everything that saves a picture) throws `io_error`
/// saying so; define `LEPTON_HAS_PNG` to 0 yourself to leave stb out.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "../core/error.hpp"
#include "detail/stb_diagnostics.hpp"

#ifndef LEPTON_HAS_PNG
#if __has_include(<stb_image_write.h>)
#define LEPTON_HAS_PNG 1
#define LEPTON_STB_IMAGE_WRITE_HEADER <stb_image_write.h>
#elif __has_include(<stb/stb_image_write.h>)
#define LEPTON_HAS_PNG 1
#define LEPTON_STB_IMAGE_WRITE_HEADER <stb/stb_image_write.h>
#else
/// 1 when stb_image_write.h was found and PNG files can be written, 0 otherwise.
#define LEPTON_HAS_PNG 0
#endif
#elif LEPTON_HAS_PNG && !defined(LEPTON_STB_IMAGE_WRITE_HEADER)
#define LEPTON_STB_IMAGE_WRITE_HEADER <stb_image_write.h>
#endif

#if LEPTON_HAS_PNG
// The headers stb's implementation includes, included here at global scope so
// that their include guards keep them out of the namespace below.
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STBIW_MALLOC")
#pragma push_macro("STBIW_REALLOC")
#pragma push_macro("STBIW_REALLOC_SIZED")
#pragma push_macro("STBIW_FREE")
#pragma push_macro("STBIW_MEMMOVE")
#pragma push_macro("STBIW_ASSERT")
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIWDEF
#undef STBIW_MALLOC
#undef STBIW_REALLOC
#undef STBIW_REALLOC_SIZED
#undef STBIW_FREE
#undef STBIW_MEMMOVE
#undef STBIW_ASSERT
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) assert(x)
LEPTON_STB_DIAGNOSTICS_PUSH
namespace lepton::io::detail::stb {
#include LEPTON_STB_IMAGE_WRITE_HEADER
} // namespace lepton::io::detail::stb
LEPTON_STB_DIAGNOSTICS_POP
#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBIW_MEMMOVE")
#pragma pop_macro("STBIW_FREE")
#pragma pop_macro("STBIW_REALLOC_SIZED")
#pragma pop_macro("STBIW_REALLOC")
#pragma pop_macro("STBIW_MALLOC")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
#endif

namespace lepton::io {

namespace detail {

#if LEPTON_HAS_PNG
/// stb's output callback: appends to the std::ofstream behind `context`.
inline void png_chunk(void* context, void* data, int size)
{
    static_cast<std::ofstream*>(context)->write(static_cast<const char*>(data), size);
}
#endif

} // namespace detail

/// Writes `pixels` as an 8-bit PNG file: `height` rows of `width` pixels of
/// `channels` bytes each (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), row-major
/// from the top-left corner, no padding between rows.
///
/// Throws `value_error` for sizes out of range or null `pixels`, and
/// `io_error` naming `path` when the file cannot be written (or when Lepton
/// was compiled without stb_image_write, `LEPTON_HAS_PNG` == 0).
inline void write_png(const std::string& path, int width, int height, int channels, const std::uint8_t* pixels)
{
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || width > (1 << 24) / channels ||
        height > (1 << 24))
        throw value_error("lepton: write_png(" + path + "): bad image size " + std::to_string(width) + "x" +
                          std::to_string(height) + "x" + std::to_string(channels));
    if (!pixels) throw value_error("lepton: write_png(" + path + "): no pixels");
#if LEPTON_HAS_PNG
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file) throw io_error("lepton: write_png: cannot open " + path + " for writing");
    if (!detail::stb::stbi_write_png_to_func(&detail::png_chunk, &file, width, height, channels, pixels,
                                             width * channels))
        throw io_error("lepton: write_png: stb_image_write could not encode " + path);
    file.close();
    if (!file) throw io_error("lepton: write_png: writing " + path + " failed");
#else
    throw io_error("lepton: write_png(" + path +
                   "): Lepton was compiled without stb_image_write.h (Debian: libstb-dev), LEPTON_HAS_PNG is 0");
#endif
}

} // namespace lepton::io
