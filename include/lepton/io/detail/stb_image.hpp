#pragma once
/// \file
/// stb_image (PNG, JPEG and BMP decoding) and stb_image_resize (Debian:
/// `libstb-dev`), compiled into `lepton::io::detail::stb_read` for
/// `io/image.hpp`; include that header instead.
///
/// As `io/png.hpp` does for stb_image_write, the implementation has `static`
/// linkage inside a namespace of Lepton's, its include guards and
/// configuration macros are saved and restored around it, and it reads no
/// files (Lepton reads the bytes), so it does not clash with a program's own
/// copy of stb_image, before or after this header, with or without
/// `STB_IMAGE_IMPLEMENTATION`. stb_image declares its functions `extern "C"`,
/// and two C functions of one name share one symbol whatever their namespace:
/// so its public functions are renamed `lepton_stbi_*` for Lepton's copy.
///
/// Without the headers `LEPTON_HAS_IMAGE_READ` is 0 (define it to 0 yourself to
/// leave stb out) and reading an image throws `io_error` saying so.

#ifndef LEPTON_HAS_IMAGE_READ
#if __has_include(<stb_image.h>) && __has_include(<stb_image_resize.h>)
#define LEPTON_HAS_IMAGE_READ 1
#define LEPTON_STB_IMAGE_HEADER <stb_image.h>
#define LEPTON_STB_IMAGE_RESIZE_HEADER <stb_image_resize.h>
#elif __has_include(<stb/stb_image.h>) && __has_include(<stb/stb_image_resize.h>)
#define LEPTON_HAS_IMAGE_READ 1
#define LEPTON_STB_IMAGE_HEADER <stb/stb_image.h>
#define LEPTON_STB_IMAGE_RESIZE_HEADER <stb/stb_image_resize.h>
#else
/// 1 when stb_image.h and stb_image_resize.h were found and images can be read, 0 otherwise.
#define LEPTON_HAS_IMAGE_READ 0
#endif
#elif LEPTON_HAS_IMAGE_READ && !defined(LEPTON_STB_IMAGE_HEADER)
#define LEPTON_STB_IMAGE_HEADER <stb_image.h>
#define LEPTON_STB_IMAGE_RESIZE_HEADER <stb_image_resize.h>
#endif

#if LEPTON_HAS_IMAGE_READ
#include "stb_diagnostics.hpp"

