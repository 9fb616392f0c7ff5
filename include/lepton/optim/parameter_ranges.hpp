#pragma once
/// \file
/// Which parts of a flat parameter buffer an optimizer updates: everything, or
/// the trainable (not frozen) slices a network reports.

#include <cstddef>
#include <span>
#include <vector>

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

} // namespace detail
} // namespace lepton
