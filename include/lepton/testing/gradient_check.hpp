#pragma once
/// \file
/// Finite-difference gradient checking for any network (and so any layer):
/// compares the analytic gradients from `backward` with central differences.
/// Use a `double` network; float round-off hides real errors.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../graph/graph.hpp"
#include "../layers/layer.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::testing {

/// The worst disagreement found, and where.
struct gradient_report {
    /// Largest relative error (with an absolute floor of 1e-4 in the denominator).
    double max_relative_error = 0;
    std::string worst;  ///< "0.weight[12]" or "input[3]"
    /// Number of entries compared.
    std::size_t checked = 0;
};

namespace detail {
inline void record(gradient_report& r, double analytic, double numeric, const std::string& where)
{
    // Relative error with an absolute floor: a central difference carries
    // round-off of about 1e-16 |loss| / h (~1e-11 with h = 1e-5), so below
    // magnitudes of 1e-4 the comparison becomes an absolute one near that level.
    const double err = std::abs(analytic - numeric) / std::max(1e-4, std::abs(analytic) + std::abs(numeric));
    ++r.checked;
    if (err > r.max_relative_error) {
        r.max_relative_error = err;
        r.worst = where + " analytic " + std::to_string(analytic) + " numeric " + std::to_string(numeric);
    }
}
} // namespace detail

/// What to check besides the parameters.
enum class input_gradient { check, skip /* integer inputs such as token ids */ };

namespace detail {

/// The check itself; `run(input)` runs the network's forward pass.
template <class Net, class Run>
gradient_report check_gradients_with(Net& net, const typename Net::input_type& x, Run run, std::uint64_t seed, double h,
                                     std::size_t max_per_tensor, input_gradient input)
{
    using T = typename Net::value_type;
    random_engine rng(seed);
    typename Net::output_type weights;
    {
        const auto& y = run(x);
        weights.resize(y.shape());
        for (auto& w : weights) w = T(rng.uniform(-1.0, 1.0));
    }
    auto loss = [&](const typename Net::input_type& in) {
        net.rng().seed(seed);
        const auto& y = run(in);
        double s = 0;
        for (std::size_t i = 0; i < y.size(); ++i) s += double(y.data()[i]) * double(weights.data()[i]);
        return s;
    };

    net.zero_grad();
    loss(x);
    const typename Net::input_type dx = net.backward(weights, /*input_grad=*/true);

    gradient_report report;
    std::vector<std::pair<std::string, std::pair<T*, T*>>> tensors;
    std::vector<std::size_t> sizes;
    net.for_each_parameter([&](const std::string& name, T* data, T* grad, const parameter_shape& shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        tensors.push_back({name, {data, grad}});
        sizes.push_back(n);
    });
    // Copy the analytic gradients first: evaluating the loss does not touch them,
    // but keeping them apart makes that independent of the network.
    for (std::size_t t = 0; t < tensors.size(); ++t) {
        T* data = tensors[t].second.first;
        const std::vector<T> analytic(tensors[t].second.second, tensors[t].second.second + sizes[t]);
        const std::size_t stride = std::max<std::size_t>(1, sizes[t] / max_per_tensor);
        for (std::size_t i = 0; i < sizes[t]; i += stride) {
            const T saved = data[i];
            data[i] = saved + T(h);
            const double up = loss(x);
            data[i] = saved - T(h);
            const double down = loss(x);
            data[i] = saved;
            detail::record(report, double(analytic[i]), (up - down) / (2 * h),
                           tensors[t].first + "[" + std::to_string(i) + "]");
        }
    }
    if (input == input_gradient::skip) return report;
    typename Net::input_type probe = x;
    const std::size_t stride = std::max<std::size_t>(1, x.size() / max_per_tensor);
    for (std::size_t i = 0; i < x.size(); i += stride) {
        const T saved = probe.data()[i];
        probe.data()[i] = saved + T(h);
        const double up = loss(probe);
        probe.data()[i] = saved - T(h);
        const double down = loss(probe);
        probe.data()[i] = saved;
        detail::record(report, double(dx.data()[i]), (up - down) / (2 * h), "input[" + std::to_string(i) + "]");
    }
    return report;
}

} // namespace detail

/// Checks d(sum(weights * net(x)))/d(parameters) and /d(x) against central
/// differences with step `h`, for at most `max_per_tensor` entries of each
/// parameter tensor and of the input. The generator is reseeded before every
/// forward pass so stochastic layers (dropout) draw the same mask each time.
template <class Net>
gradient_report check_gradients(Net& net, const typename Net::input_type& x, std::uint64_t seed = 7,
                                double h = 1e-5, std::size_t max_per_tensor = 64,
                                input_gradient input = input_gradient::check)
{
    return detail::check_gradients_with(
        net, x, [&](const typename Net::input_type& in) -> decltype(auto) { return net.forward(in); }, seed, h,
        max_per_tensor, input);
}

/// The same for a network of graph layers run on the node features `x` of `graph`.
template <class Net>
gradient_report check_gradients(Net& net, const Graph& graph, const typename Net::input_type& x,
                                std::uint64_t seed = 7, double h = 1e-5, std::size_t max_per_tensor = 64,
                                input_gradient input = input_gradient::check)
{
    return detail::check_gradients_with(
        net, x, [&](const typename Net::input_type& in) -> decltype(auto) { return net.forward(graph, in); }, seed,
        h, max_per_tensor, input);
}

} // namespace lepton::testing