// The headers the implementations include, included here at global scope so
// that their include guards keep them out of the namespace below.
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Every macro the two headers define or read, and the renamed functions:
// saved here and restored after, so that nothing of Lepton's copy leaks into
// (or comes from) a program's own stb headers.
#define LEPTON_STB_READ_MACROS(X) \
    X(FAST_BITS) X(OVERWRITE_ARRAY_SIZE) X(STBIDEF) X(STBIRDEF) X(STBIR_ALPHA_CHANNEL_NONE) X(STBIR_ALPHA_EPSILON) \
    X(STBIR_ASSERT) X(STBIR_DEFAULT_FILTER_DOWNSAMPLE) X(STBIR_DEFAULT_FILTER_UPSAMPLE) \
    X(STBIR_FLAG_ALPHA_PREMULTIPLIED) X(STBIR_FLAG_ALPHA_USES_COLORSPACE) X(STBIR_FREE) \
    X(STBIR_INCLUDE_STB_IMAGE_RESIZE_H) X(STBIR_MALLOC) X(STBIR_MAX_CHANNELS) X(STBIR_PROGRESS_REPORT) \
    X(STBIR__ARRAY_SIZE) X(STBIR__DECODE) X(STBIR__ENCODE_LINEAR16) X(STBIR__ENCODE_LINEAR8) X(STBIR__NEXT_MEMPTR) \
    X(STBIR__NOTUSED) X(STBIR__ROUND_INT) X(STBIR__ROUND_UINT) X(STBIR__UNUSED_PARAM) X(STBI_ASSERT) X(STBI_EXTERN) \
    X(STBI_FAILURE_USERMSG) X(STBI_FREE) X(STBI_HAS_LROTL) X(STBI_INCLUDE_STB_IMAGE_H) X(STBI_MALLOC) \
    X(STBI_MAX_DIMENSIONS) X(STBI_NOTUSED) X(STBI_NO_BMP) X(STBI_NO_FAILURE_STRINGS) X(STBI_NO_GIF) X(STBI_NO_HDR) \
    X(STBI_NO_JPEG) X(STBI_NO_LINEAR) X(STBI_NO_PIC) X(STBI_NO_PNG) X(STBI_NO_PNM) X(STBI_NO_PSD) X(STBI_NO_SIMD) \
    X(STBI_NO_STDIO) X(STBI_NO_TGA) X(STBI_NO_THREAD_LOCALS) X(STBI_NO_ZLIB) X(STBI_ONLY_BMP) X(STBI_ONLY_JPEG) \
    X(STBI_ONLY_PNG) X(STBI_REALLOC) X(STBI_REALLOC_SIZED) X(STBI_SIMD_ALIGN) X(STBI_SSE2) X(STBI_THREAD_LOCAL) \
    X(STBI_VERSION) X(STBI__BYTECAST) X(STBI__CASE) X(STBI__COMBO) X(STBI__HDR_BUFLEN) X(STBI__IDCT_1D) \
    X(STBI__MARKER_none) X(STBI__PNG_TYPE) X(STBI__RESTART) X(STBI__X64_TARGET) X(STBI__X86_TARGET) \
    X(STBI__ZFAST_BITS) X(STBI__ZFAST_MASK) X(STBI__ZNSYMS) X(STB_IMAGE_IMPLEMENTATION) \
    X(STB_IMAGE_RESIZE_IMPLEMENTATION) X(STB_IMAGE_RESIZE_STATIC) X(STB_IMAGE_STATIC) X(dct_bfly32o) X(dct_const) \
    X(dct_interleave16) X(dct_interleave8) X(dct_long_mac) X(dct_long_mul) X(dct_pass) X(dct_rot) X(dct_trn16) \
    X(dct_trn32) X(dct_trn64) X(dct_trn8_16) X(dct_trn8_32) X(dct_trn8_8) X(dct_wadd) X(dct_widen) X(dct_wsub) \
    X(stbi__DNL) X(stbi__EOI) X(stbi__SOF) X(stbi__SOF_progressive) X(stbi__SOI) X(stbi__SOS) \
    X(stbi__de_iphone_flag) X(stbi__div16) X(stbi__div4) X(stbi__err) X(stbi__errpf) X(stbi__errpuc) X(stbi__f2f) \
    X(stbi__float2fixed) X(stbi__float2int) X(stbi__fsh) X(stbi__unpremultiply_on_load) \
    X(stbi__vertically_flip_on_load) X(stbi_inline) X(stbi_lrot) X(stbir__inline)
#define LEPTON_STB_READ_RENAMED(X) \
    X(stbi_load_from_memory) X(stbi_load_from_callbacks) X(stbi_load_gif_from_memory) X(stbi_load_16_from_memory) \
    X(stbi_load_16_from_callbacks) X(stbi_is_hdr_from_callbacks) X(stbi_is_hdr_from_memory) X(stbi_failure_reason) \
    X(stbi_image_free) X(stbi_info_from_memory) X(stbi_info_from_callbacks) X(stbi_is_16_bit_from_memory) \
    X(stbi_is_16_bit_from_callbacks) X(stbi_set_unpremultiply_on_load) X(stbi_convert_iphone_png_to_rgb) \
    X(stbi_set_flip_vertically_on_load) X(stbi_set_unpremultiply_on_load_thread) \
    X(stbi_convert_iphone_png_to_rgb_thread) X(stbi_set_flip_vertically_on_load_thread) \
    X(stbi_zlib_decode_malloc_guesssize) X(stbi_zlib_decode_malloc_guesssize_headerflag) X(stbi_zlib_decode_malloc) \
    X(stbi_zlib_decode_buffer) X(stbi_zlib_decode_noheader_malloc) X(stbi_zlib_decode_noheader_buffer)
