#pragma once
/// \file
/// Which parts of a flat parameter buffer an optimizer updates: everything, or
/// the trainable (not frozen) slices a network reports.

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../kernels/parallel.hpp"

namespace lepton {

/// Elements [begin, end) of a network's flat parameter buffer.
struct parameter_range {
    std::size_t begin;  ///< first element
    std::size_t end;    ///< one past the last element
};

namespace detail {

/// Either a network's live list of trainable ranges, or the whole buffer.
class update_ranges {
public:
    explicit update_ranges(std::size_t size) : whole_{{0, size}} {}
    update_ranges(std::size_t size, const std::vector<parameter_range>* live) : whole_{{0, size}}, live_(live) {}

    /// The ranges to update now (a network's list changes when layers are frozen).
    std::span<const parameter_range> get() const noexcept
    {
        if (live_) return *live_;
        return whole_;
    }

private:
    std::vector<parameter_range> whole_;
    const std::vector<parameter_range>* live_ = nullptr;
};

/// Calls `update(begin, end)` on pieces of `ranges` that together cover them
/// once, split evenly between threads: element-wise updates are bound by
/// memory, and each core streams its own share. Each range is cut into
/// chunks of 64 elements from its start, and threads take whole chunks, so a
/// piece ends at a multiple of 64 from its range's start or at the range's
/// end: which elements take a vector's scalar tail does not depend on the
/// thread count.
template <class Update>
void update_in_parallel(std::span<const parameter_range> ranges, Update&& update)
{
    constexpr std::size_t chunk = 64;
    std::size_t total = 0, chunks = 0;
    for (const parameter_range r : ranges) {
        total += r.end - r.begin;
        chunks += (r.end - r.begin + chunk - 1) / chunk;
    }
    // About ten flops and 28 bytes per element: below some 10^5 elements one thread is quicker.
    const int threads = kernels::threads_for(10.0 * double(total), 5.0e5);
    kernels::parallel_region(threads, [&](int t, int nt) {
        const auto share = kernels::split_range(chunks, t, nt);
        std::size_t first_chunk = 0;  // of the current range, in the count over all ranges
        for (const parameter_range r : ranges) {
            const std::size_t count = (r.end - r.begin + chunk - 1) / chunk;
            const std::size_t lo = std::max(share.begin, first_chunk), hi = std::min(share.end, first_chunk + count);
            if (lo < hi)
                update(r.begin + (lo - first_chunk) * chunk, std::min(r.end, r.begin + (hi - first_chunk) * chunk));
            first_chunk += count;
        }
    });
}

} // namespace detail
} // namespace lepton
