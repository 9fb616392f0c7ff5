// Shared by the gradient-check test files.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include <lepton/core/random.hpp>
#include <lepton/layers/layer.hpp>
#include <lepton/testing/gradient_check.hpp>

namespace lepton_test {

/// A batch of `batch` samples of the network's (static) input shape, uniform in [-scale, scale].
template <class Net>
typename Net::input_type random_input(std::size_t batch, std::uint64_t seed, double scale = 1.0)
{
    typename Net::input_type x(lepton::batch_shape<typename Net::input_shape>(batch));
    lepton::random_engine rng(seed);
    for (auto& v : x) v = scale * rng.uniform(-1.0, 1.0);
    return x;
}

/// Sets every parameter of `net` from `values`, in `for_each_parameter` order
/// (hand-computed references start from known weights).
template <class Net>
void set_parameters(Net& net, std::initializer_list<typename Net::value_type> values)
{
    auto it = values.begin();
    net.for_each_parameter([&](const std::string&, auto* data, auto*, const lepton::parameter_shape& shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        for (std::size_t i = 0; i < n; ++i) data[i] = *it++;
    });
    REQUIRE(it == values.end());
}

} // namespace lepton_test

/// Analytic and central-difference gradients of every parameter (and the input) agree.
#define CHECK_GRADIENTS(report)                            \
    do {                                                   \
        const lepton::testing::gradient_report r = report; \
        INFO(r.worst);                                     \
        CHECK(r.checked > 0);                              \
        CHECK(r.max_relative_error < 1e-6);                \
    } while (0)
