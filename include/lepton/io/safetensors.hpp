#pragma once
/// \file
/// Reading and writing the safetensors format (Hugging Face's `safetensors`).
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
///   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
///    "__metadata__": {"key": "value", ...}}            (metadata optional)
/// padded with spaces so that the data starts on an 8-byte boundary, then the
/// data buffer: every tensor's little-endian bytes, row-major, at
/// [begin, end) relative to the buffer's start.
///
/// Reading validates everything the reference implementation does, and a bit
/// more (duplicate names), before any tensor is handed out: a truncated or
/// corrupt file throws `io_error` naming the file, the byte offset or the
/// tensor, and never reads out of bounds. Writing is atomic: a temporary file
/// in the target's directory is written, flushed, synced and renamed over the
/// target, so a failed or interrupted save leaves the previous file intact.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "detail/safetensors_fields.hpp"

namespace lepton::io {

/// Element types of the safetensors format (the names are the format's own).
enum class dtype : std::uint8_t {
    BOOL,     ///< bool, one byte
    U8,       ///< uint8
    I8,       ///< int8
    F8_E5M2,  ///< 8-bit float, 5 exponent bits
    F8_E4M3,  ///< 8-bit float, 4 exponent bits
    I16,      ///< int16
    U16,      ///< uint16
    F16,      ///< IEEE half
    BF16,     ///< bfloat16
    I32,      ///< int32
    U32,      ///< uint32
    F32,      ///< float
    F64,      ///< double
    I64,      ///< int64
    U64       ///< uint64
};

namespace detail {

struct dtype_entry {
    dtype type;
    std::string_view name;
    std::size_t size;
};

inline constexpr dtype_entry dtype_table[] = {
    {dtype::BOOL, "BOOL", 1},       {dtype::U8, "U8", 1},     {dtype::I8, "I8", 1},   {dtype::F8_E5M2, "F8_E5M2", 1},
    {dtype::F8_E4M3, "F8_E4M3", 1}, {dtype::I16, "I16", 2},   {dtype::U16, "U16", 2}, {dtype::F16, "F16", 2},
    {dtype::BF16, "BF16", 2},       {dtype::I32, "I32", 4},   {dtype::U32, "U32", 4}, {dtype::F32, "F32", 4},
    {dtype::F64, "F64", 8},         {dtype::I64, "I64", 8},   {dtype::U64, "U64", 8},
};

} // namespace detail

/// The format's name of `t` ("F32").
constexpr std::string_view dtype_name(dtype t)
{
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.name;
    return "?";
}

/// Bytes per element of `t`.
constexpr std::size_t dtype_size(dtype t)
{
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.size;
    return 0;
}

/// The dtype named `name`, if the format has one by that name.
constexpr std::optional<dtype> parse_dtype(std::string_view name)
{
    for (const auto& e : detail::dtype_table)
        if (e.name == name) return e.type;
    return std::nullopt;
}

/// The dtype of C++ type `T` (float: F32, double: F64, std::int64_t: I64, ...).
template <class T>
constexpr dtype dtype_of()
{
    if constexpr (std::is_same_v<T, float>) return dtype::F32;
    else if constexpr (std::is_same_v<T, double>) return dtype::F64;
    else if constexpr (std::is_same_v<T, bool>) return dtype::BOOL;
    else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::I64;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return dtype::U64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::I32;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return dtype::U32;
    else if constexpr (std::is_same_v<T, std::int16_t>) return dtype::I16;
    else if constexpr (std::is_same_v<T, std::uint16_t>) return dtype::U16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return dtype::I8;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return dtype::U8;
    else static_assert(sizeof(T) == 0, "Lepton: no safetensors dtype for this type");
}

/// "[32, 1, 3, 3]".
inline std::string shape_text(const std::vector<std::size_t>& shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

/// One tensor's header entry.
struct tensor_info {
    /// The tensor's name ("0.weight").
    std::string name;
    /// Element type.
    dtype type = dtype::F32;
    /// Dimensions (empty for a scalar).
    std::vector<std::size_t> shape;
    /// Start of its bytes, relative to the data buffer.
    std::size_t begin = 0;
    /// One past the end of its bytes.
    std::size_t end = 0;
};

/// The reference implementation's limit on the JSON header (100 MB).
inline constexpr std::size_t max_header_size = 100'000'000;

namespace detail {

inline std::uint64_t read_le64(const std::byte* p)
{
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

/// Copies `n` little-endian elements from `src` to `dst` (any alignment).
template <class T>
void copy_from_le(const std::byte* src, T* dst, std::size_t n)
{
    std::memcpy(dst, src, n * sizeof(T));
    if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1)
        for (std::size_t i = 0; i < n; ++i) {
            auto* b = reinterpret_cast<std::byte*>(dst + i);
            std::reverse(b, b + sizeof(T));
        }
}

/// `n` elements as little-endian bytes: a view of `src` on little-endian
/// machines, a byte-swapped copy in `scratch` otherwise.
template <class T>
std::span<const std::byte> as_le_bytes(const T* src, std::size_t n, std::vector<std::byte>& scratch)
{
    const auto* b = reinterpret_cast<const std::byte*>(src);
    if constexpr (std::endian::native == std::endian::little || sizeof(T) == 1) {
        return {b, n * sizeof(T)};
    } else {
        scratch.assign(b, b + n * sizeof(T));
        for (std::size_t i = 0; i < n; ++i) std::reverse(scratch.data() + i * sizeof(T), scratch.data() + (i + 1) * sizeof(T));
        return scratch;
    }
}

/// Bytes of a tensor of `shape`, or nothing on overflow.
inline std::optional<std::size_t> element_count(const std::vector<std::size_t>& shape, std::size_t element_size)
{
    std::size_t n = element_size;
    for (const auto d : shape) {
        if (d != 0 && n > SIZE_MAX / d) return std::nullopt;
        n *= d;
    }
    return n;
}

} // namespace detail

/// A safetensors file read into memory and validated: every tensor's bytes
/// lie inside the data buffer, match its dtype and shape, and the tensors
/// cover the buffer exactly, without overlaps or holes.
class safetensors_file {
public:
    /// Reads and validates `path`; throws `io_error` naming the file and the
    /// offset or tensor at fault.
    explicit safetensors_file(const std::filesystem::path& path) : path_(path.string())
    {
        read_all();
        parse_header();
    }
    /// Validates a file's bytes already in memory; `name` stands for the path in errors.
    safetensors_file(std::vector<std::byte> bytes, std::string name) : path_(std::move(name)), bytes_(std::move(bytes))
    {
        parse_header();
    }

    /// The file's path.
    const std::string& path() const noexcept { return path_; }
    /// Every tensor, in the order of their data offsets.
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
    /// The tensor named `name`, or nullptr.
    const tensor_info* find(std::string_view name) const
    {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    /// The raw little-endian bytes of `t` (a tensor of this file).
    std::span<const std::byte> bytes(const tensor_info& t) const
    {
        return {bytes_.data() + data_offset_ + t.begin, t.end - t.begin};
    }
    /// The header's "__metadata__" (empty when absent).
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    /// File offset of the data buffer (8 + header length).
    std::size_t data_offset() const noexcept { return data_offset_; }

private:
    [[noreturn]] void fail(const std::string& what) const { throw io_error("lepton: '" + path_ + "': " + what); }

    void read_all();

    void parse_header();

    std::string hole(std::size_t from, std::size_t to) const;

    std::string path_;
    std::vector<std::byte> bytes_;
    std::size_t data_offset_ = 0;
    std::vector<tensor_info> tensors_;
    std::map<std::string, std::string> metadata_;
};

/// A tensor to write: its name, dtype, shape and little-endian bytes.
struct tensor_ref {
    /// The tensor's name.
    std::string name;
    /// Element type.
    dtype type = dtype::F32;
    /// Dimensions (empty for a scalar).
    std::vector<std::size_t> shape;
    /// product(shape) * dtype_size(type) little-endian bytes.
    std::span<const std::byte> bytes;
};

namespace detail {

/// `text` as a JSON string (quoted, escaped as nlohmann::json's `dump` does),
/// or nothing when it is not valid UTF-8.
LEPTON_IO_API std::optional<std::string> json_string(std::string_view text);

/// The header, as Python's safetensors writes it: compact JSON, metadata first,
/// spaces up to a multiple of 8 bytes.
LEPTON_IO_API std::string make_header(std::span<const tensor_ref> tensors, const std::map<std::string, std::string>& metadata);

/// fsync: the bytes are on disk before the rename makes them the target.
LEPTON_IO_API bool sync_file(std::FILE* f);

/// Makes the rename itself durable (POSIX); best effort, since some file
/// systems refuse to sync a directory and the file is already in place.
LEPTON_IO_API void sync_directory([[maybe_unused]] const std::filesystem::path& dir);

} // namespace detail

/// Writes `tensors` (in the order given) and `metadata` to `path` in the
/// safetensors format, atomically: a temporary file in the same directory is
/// written, flushed, synced and renamed over `path`, then the directory is
/// synced, so a failure or crash leaves any previous file intact. Throws
/// `value_error` for inconsistent tensors (byte count not product(shape) *
/// dtype size, duplicate names) and `io_error` naming `path` when writing
/// fails (the temporary file is removed).
LEPTON_IO_API void write_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> tensors,
                                     const std::map<std::string, std::string>& metadata = {});

} // namespace lepton::io

// The JSON parser, the reader's checks and the writer: compiled here unless the
// program compiles them once elsewhere (see safetensors_header.hpp).
#if !defined(LEPTON_SEPARATE_IO) || defined(LEPTON_IO_IMPLEMENTATION)
#include "detail/safetensors_header.hpp"
#include "detail/safetensors_impl.hpp"
#endif
// The implementation unit also compiles the checkpoint code's non-template part.
#if defined(LEPTON_SEPARATE_IO) && defined(LEPTON_IO_IMPLEMENTATION)
#include "detail/slots.hpp"
#endif
