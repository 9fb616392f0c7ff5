#pragma once
/// \file
/// Compile-time shapes of one sample (the batch dimension is never part of them).

#include <array>
#include <cstddef>
#include <string>

namespace lepton {

/// A dimension whose size is known only at run time, like the batch: the time
/// axis of a sequence, `Input<dynamic, 28>`.
inline constexpr std::size_t dynamic = static_cast<std::size_t>(-1);

/// The shape of one sample, e.g. `Shape<1, 28, 28>` (channels, height, width).
template <std::size_t... Dims>
struct Shape {
    /// Number of dimensions.
    static constexpr std::size_t rank = sizeof...(Dims);
    /// The dimensions.
    static constexpr std::array<std::size_t, rank> dims{Dims...};
    /// Whether some dimension is `dynamic` (sized at run time).
    static constexpr bool has_dynamic = ((Dims == dynamic) || ...);
    /// Elements of one sample (0 when a dimension is dynamic).
    static constexpr std::size_t size = has_dynamic ? 0 : (std::size_t{1} * ... * Dims);

    /// "[1, 28, 28]", with "T" for a dynamic dimension.
    static std::string str()
    {
        std::string s = "[";
        std::size_t i = 0;
        ((s += (i++ ? ", " : "") + (Dims == dynamic ? std::string("T") : std::to_string(Dims))), ...);
        return s + "]";
    }
};

/// Stands for the output of a layer whose wiring check failed: later layers
/// accept it silently so a mis-wired network reports one error, not a cascade.
struct invalid_shape {
    /// Placeholder rank.
    static constexpr std::size_t rank = 1;
    /// Never dynamic.
    static constexpr bool has_dynamic = false;
    /// Placeholder size.
    static constexpr std::size_t size = 1;
    /// Placeholder dimensions.
    static constexpr std::array<std::size_t, 1> dims{1};
    /// "[invalid]"
    static std::string str() { return "[invalid]"; }
};

/// Whether `S` is `invalid_shape`.
template <class S>
inline constexpr bool is_invalid_shape = false;
/// `invalid_shape` is.
template <>
inline constexpr bool is_invalid_shape<invalid_shape> = true;

/// Batch shape of a fully static sample shape: {batch, dims...}. (Layers with a
/// dynamic dimension size their buffers from their input instead.)
template <class S>
inline std::array<std::size_t, S::rank + 1> batch_shape(std::size_t batch)
{
    static_assert(!S::has_dynamic, "lepton: batch_shape needs a shape without dynamic dimensions");
    std::array<std::size_t, S::rank + 1> out{};
    out[0] = batch;
    for (std::size_t i = 0; i < S::rank; ++i) out[i + 1] = S::dims[i];
    return out;
}

/// Index of a layer inside a network, as shown in compile-time wiring diagnostics.
template <std::size_t I>
struct layer_index {};

} // namespace lepton
