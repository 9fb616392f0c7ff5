#pragma once
/// \file
/// `Input<dims...>`: the first entry of every network, the shape of one sample.

#include <cstddef>

#include "../core/shape.hpp"

namespace lepton {

/// The shape of one input sample, e.g. `Input<1, 28, 28>` for a grey 28x28 image
/// (channels first) or `Input<784>` for a flat vector. The batch is a run-time size.
template <std::size_t... Dims>
struct Input {
    static_assert(sizeof...(Dims) > 0, "Lepton wiring error: Input<dims...> needs at least one dimension");
    static_assert(((Dims > 0) && ...), "Lepton wiring error: every Input dimension must be positive");
    /// The sample shape.
    using shape = Shape<Dims...>;
};

/// Whether `T` is an `Input<...>`.
template <class T>
inline constexpr bool is_input = false;
/// An `Input<...>` is.
template <std::size_t... Dims>
inline constexpr bool is_input<Input<Dims...>> = true;

namespace detail {
template <class T>
struct input_shape_of {
    using type = invalid_shape;  // not an Input: reported once by Network's static_assert
};
template <std::size_t... Dims>
struct input_shape_of<Input<Dims...>> {
    using type = Shape<Dims...>;
};
} // namespace detail

/// The sample shape of an `Input<...>` spec.
template <class T>
using input_shape_of = typename detail::input_shape_of<T>::type;

} // namespace lepton
