#pragma once
/// \file
/// `real`: a floating-point number as a template argument, for every C++20 compiler.
///
/// Layer specs take rates, slopes and epsilons as template arguments
/// (`Dropout<0.3>`, `LeakyReLU<0.2>`, `BatchNorm2D<0.1, 1e-5>`). A `double`
/// template parameter is standard C++20, but clang accepts one only from
/// version 18 (Apple's clang later still). A parameter of class type `real`,
/// whose constructor takes the double, is accepted by g++ 10+ and clang 12+,
/// and the same spelling `Dropout<0.3>` keeps working: the argument converts
/// through the constructor. The value is held as its exact bit pattern, so
/// `Dropout<0.3>` names one type wherever it is written.

#include <bit>
#include <cstdint>

namespace lepton {

/// A double that can be a template argument (a structural type with an integer member).
struct real {
    /// The bits of the double (kept public: a template argument's members must be).
    std::uint64_t bits;

    /// Takes any floating-point or integer value, as a double.
    constexpr real(double value) noexcept : bits(std::bit_cast<std::uint64_t>(value)) {}

    /// The value.
    constexpr double value() const noexcept { return std::bit_cast<double>(bits); }
    /// The value, so that `Rate > 0.0` and `1.0 - Rate` read as with a double.
    constexpr operator double() const noexcept { return value(); }
};

} // namespace lepton
