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
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

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

    void read_all()
    {
        std::FILE* f = std::fopen(path_.c_str(), "rb");
        if (!f) fail(std::string("cannot open (") + std::strerror(errno) + ")");
        std::vector<std::byte> data;
        std::byte chunk[1 << 16];
        std::size_t got;
        // Read to the end rather than trusting a size taken beforehand.
        while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.insert(data.end(), chunk, chunk + got);
        const bool error = std::ferror(f);
        std::fclose(f);
        if (error) fail("read error after " + std::to_string(data.size()) + " bytes");
        bytes_ = std::move(data);
    }

    void parse_header()
    {
        const std::size_t size = bytes_.size();
        if (size < 8)
            fail("truncated: " + std::to_string(size) + " bytes, shorter than the 8-byte header length at offset 0");
        const std::uint64_t n = detail::read_le64(bytes_.data());
        if (n > max_header_size)
            fail("header length " + std::to_string(n) + " at offset 0 exceeds the " + std::to_string(max_header_size) +
                 "-byte limit (corrupt, or not a safetensors file)");
        if (n > size - 8)
            fail("header length " + std::to_string(n) + " at offset 0 runs past the end of the file (" +
                 std::to_string(size) + " bytes): truncated, or not a safetensors file");
        data_offset_ = 8 + static_cast<std::size_t>(n);
        const auto* first = reinterpret_cast<const char*>(bytes_.data() + 8);
        const auto* last = first + n;

        detail::header_fields header;
        if (!detail::read_header_fields(std::string_view(first, static_cast<std::size_t>(last - first)), header))
            fail(header.error);
        if (!header.top_is_object) fail("the header (offset 8) is not a JSON object");
        if (!header.metadata_is_object) fail("__metadata__ is not an object of strings");
        if (!header.metadata_not_string.empty()) fail("__metadata__ '" + header.metadata_not_string + "' is not a string");
        metadata_ = std::move(header.metadata);

        const std::size_t buffer = size - data_offset_;
        for (const auto& entry : header.entries) {
            const std::string where = "tensor '" + entry.name + "': ";
            if (!entry.is_object) fail(where + "its header entry is not an object");
            if (!entry.dtype) fail(where + "no dtype string");
            const auto type = parse_dtype(*entry.dtype);
            if (!type) fail(where + "unknown dtype '" + *entry.dtype + "'");
            if (!entry.shape.valid) fail(where + "shape is not an array of non-negative integers");
            const auto& shape = entry.shape.values;
            if (!entry.offsets.valid || entry.offsets.values.size() != 2)
                fail(where + "data_offsets is not [begin, end] of non-negative integers");
            const std::size_t begin = entry.offsets.values[0], end = entry.offsets.values[1];
            const std::string range = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
            if (end < begin) fail(where + range + " end before they begin");
            if (end > buffer)
                fail(where + range + " run past the end of the data buffer (" + std::to_string(buffer) +
                     " bytes from offset " + std::to_string(data_offset_) + "): truncated file?");
            const auto bytes = detail::element_count(shape, dtype_size(*type));
            if (!bytes || *bytes != end - begin)
                fail(where + "shape " + shape_text(shape) + " of " + std::string(dtype_name(*type)) + " needs " +
                     (bytes ? std::to_string(*bytes) : std::string("too many")) + " bytes, " + range + " hold " +
                     std::to_string(end - begin));
            tensors_.push_back({entry.name, *type, shape, begin, end});
        }

        // The format requires the tensors to tile the buffer exactly.
        std::sort(tensors_.begin(), tensors_.end(),
                  [](const tensor_info& a, const tensor_info& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
        std::size_t covered = 0;
        const tensor_info* previous = nullptr;
        for (const auto& t : tensors_) {
            if (t.begin < covered)
                fail("tensor '" + t.name + "' (bytes " + std::to_string(t.begin) + " to " + std::to_string(t.end) +
                     " of the data buffer, file offset " + std::to_string(data_offset_ + t.begin) + ") overlaps tensor '" +
                     previous->name + "'");
            if (t.begin > covered) fail(hole(covered, t.begin));
            covered = t.end;
            previous = &t;
        }
        if (covered < buffer) fail(hole(covered, buffer));
    }

    std::string hole(std::size_t from, std::size_t to) const
    {
        return "bytes " + std::to_string(from) + " to " + std::to_string(to) + " of the data buffer (file offset " +
               std::to_string(data_offset_ + from) + ") belong to no tensor";
    }

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
inline std::optional<std::string> json_string(std::string_view text)
{
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            // A UTF-8 sequence: its length from the lead byte, no overlong forms, no surrogates, <= U+10FFFF.
            const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            if (n == 0 || c > 0xF4 || i + n > text.size()) return std::nullopt;
            std::uint32_t cp = c & (0x7F >> n);
            for (std::size_t k = 1; k < n; ++k) {
                const auto b = static_cast<unsigned char>(text[i + k]);
                if ((b & 0xC0) != 0x80) return std::nullopt;
                cp = cp << 6 | (b & 0x3F);
            }
            if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
                return std::nullopt;
            out.append(text.substr(i, n));
            i += n;
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                static constexpr char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += char(c);
            }
        }
        ++i;
    }
    return out + "\"";
}

