#pragma once
/// \file
/// Which parts of a flat parameter buffer an optimizer updates: the parameter
/// tensors a network reports (skipping the frozen ones), or the whole buffer.

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../kernels/parallel.hpp"

namespace lepton {

/// Elements [begin, end) of a network's flat parameter buffer: one parameter
/// tensor, or a run of them.
struct parameter_range {
    std::size_t begin;    ///< first element
    std::size_t end;      ///< one past the last element
    bool frozen = false;  ///< skipped by optimizers (see `Network::freeze`)
};

namespace detail {

/// The parameter tensors an optimizer updates, each with state of its own (as
/// PyTorch keeps per parameter): a network's live list, whose `frozen` flags
/// change as layers are frozen and unfrozen, or the whole buffer as one tensor.
class update_ranges {
public:
    explicit update_ranges(std::size_t size) : whole_{{0, size}} {}
    update_ranges(std::size_t size, const std::vector<parameter_range>* live) : whole_{{0, size}}, live_(live) {}

    /// Every tensor, frozen or not, in a fixed order (the index of its state).
    std::span<const parameter_range> get() const noexcept
    {
        if (live_) return *live_;
        return whole_;
    }
    /// Number of tensors.
    std::size_t size() const noexcept { return get().size(); }

private:
    std::vector<parameter_range> whole_;
    const std::vector<parameter_range>* live_ = nullptr;
};

/// Calls `update(tensor, begin, end)` on pieces of the ranges that are not
/// frozen, which together cover them once, split evenly between threads:
/// element-wise updates are bound by memory, and each core streams its own
/// share. `tensor` is the index of the range the piece belongs to. Each range
/// is cut into chunks of 64 elements from its start, and threads take whole
/// chunks, so a piece ends at a multiple of 64 from its range's start or at
/// the range's end: which elements take a vector's scalar tail does not
/// depend on the thread count.
template <class Update>
void update_in_parallel(std::span<const parameter_range> ranges, Update&& update)
{
    constexpr std::size_t chunk = 64;
    std::size_t total = 0, chunks = 0;
    for (const parameter_range r : ranges) {
        if (r.frozen) continue;
        total += r.end - r.begin;
        chunks += (r.end - r.begin + chunk - 1) / chunk;
    }
    // About ten flops and 28 bytes per element: below some 10^5 elements one thread is quicker.
    const int threads = kernels::threads_for(10.0 * double(total), 5.0e5);
    kernels::parallel_region(threads, [&](int t, int nt) {
        const auto share = kernels::split_range(chunks, t, nt);
        std::size_t first_chunk = 0;  // of the current range, in the count over all ranges
        for (std::size_t i = 0; i < ranges.size(); ++i) {
            const parameter_range r = ranges[i];
            if (r.frozen) continue;
            const std::size_t count = (r.end - r.begin + chunk - 1) / chunk;
            const std::size_t lo = std::max(share.begin, first_chunk), hi = std::min(share.end, first_chunk + count);
            if (lo < hi)
                update(i, r.begin + (lo - first_chunk) * chunk, std::min(r.end, r.begin + (hi - first_chunk) * chunk));
            first_chunk += count;
        }
    });
}

} // namespace detail
} // namespace lepton
