// Optimizer steps against values computed by hand from PyTorch's update rules
// (p0 = 1, gradients 0.5 then -0.25).
#include <doctest/doctest.h>

#include <lepton/optim/adam.hpp>
#include <lepton/optim/sgd.hpp>

#include <vector>

namespace {

/// Runs two steps on a single parameter (padded out to several SIMD widths, so
/// the vector body and the scalar tail both run) and returns p after each.
template <class Opt, class Options>
std::vector<double> two_steps(Options options)
{
    const std::size_t n = 37;
    lepton::storage<double> p(n, 1.0), g(n, 0.0);
    Opt opt(std::span<double>(p), std::span<const double>(g), options);
    std::vector<double> out;
    for (double grad : {0.5, -0.25}) {
        std::fill(g.begin(), g.end(), grad);
        opt.step();
        for (std::size_t i = 1; i < n; ++i) REQUIRE(p[i] == p[0]);
        out.push_back(p[0]);
    }
    return out;
}

} // namespace

TEST_CASE("SGD with weight decay")
{
    const auto p = two_steps<lepton::SGD<double>>(lepton::SGDOptions{.lr = 0.1, .weight_decay = 0.01});
    CHECK(p[0] == doctest::Approx(0.949).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.973051).epsilon(1e-12));
}

TEST_CASE("SGD with momentum")
{
    const auto p = two_steps<lepton::SGD<double>>(lepton::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
    CHECK(p[0] == doctest::Approx(0.949).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.927151).epsilon(1e-12));
}

TEST_CASE("SGD with Nesterov momentum")
{
    const auto p = two_steps<lepton::SGD<double>>(
        lepton::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    CHECK(p[0] == doctest::Approx(0.9031).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(0.90757411).epsilon(1e-12));
}

TEST_CASE("Adam with L2 weight decay")
{
    const auto p = two_steps<lepton::Adam<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    CHECK(p[0] == doctest::Approx(0.9900000002).epsilon(1e-9));
    CHECK(p[1] == doctest::Approx(0.9853191993).epsilon(1e-9));
}

TEST_CASE("AdamW with decoupled weight decay")
{
    const auto p = two_steps<lepton::AdamW<double>>(lepton::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    CHECK(p[0] == doctest::Approx(0.9890000002).epsilon(1e-9));
    CHECK(p[1] == doctest::Approx(0.9853476299).epsilon(1e-9));
}

TEST_CASE("Nesterov without momentum is rejected")
{
    lepton::storage<float> p(4), g(4);
    CHECK_THROWS_AS(lepton::SGD<float>(std::span<float>(p), std::span<const float>(g), {.nesterov = true}),
                    std::invalid_argument);
}
