#pragma once
/// \file
/// The rows of `summary()`: a layer's name, its output shape with the batch
/// as N, and its parameter count in groups of three digits. Chains, blocks
/// and parallel branches print their rows with these, so the columns line up
/// at any depth.

#include <cstddef>
#include <iomanip>
#include <sstream>
#include <string>

#include "../core/shape.hpp"

namespace lepton {
namespace detail {

/// "[N, 1, 28, 28]", with T for a run-time dimension.
template <class S>
std::string batch_string()
{
    if constexpr (is_invalid_shape<S>) {
        return "[invalid]";
    } else {
        std::string s = "[N";
        for (auto d : S::dims) s += ", " + (d == dynamic ? std::string("T") : std::to_string(d));
        return s + "]";
    }
}

/// 421642 -> "421,642".
inline std::string grouped(std::size_t n)
{
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

/// One row of a summary table; a name longer than its column still leaves a space before the shape.
inline void summary_row(std::ostringstream& out, const std::string& name, const std::string& shape,
                        const std::string& params)
{
    out << std::left << std::setw(40) << (" " + name + " ") << std::setw(22) << shape << params << '\n';
}

}  // namespace detail
}  // namespace lepton
