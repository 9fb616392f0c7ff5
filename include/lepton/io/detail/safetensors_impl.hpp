#pragma once
/// \file
/// The safetensors reader's checks and the writer (see `safetensors.hpp`):
/// compiled in every translation unit that uses them, or once, in the unit
/// that defines `LEPTON_IO_IMPLEMENTATION`, when the program defines `LEPTON_SEPARATE_IO`.

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <string>

#if defined(_WIN32)
#include <io.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "../safetensors.hpp"

namespace lepton::io {

LEPTON_IO_API void safetensors_file::read_all()
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

LEPTON_IO_API void safetensors_file::parse_header()
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

LEPTON_IO_API std::string safetensors_file::hole(std::size_t from, std::size_t to) const
{
    return "bytes " + std::to_string(from) + " to " + std::to_string(to) + " of the data buffer (file offset " +
           std::to_string(data_offset_ + from) + ") belong to no tensor";
}

namespace detail {

LEPTON_IO_API std::optional<std::string> json_string(std::string_view text)
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

LEPTON_IO_API std::string make_header(std::span<const tensor_ref> tensors, const std::map<std::string, std::string>& metadata)
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

LEPTON_IO_API bool sync_file(std::FILE* f)
{
#if defined(_WIN32)
    return _commit(_fileno(f)) == 0;
#else
    return fsync(fileno(f)) == 0;
#endif
}

LEPTON_IO_API void sync_directory([[maybe_unused]] const std::filesystem::path& dir)
{
#if !defined(_WIN32)
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    ::close(fd);
#endif
}

} // namespace detail

LEPTON_IO_API void write_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> tensors,
                                     const std::map<std::string, std::string>& metadata)
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