#define LEPTON_STB_PRAGMA(text) _Pragma(#text)
#define LEPTON_STB_PUSH(name) LEPTON_STB_PRAGMA(push_macro(#name))
#define LEPTON_STB_POP(name) LEPTON_STB_PRAGMA(pop_macro(#name))
LEPTON_STB_READ_MACROS(LEPTON_STB_PUSH)
LEPTON_STB_READ_RENAMED(LEPTON_STB_PUSH)
#undef FAST_BITS
#undef OVERWRITE_ARRAY_SIZE
#undef STBIDEF
#undef STBIRDEF
#undef STBIR_ALPHA_CHANNEL_NONE
#undef STBIR_ALPHA_EPSILON
#undef STBIR_ASSERT
#undef STBIR_DEFAULT_FILTER_DOWNSAMPLE
#undef STBIR_DEFAULT_FILTER_UPSAMPLE
#undef STBIR_FLAG_ALPHA_PREMULTIPLIED
#undef STBIR_FLAG_ALPHA_USES_COLORSPACE
#undef STBIR_FREE
#undef STBIR_INCLUDE_STB_IMAGE_RESIZE_H
#undef STBIR_MALLOC
#undef STBIR_MAX_CHANNELS
#undef STBIR_PROGRESS_REPORT
#undef STBIR__ARRAY_SIZE
#undef STBIR__DECODE
#undef STBIR__ENCODE_LINEAR16
#undef STBIR__ENCODE_LINEAR8
#undef STBIR__NEXT_MEMPTR
#undef STBIR__NOTUSED
#undef STBIR__ROUND_INT
#undef STBIR__ROUND_UINT
#undef STBIR__UNUSED_PARAM
#undef STBI_ASSERT
#undef STBI_EXTERN
#undef STBI_FAILURE_USERMSG
#undef STBI_FREE
#undef STBI_HAS_LROTL
#undef STBI_INCLUDE_STB_IMAGE_H
#undef STBI_MALLOC
#undef STBI_MAX_DIMENSIONS
#undef STBI_NOTUSED
#undef STBI_NO_BMP
#undef STBI_NO_FAILURE_STRINGS
#undef STBI_NO_GIF
#undef STBI_NO_HDR
#undef STBI_NO_JPEG
#undef STBI_NO_LINEAR
#undef STBI_NO_PIC
#undef STBI_NO_PNG
#undef STBI_NO_PNM
#undef STBI_NO_PSD
#undef STBI_NO_SIMD
#undef STBI_NO_STDIO
#undef STBI_NO_TGA
#undef STBI_NO_THREAD_LOCALS
#undef STBI_NO_ZLIB
#undef STBI_ONLY_BMP
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_PNG
#undef STBI_REALLOC
#undef STBI_REALLOC_SIZED
#undef STBI_SIMD_ALIGN
#undef STBI_SSE2
#undef STBI_THREAD_LOCAL
#undef STBI_VERSION
#undef STBI__BYTECAST
#undef STBI__CASE
#undef STBI__COMBO
#undef STBI__HDR_BUFLEN
#undef STBI__IDCT_1D
#undef STBI__MARKER_none
#undef STBI__PNG_TYPE
#undef STBI__RESTART
#undef STBI__X64_TARGET
#undef STBI__X86_TARGET
#undef STBI__ZFAST_BITS
#undef STBI__ZFAST_MASK
#undef STBI__ZNSYMS
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_RESIZE_IMPLEMENTATION
#undef STB_IMAGE_RESIZE_STATIC
#undef STB_IMAGE_STATIC
#undef dct_bfly32o
#undef dct_const
#undef dct_interleave16
#undef dct_interleave8
#undef dct_long_mac
#undef dct_long_mul
#undef dct_pass
#undef dct_rot
#undef dct_trn16
#undef dct_trn32
#undef dct_trn64
#undef dct_trn8_16
#undef dct_trn8_32
#undef dct_trn8_8
#undef dct_wadd
#undef dct_widen
#undef dct_wsub
#undef stbi__DNL
#undef stbi__EOI
#undef stbi__SOF
#undef stbi__SOF_progressive
#undef stbi__SOI
#undef stbi__SOS
#undef stbi__de_iphone_flag
#undef stbi__div16
#undef stbi__div4
#undef stbi__err
#undef stbi__errpf
#undef stbi__errpuc
#undef stbi__f2f
#undef stbi__float2fixed
#undef stbi__float2int
#undef stbi__fsh
#undef stbi__unpremultiply_on_load
#undef stbi__vertically_flip_on_load
#undef stbi_inline
#undef stbi_lrot
#undef stbir__inline
#undef stbi_load_from_memory
#undef stbi_load_from_callbacks
#undef stbi_load_gif_from_memory
#undef stbi_load_16_from_memory
#undef stbi_load_16_from_callbacks
#undef stbi_is_hdr_from_callbacks
#undef stbi_is_hdr_from_memory
#undef stbi_failure_reason
#undef stbi_image_free
#undef stbi_info_from_memory
#undef stbi_info_from_callbacks
#undef stbi_is_16_bit_from_memory
#undef stbi_is_16_bit_from_callbacks
#undef stbi_set_unpremultiply_on_load
#undef stbi_convert_iphone_png_to_rgb
#undef stbi_set_flip_vertically_on_load
#undef stbi_set_unpremultiply_on_load_thread
#undef stbi_convert_iphone_png_to_rgb_thread
#undef stbi_set_flip_vertically_on_load_thread
#undef stbi_zlib_decode_malloc_guesssize
#undef stbi_zlib_decode_malloc_guesssize_headerflag
#undef stbi_zlib_decode_malloc
#undef stbi_zlib_decode_buffer
#undef stbi_zlib_decode_noheader_malloc
#undef stbi_zlib_decode_noheader_buffer
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_MAX_DIMENSIONS (1 << 16)
#define STBI_ASSERT(x) assert(x)
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#define STBIR_ASSERT(x) assert(x)
// stb_image declares its functions extern "C": Lepton's copy gets names of its own.
#define stbi_load_from_memory lepton_stbi_load_from_memory
#define stbi_load_from_callbacks lepton_stbi_load_from_callbacks
#define stbi_load_gif_from_memory lepton_stbi_load_gif_from_memory
#define stbi_load_16_from_memory lepton_stbi_load_16_from_memory
#define stbi_load_16_from_callbacks lepton_stbi_load_16_from_callbacks
#define stbi_is_hdr_from_callbacks lepton_stbi_is_hdr_from_callbacks
#define stbi_is_hdr_from_memory lepton_stbi_is_hdr_from_memory
#define stbi_failure_reason lepton_stbi_failure_reason
#define stbi_image_free lepton_stbi_image_free
#define stbi_info_from_memory lepton_stbi_info_from_memory
#define stbi_info_from_callbacks lepton_stbi_info_from_callbacks
#define stbi_is_16_bit_from_memory lepton_stbi_is_16_bit_from_memory
#define stbi_is_16_bit_from_callbacks lepton_stbi_is_16_bit_from_callbacks
#define stbi_set_unpremultiply_on_load lepton_stbi_set_unpremultiply_on_load
#define stbi_convert_iphone_png_to_rgb lepton_stbi_convert_iphone_png_to_rgb
#define stbi_set_flip_vertically_on_load lepton_stbi_set_flip_vertically_on_load
#define stbi_set_unpremultiply_on_load_thread lepton_stbi_set_unpremultiply_on_load_thread
#define stbi_convert_iphone_png_to_rgb_thread lepton_stbi_convert_iphone_png_to_rgb_thread
#define stbi_set_flip_vertically_on_load_thread lepton_stbi_set_flip_vertically_on_load_thread
#define stbi_zlib_decode_malloc_guesssize lepton_stbi_zlib_decode_malloc_guesssize
#define stbi_zlib_decode_malloc_guesssize_headerflag lepton_stbi_zlib_decode_malloc_guesssize_headerflag
#define stbi_zlib_decode_malloc lepton_stbi_zlib_decode_malloc
#define stbi_zlib_decode_buffer lepton_stbi_zlib_decode_buffer
#define stbi_zlib_decode_noheader_malloc lepton_stbi_zlib_decode_noheader_malloc
#define stbi_zlib_decode_noheader_buffer lepton_stbi_zlib_decode_noheader_buffer
LEPTON_STB_DIAGNOSTICS_PUSH
// Three harmless kinds of undefined behaviour in stb_image 2.27 on corrupt
// files, which UBSan reports: its JPEG decoder shifts by more than 31 bits when
// its bit counter goes negative, and overflows an int when a scan's DC
// differences add up past what a coefficient holds (garbage pixels either way;
// 2.28 refuses such files), and its PNG reader copies an empty first IDAT
// chunk to a null pointer (memcpy of 0 bytes). The JPEG ones cannot be found
// without decoding the entropy-coded data, so Lepton's copy is built without those
// checks under clang, and a sanitizer build of a program that reads images
// does not stop there; the memory checks (AddressSanitizer) stay.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift", "signed-integer-overflow", "nonnull-attribute"))), \
                             apply_to = function)
#endif
namespace lepton::io::detail::stb_read {
#include LEPTON_STB_IMAGE_HEADER
#include LEPTON_STB_IMAGE_RESIZE_HEADER
} // namespace lepton::io::detail::stb_read
#if defined(__clang__)
#pragma clang attribute pop
#endif
LEPTON_STB_DIAGNOSTICS_POP
LEPTON_STB_READ_RENAMED(LEPTON_STB_POP)
LEPTON_STB_READ_MACROS(LEPTON_STB_POP)
#undef LEPTON_STB_POP
#undef LEPTON_STB_PUSH
#undef LEPTON_STB_PRAGMA
#undef LEPTON_STB_READ_RENAMED
#undef LEPTON_STB_READ_MACROS
#endif
