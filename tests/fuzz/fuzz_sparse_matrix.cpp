// sparse_matrix from CSR arrays and from triplets, with sizes that may be
// huge (SIZE_MAX, beyond 32-bit columns) or inconsistent: whatever is
// accepted can be normalised and, when small, made dense.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <lepton/graph/sparse_matrix.hpp>

#include "fuzz_common.hpp"

namespace {

/// Rows or columns: a small count, or one of the sizes that break naive arithmetic.
std::size_t size_from(fuzz::reader& in)
{
    const std::uint16_t v = in.take<std::uint16_t>();
    if (!(v & 0x8000)) return v % 64;
    constexpr std::size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, std::size_t{1} << 63, (std::size_t{1} << 32) + 1,
                                    std::size_t{1} << 32, std::size_t{1} << 62};
    return huge[v % std::size(huge)];
}

void use(const lepton::sparse_matrix<float>& m)
{
    lepton::sparse_matrix<float> copy = m;
    copy.row_normalize();
    if (m.rows() * m.cols() <= 4096 && m.rows() <= 4096 && m.cols() <= 4096) {
        const auto dense = copy.to_dense();
        fuzz::require(dense.size() == m.rows() * m.cols(), "dense size");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    fuzz::reader in(data, size);
    const bool triplets = in.take<std::uint8_t>() & 1;
    // Row counts beyond what memory holds are only given to the checks that must refuse them.
    const std::size_t rows = size_from(in), cols = size_from(in);
    fuzz::accepted([&] {
        if (triplets) {
            if (rows > 64 && rows < std::vector<std::size_t>().max_size()) return;  // would allocate rows + 1 offsets
            std::vector<lepton::triplet<float>> entries;
            while (in.left() >= 5) {
                const std::size_t r = in.take<std::uint8_t>(), c = in.take<std::uint16_t>();
                entries.push_back({r, c & 0x8000 ? c + (std::size_t{1} << 32) : c, float(in.take<std::int16_t>())});
            }
            use(lepton::sparse_matrix<float>::from_triplets(rows, cols, std::move(entries)));
        } else {
            std::vector<std::size_t> offsets(in.take<std::uint8_t>() % 70);
            for (auto& o : offsets) o = in.take<std::uint8_t>();
            std::vector<std::uint32_t> columns(in.take<std::uint8_t>() % 70);
            for (auto& c : columns) c = in.take<std::uint16_t>() % 80;
            std::vector<float> values(in.take<std::uint8_t>() % 70, 1.0f);
            use(lepton::sparse_matrix<float>(rows, cols, std::move(offsets), std::move(columns), std::move(values)));
        }
    });
    return 0;
}
