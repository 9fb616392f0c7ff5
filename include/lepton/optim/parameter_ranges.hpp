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
/// memory, and each core streams its own share. Pieces start at multiples of
/// 64 elements from their range's start, so that which elements take a
/// vector's scalar tail does not depend on the thread count.
template <class Update>
void update_in_parallel(std::span<const parameter_range> ranges, Update&& update)
{
    std::size_t total = 0;
    for (const parameter_range r : ranges) total += r.end - r.begin;
    // About ten flops and 28 bytes per element: below some 10^5 elements one thread is quicker.
    const int threads = kernels::threads_for(10.0 * double(total), 5.0e5);
    kernels::parallel_region(threads, [&](int t, int nt) {
        const auto share = kernels::split_range(total / 64, t, nt);
        const std::size_t first = share.begin * 64, last = t + 1 == nt ? total : share.end * 64;
        std::size_t offset = 0;  // of the current range in the concatenation of all
        for (const parameter_range r : ranges) {
            const std::size_t size = r.end - r.begin;
            const std::size_t begin = std::max(first, offset), end = std::min(last, offset + size);
            if (begin < end) update(r.begin + (begin - offset), r.begin + (end - offset));
            offset += size;
        }
    });
}

} // namespace detail
} // namespace lepton
