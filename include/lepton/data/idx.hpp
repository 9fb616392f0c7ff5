#pragma once
/// \file
/// Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed
/// (zlib reads both transparently).
///
/// Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of
/// dimensions, one big-endian 32-bit size per dimension, then the data.
/// Every failure names the file and the byte offset at which it was found.

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace lepton::data {

/// The contents of an IDX file of unsigned bytes.
struct idx_array {
    /// Dimensions from the file header.
    std::vector<std::size_t> dims;
    /// The values, row-major.
    std::vector<std::uint8_t> values;
};

namespace detail {

class gz_reader {
public:
    explicit gz_reader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb"))
    {
        if (!file_) throw io_error("lepton: cannot open '" + path + "'");
        gzbuffer(file_, 1 << 18);
    }
    ~gz_reader() { gzclose(file_); }
    gz_reader(const gz_reader&) = delete;
    gz_reader& operator=(const gz_reader&) = delete;

    /// Reads exactly `n` bytes of (decompressed) data or throws, naming `what`.
    void read(void* dst, std::size_t n, const char* what)
    {
        auto* out = static_cast<unsigned char*>(dst);
        std::size_t done = 0;
        while (done < n) {
            const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
            const int got = gzread(file_, out + done, chunk);
            if (got < 0) {
                int code = 0;
                const char* msg = gzerror(file_, &code);
                throw io_error("lepton: '" + path_ + "': corrupt compressed data near offset " +
                               std::to_string(offset_ + done) + " while reading " + what + " (" + msg + ")");
            }
            if (got == 0)
                throw io_error("lepton: '" + path_ + "': truncated at offset " + std::to_string(offset_ + done) +
                               " while reading " + what);
            done += static_cast<std::size_t>(got);
        }
        offset_ += n;
    }

    /// True when no data follows; throws when the compressed stream does not end cleanly (its
    /// checksum or length trailer is wrong, or it is cut short), which zlib reports only here.
    bool at_end()
    {
        unsigned char c;
        const int got = gzread(file_, &c, 1);
        int code = Z_OK;
        const char* msg = gzerror(file_, &code);
        if (got < 0 || (code != Z_OK && code != Z_STREAM_END))
            throw io_error("lepton: '" + path_ + "': corrupt or truncated compressed data after offset " +
                           std::to_string(offset_) + " (" + msg + ")");
        return got == 0;
    }

    std::size_t offset() const noexcept { return offset_; }
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    gzFile file_;
    std::size_t offset_ = 0;
};

} // namespace detail

/// Files larger than this are refused before anything is allocated (16 GiB,
/// well above any IDX data set; a size in the header is not trusted).
inline constexpr std::size_t idx_max_bytes = std::size_t{1} << 34;

/// Reads an IDX file of unsigned bytes (type code 0x08). Offsets in errors
/// count bytes of the decompressed stream. The sizes in the header are only
/// claims: the data is read in pieces as it arrives, so a header that claims
/// more than the file holds fails as truncated without allocating what it
/// claims, and a product of sizes beyond `max_bytes` is refused outright.
inline idx_array read_idx(const std::string& path, std::size_t max_bytes = idx_max_bytes)
{
    detail::gz_reader in(path);
    unsigned char magic[4];
    in.read(magic, 4, "the magic number");
    if (magic[0] != 0 || magic[1] != 0)
        throw io_error("lepton: '" + path + "': not an IDX file (bad magic at offset 0)");
    if (magic[2] != 0x08)
    {
        char code[8];
        std::snprintf(code, sizeof code, "0x%02x", magic[2]);
        throw io_error("lepton: '" + path + "': unsupported IDX element type " + code +
                       " at offset 2 (only unsigned bytes, 0x08)");
    }
    const int rank = magic[3];
    if (rank < 1 || rank > 4)
        throw io_error("lepton: '" + path + "': bad IDX rank " + std::to_string(rank) + " at offset 3");

    idx_array result;
    for (int d = 0; d < rank; ++d) {
        unsigned char be[4];
        const std::size_t at = in.offset();
        in.read(be, 4, "a dimension");
        const std::size_t n = (std::size_t(be[0]) << 24) | (std::size_t(be[1]) << 16) | (std::size_t(be[2]) << 8) | be[3];
        if (n == 0)
            throw io_error("lepton: '" + path + "': dimension " + std::to_string(d) + " is 0 at offset " +
                           std::to_string(at));
        result.dims.push_back(n);
    }
    std::string shape = "[";
    for (std::size_t d = 0; d < result.dims.size(); ++d) shape += (d ? ", " : "") + std::to_string(result.dims[d]);
    shape += "]";
    std::size_t count = 1;
    for (const std::size_t n : result.dims) {
        if (count > max_bytes / n)
            throw io_error("lepton: '" + path + "': the header claims shape " + shape + ", more than the limit of " +
                           std::to_string(max_bytes) + " bytes");
        count *= n;
    }
    const std::string what = "the data of shape " + shape + " (" + std::to_string(count) + " bytes from offset " +
                             std::to_string(in.offset()) + ")";
    constexpr std::size_t piece = std::size_t{1} << 22;
    for (std::size_t have = 0; have < count;) {
        const std::size_t n = std::min(piece, count - have);
        result.values.resize(have + n);
        in.read(result.values.data() + have, n, what.c_str());
        have += n;
    }
    if (!in.at_end())
        throw io_error("lepton: '" + path + "': unexpected bytes after the data at offset " + std::to_string(in.offset()));
    return result;
}

} // namespace lepton::data
