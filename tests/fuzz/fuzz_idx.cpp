// The IDX reader on arbitrary files, raw (this target, `fuzz_idx_raw`) or
// with the input gzip-compressed first (`fuzz_idx_gzip`, built with
// LEPTON_FUZZ_GZIP), so the parser behind zlib sees the fuzzer's bytes too.
// Whatever the header claims, an accepted array holds exactly the product of
// its dimensions, and a refusal is an io_error.
#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include <lepton/data/idx.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
#if defined(LEPTON_FUZZ_GZIP)
    const std::string& path = fuzz::scratch_path("input.gz");
    gzFile f = gzopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size) gzwrite(f, data, unsigned(size));
    gzclose(f);
#else
    const std::string& path = fuzz::write_input(data, size);
#endif
    fuzz::accepted([&] {
        const auto a = lepton::data::read_idx(path);
        std::size_t count = 1;
        for (const auto d : a.dims) count *= d;
        fuzz::require(!a.dims.empty() && count == a.values.size(), "the values are the product of the dimensions");
    });
    return 0;
}
