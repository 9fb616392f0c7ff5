// Shared by the tests that compare with PyTorch-written files (tests/reference).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <lepton/io/safetensors.hpp>
#include <lepton/tensor/tensor.hpp>

namespace lepton_test {

/// The float32 tensor `name` of a reference file as a [N, C, H, W] tensor.
inline lepton::tensor<float, 4> reference_images(const lepton::io::safetensors_file& file, const char* name)
{
    const lepton::io::tensor_info* t = file.find(name);
    REQUIRE(t != nullptr);
    REQUIRE(t->shape.size() == 4);
    lepton::tensor<float, 4> out({t->shape[0], t->shape[1], t->shape[2], t->shape[3]});
    lepton::io::detail::copy_from_le(file.bytes(*t).data(), out.data(), out.size());
    return out;
}

/// The float32 tensor `name` of a reference file, flat, after checking its shape.
inline std::vector<float> reference_values(const lepton::io::safetensors_file& file, const char* name,
                                           const std::vector<std::size_t>& shape)
{
    const lepton::io::tensor_info* t = file.find(name);
    REQUIRE(t != nullptr);
    REQUIRE(t->shape == shape);
    std::size_t n = 1;
    for (const auto d : shape) n *= d;
    std::vector<float> values(n);
    lepton::io::detail::copy_from_le(file.bytes(*t).data(), values.data(), values.size());
    return values;
}

/// The largest difference between `actual` and `expected` relative to the largest expected value: float32 sums
/// in another order than PyTorch's differ by a few units of the last place, and a tiny output would magnify that.
inline double difference_relative_to_largest(const float* actual, const std::vector<float>& expected)
{
    double worst = 0, largest = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        worst = std::max(worst, std::abs(double(actual[i]) - expected[i]));
        largest = std::max(largest, std::abs(double(expected[i])));
    }
    INFO("largest difference " << worst << ", largest output " << largest);
    return worst / largest;
}

} // namespace lepton_test