/// The header, as Python's safetensors writes it: compact JSON, metadata first,
/// spaces up to a multiple of 8 bytes.
inline std::string make_header(std::span<const tensor_ref> tensors, const std::map<std::string, std::string>& metadata)
{
    auto quoted = [](std::string_view text) {
        auto q = json_string(text);
        if (!q) throw value_error("lepton: safetensors: a tensor name or metadata string is not valid UTF-8");
        return *q;
    };
    auto sizes = [](const auto& values) {
        std::string text = "[";
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) text += ',';
            text += std::to_string(values[i]);
        }
        return text + "]";
    };
    std::string text = "{";
    if (!metadata.empty()) {
        text += "\"__metadata__\":{";
        bool first = true;
        for (const auto& [key, value] : metadata) {
            if (!first) text += ',';
            text += quoted(key) + ":" + quoted(value);
            first = false;
        }
        text += "}";
    }
    std::set<std::string_view> names;
    std::size_t offset = 0;
    for (const auto& t : tensors) {
        if (t.name == "__metadata__") throw value_error("lepton: safetensors: a tensor cannot be named __metadata__");
        if (!names.insert(t.name).second) throw value_error("lepton: safetensors: two tensors named '" + t.name + "'");
        const auto bytes = element_count(t.shape, dtype_size(t.type));
        if (!bytes || *bytes != t.bytes.size())
            throw value_error("lepton: safetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                              " bytes, its shape " + shape_text(t.shape) + " of " + std::string(dtype_name(t.type)) +
                              " needs " + (bytes ? std::to_string(*bytes) : std::string("more")));
        if (text.size() > 1) text += ',';
        text += quoted(t.name) + ":{\"dtype\":\"" + std::string(dtype_name(t.type)) +
                "\",\"shape\":" + sizes(t.shape) + ",\"data_offsets\":" +
                sizes(std::array<std::size_t, 2>{offset, offset + *bytes}) + "}";
        offset += *bytes;
    }
    text += "}";
    text.append((8 - text.size() % 8) % 8, ' ');
    // The reader refuses a larger header, so writing one would make a file nothing can load.
    if (text.size() > max_header_size)
        throw value_error("lepton: safetensors: the header would take " + std::to_string(text.size()) +
                          " bytes, over the " + std::to_string(max_header_size) + "-byte limit readers accept");
    return text;
}

/// fsync: the bytes are on disk before the rename makes them the target.
inline bool sync_file(std::FILE* f)
{
#if defined(_WIN32)
    return _commit(_fileno(f)) == 0;
#else
    return fsync(fileno(f)) == 0;
#endif
}

/// Makes the rename itself durable (POSIX); best effort, since some file
/// systems refuse to sync a directory and the file is already in place.
inline void sync_directory([[maybe_unused]] const std::filesystem::path& dir)
{
#if !defined(_WIN32)
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    ::close(fd);
#endif
}

} // namespace detail

/// Writes `tensors` (in the order given) and `metadata` to `path` in the
/// safetensors format, atomically: a temporary file in the same directory is
/// written, flushed, synced and renamed over `path`, then the directory is
/// synced, so a failure or crash leaves any previous file intact. Throws
/// `value_error` for inconsistent tensors (byte count not product(shape) *
/// dtype size, duplicate names) and `io_error` naming `path` when writing
/// fails (the temporary file is removed).
inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> tensors,
                              const std::map<std::string, std::string>& metadata = {})
{
    const std::string header = detail::make_header(tensors, metadata);
    const std::string target = path.string();
    auto fail = [&](const std::string& what, int error) {
        throw io_error("lepton: cannot save '" + target + "': " + what + " (" + std::strerror(error) + ")");
    };

    std::string temp;
    std::FILE* f = nullptr;
    std::random_device entropy;
    for (int attempt = 0; !f && attempt < 16; ++attempt) {
        temp = target + ".tmp-" + std::to_string(entropy());
        f = std::fopen(temp.c_str(), "wbx");  // x: never reuse an existing file
        if (!f && errno != EEXIST) fail("cannot create the temporary file '" + temp + "'", errno);
    }
    if (!f) fail("cannot create a temporary file next to it", EEXIST);

    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(std::uint64_t(header.size()) >> (8 * i));
    bool ok = std::fwrite(length, 1, 8, f) == 8 && std::fwrite(header.data(), 1, header.size(), f) == header.size();
    for (std::size_t i = 0; ok && i < tensors.size(); ++i)
        ok = std::fwrite(tensors[i].bytes.data(), 1, tensors[i].bytes.size(), f) == tensors[i].bytes.size();
    ok = ok && std::fflush(f) == 0 && detail::sync_file(f);
    int error = errno;
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        error = errno;
    }
    if (!ok) {
        std::remove(temp.c_str());
        fail("writing '" + temp + "' failed", error);
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) {
        std::remove(temp.c_str());
        throw io_error("lepton: cannot save '" + target + "': renaming '" + temp + "' over it failed (" + ec.message() + ")");
    }
    detail::sync_directory(path.parent_path());
}

} // namespace lepton::io

// The JSON parser: compiled here unless the program compiles it once elsewhere (see safetensors_header.hpp).
#if !defined(LEPTON_SEPARATE_IO) || defined(LEPTON_IO_IMPLEMENTATION)
#include "detail/safetensors_header.hpp"
#endif
