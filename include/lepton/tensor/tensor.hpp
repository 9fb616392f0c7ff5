#pragma once
/// \file
/// Lepton's tensor types: fixed-rank xtensor containers.
///
/// The storage is a `std::vector` with Lepton's aligned allocator rather than
/// xtensor's default `uvector`: shrinking a `std::vector` keeps its capacity, so
/// a network whose last batch of an epoch is smaller resizes its activation
/// buffers without returning memory and faulting it back in on the next epoch.

#include <array>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "../core/compat.hpp"
#include "../core/error.hpp"
#include "allocator.hpp"

namespace lepton {

/// Storage of every tensor Lepton allocates.
template <class T>
using storage = std::vector<T, aligned_allocator<T>>;

/// A dense row-major tensor of fixed rank `N` (batch first for activations).
template <class T, std::size_t N>
using tensor = xt::xtensor_container<storage<T>, N, xt::layout_type::row_major>;

/// A non-owning row-major view of `N` dimensions over memory Lepton does not own
/// (parameters inside the network's flat buffer, user buffers).
template <class T, std::size_t N>
inline auto view(T* data, const std::array<std::size_t, N>& shape)
{
    std::size_t size = 1;
    for (auto d : shape) size *= d;
    return xt::adapt(data, size, xt::no_ownership(), shape);
}

/// Formats a shape as "[a, b, c]" for error messages and summaries.
template <class Shape>
inline std::string shape_string(const Shape& shape)
{
    std::ostringstream out;
    out << '[';
    bool first = true;
    for (auto d : shape) {
        if (!first) out << ", ";
        out << d;
        first = false;
    }
    out << ']';
    return out.str();
}

/// The number of elements of a dense tensor of `T` with `shape`. Throws
/// `shape_error` naming the shape when the product overflows or its bytes
/// exceed PTRDIFF_MAX (xtensor's strides and Lepton's offsets are signed):
/// call it before shaping a tensor from sizes that came from outside.
template <class T, class Shape>
inline std::size_t checked_element_count(const Shape& shape)
{
    const std::size_t limit = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T);
    std::size_t count = 1;
    bool zero = false;
    for (auto d : shape) zero = zero || d == 0;
    if (zero) return 0;
    for (auto d : shape) {
        if (count > limit / static_cast<std::size_t>(d))
            throw shape_error("lepton: a tensor of shape " + shape_string(shape) + " has more elements than memory can index");
        count *= static_cast<std::size_t>(d);
    }
    return count;
}

/// Resizes `t` to `shape` only when it differs (no work, and no allocation, in steady state).
template <class Tensor, class Shape>
inline void ensure_shape(Tensor& t, const Shape& shape)
{
    if (!std::equal(shape.begin(), shape.end(), t.shape().begin(), t.shape().end())) {
        checked_element_count<typename Tensor::value_type>(shape);
        typename Tensor::shape_type s;
        std::copy(shape.begin(), shape.end(), s.begin());
        t.resize(s);
    }
}

} // namespace lepton
