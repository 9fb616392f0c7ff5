// Finite-difference gradient checks, in double, for every layer and loss.
#include <doctest/doctest.h>

#include <lepton/lepton.hpp>
#include <lepton/testing/gradient_check.hpp>

#include "gradient_helpers.hpp"

using namespace lepton;
using lepton_test::random_input;

namespace {


template <class Net>
testing::gradient_report gradients_of(std::size_t batch = 3)
{
    Net net(11);
    return testing::check_gradients(net, random_input<Net>(batch, 5));
}

} // namespace


TEST_CASE("Dense gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<7>, Dense<5>>>()));
}
TEST_CASE("Dense without bias gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<6>, Dense<4, false>>>()));
}
TEST_CASE("Dense batch of one (gemv path) gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<9>, Dense<33>>>(1)));
}
TEST_CASE("Dense large enough for several GEMM panels")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<70>, Dense<40>>>(17)));
}
TEST_CASE("ReLU gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<6>, ReLU>>()));
}
TEST_CASE("LeakyReLU gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<6>, LeakyReLU<0.2>>>()));
}
TEST_CASE("Sigmoid gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<19>, Sigmoid>>()));
}
TEST_CASE("Tanh gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<19>, Tanh>>()));
}
TEST_CASE("GELU gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<19>, GELU>>()));
}
TEST_CASE("Softmax gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4>, Dense<6>, Softmax>>()));
}
TEST_CASE("Flatten gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 3, 2>, Flatten, Dense<3>>>()));
}
TEST_CASE("Dropout gradients (same mask in every pass)")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<10>, Dense<20>, Dropout<0.5>, Dense<3>>>()));
}
TEST_CASE("A deep MLP chains its gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 4>, Flatten, Dense<16>, ReLU, Dense<12>, Tanh, Dense<5>>>(4)));
}

namespace {
/// Central difference of a scalar loss with respect to each prediction entry.
template <class Pred, class Loss>
double loss_gradient_error(Pred prediction, Loss&& loss_at, const Pred& analytic)
{
    double worst = 0;
    const double h = 1e-6;
    for (std::size_t i = 0; i < prediction.size(); ++i) {
        const double saved = prediction.data()[i];
        prediction.data()[i] = saved + h;
        const double up = loss_at(prediction);
        prediction.data()[i] = saved - h;
        const double down = loss_at(prediction);
        prediction.data()[i] = saved;
        const double numeric = (up - down) / (2 * h), a = analytic.data()[i];
        worst = std::max(worst, std::abs(a - numeric) / std::max(1e-6, std::abs(a) + std::abs(numeric)));
    }
    return worst;
}
} // namespace

TEST_CASE("CrossEntropyLoss gradient and value")
{
    tensor<double, 2> logits({3, 4});
    random_engine rng(3);
    for (auto& v : logits) v = rng.uniform(-3, 3);
    const std::vector<std::int32_t> labels{2, 0, 3};
    CrossEntropyLoss<double> ce;
    const double value = ce(logits, labels);
    // Hand-computed: mean of log(sum exp z) - z[label].
    double expected = 0;
    for (std::size_t r = 0; r < 3; ++r) {
        double s = 0;
        for (std::size_t c = 0; c < 4; ++c) s += std::exp(logits(r, c));
        expected += std::log(s) - logits(r, std::size_t(labels[r]));
    }
    CHECK(value == doctest::Approx(expected / 3).epsilon(1e-12));
    const auto analytic = ce.gradient();
    CrossEntropyLoss<double> other;
    CHECK(loss_gradient_error(logits, [&](const tensor<double, 2>& z) { return other(z, labels); }, analytic) < 1e-6);
}

TEST_CASE("CrossEntropyLoss is stable for huge logits and rejects bad labels")
{
    tensor<float, 2> logits({1, 3});
    logits(0, 0) = 1000.0f;
    logits(0, 1) = -1000.0f;
    logits(0, 2) = 999.0f;
    CrossEntropyLoss<float> ce;
    const std::vector<std::int32_t> label{0};
    CHECK(ce(logits, label) == doctest::Approx(std::log1p(std::exp(-1.0))).epsilon(1e-5));
    const std::vector<std::int32_t> bad{3};
    CHECK_THROWS_WITH_AS(ce(logits, bad), doctest::Contains("label 3 at row 0 is outside [0, 3)"), value_error);
}

TEST_CASE("BCEWithLogitsLoss gradient and value")
{
    tensor<double, 2> logits({2, 3}), targets({2, 3});
    random_engine rng(4);
    for (auto& v : logits) v = rng.uniform(-4, 4);
    for (auto& v : targets) v = rng.uniform(0, 1);
    BCEWithLogitsLoss<double> bce;
    const double value = bce(logits, targets);
    double expected = 0;
    for (std::size_t i = 0; i < 6; ++i) {
        const double x = logits.data()[i], t = targets.data()[i], p = 1 / (1 + std::exp(-x));
        expected -= t * std::log(p) + (1 - t) * std::log(1 - p);
    }
    CHECK(value == doctest::Approx(expected / 6).epsilon(1e-10));
    const auto analytic = bce.gradient();
    BCEWithLogitsLoss<double> other;
    CHECK(loss_gradient_error(logits, [&](const tensor<double, 2>& z) { return other(z, targets); }, analytic) < 1e-6);
}

TEST_CASE("MSELoss gradient and value")
{
    tensor<double, 2> prediction({2, 2}), target({2, 2});
    prediction.data()[0] = 1;
    prediction.data()[1] = 2;
    prediction.data()[2] = 3;
    prediction.data()[3] = 4;
    target.fill(1.5);
    MSELoss<double> mse;
    // ((-0.5)^2 + 0.5^2 + 1.5^2 + 2.5^2) / 4 = 9 / 4
    CHECK(mse(prediction, target) == doctest::Approx(2.25));
    const auto analytic = mse.gradient();
    MSELoss<double> other;
    CHECK(loss_gradient_error(prediction, [&](const tensor<double, 2>& p) { return other(p, target); }, analytic) < 1e-6);
}

namespace {

/// Predictions at differences d from a zero target, for the element-wise regression losses.
tensor<double, 2> differences(std::initializer_list<double> d)
{
    tensor<double, 2> p({1, d.size()});
    std::copy(d.begin(), d.end(), p.begin());
    return p;
}

/// The finite-difference error of `Loss`'s gradient at predictions `p` against targets `t`.
template <class Loss>
double regression_gradient_error(Loss loss, const tensor<double, 2>& p, const tensor<double, 2>& t)
{
    loss(p, t);
    const auto analytic = loss.gradient();
    Loss other = loss;
    return loss_gradient_error(p, [&](const tensor<double, 2>& z) { return other(z, t); }, analytic);
}

} // namespace

TEST_CASE("L1Loss: value, PyTorch's zero gradient at zero, the sum reduction, and gradients")
{
    const auto p = differences({-3, -0.5, 0, 0.4, 2});
    tensor<double, 2> t({1, 5});
    t.fill(0);
    L1Loss<double> l1;
    CHECK(l1(p, t) == doctest::Approx((3 + 0.5 + 0 + 0.4 + 2) / 5));
    CHECK(l1.gradient()(0, 0) == doctest::Approx(-0.2));
    CHECK(l1.gradient()(0, 2) == 0.0);
    CHECK(l1.gradient()(0, 4) == doctest::Approx(0.2));
    L1Loss<double> summed(reduction::sum);
    CHECK(summed(p, t) == doctest::Approx(5.9));
    CHECK(summed.gradient()(0, 3) == 1.0);
    // Finite differences away from the kink at zero.
    tensor<double, 2> x({3, 4}), y({3, 4});
    random_engine rng(3);
    for (auto& v : x) v = rng.uniform(-2, 2);
    for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = x.data()[i] + (i % 2 ? 0.3 : -0.7);
    CHECK(regression_gradient_error(L1Loss<double>{}, x, y) < 1e-6);
    tensor<double, 2> wrong({3, 5});
    CHECK_THROWS_WITH_AS(l1(x, wrong), doctest::Contains("L1Loss: prediction [3, 4] but target [3, 5]"), shape_error);
}

TEST_CASE("HuberLoss and SmoothL1Loss: PyTorch's values on both sides of delta and beta, and gradients")
{
    const auto p = differences({-3, -0.5, 0, 0.4, 2});
    tensor<double, 2> t({1, 5});
    t.fill(0);
    // delta 1: 0.5 d^2 inside, delta (|d| - delta / 2) outside: 2.5, 0.125, 0, 0.08, 1.5.
    HuberLoss<double> huber;
    CHECK(huber(p, t) == doctest::Approx((2.5 + 0.125 + 0 + 0.08 + 1.5) / 5));
    CHECK(huber.gradient()(0, 0) == doctest::Approx(-1.0 / 5));
    CHECK(huber.gradient()(0, 3) == doctest::Approx(0.4 / 5));
    // beta 0.5: 0.5 d^2 / beta inside, |d| - beta / 2 outside: 2.75, 0.25, 0, 0.16, 1.75.
    SmoothL1Loss<double> smooth(0.5);
    CHECK(smooth(p, t) == doctest::Approx((2.75 + 0.25 + 0 + 0.16 + 1.75) / 5));
    CHECK(smooth.gradient()(0, 3) == doctest::Approx(0.8 / 5));
    CHECK(smooth.gradient()(0, 4) == doctest::Approx(1.0 / 5));
    // SmoothL1 is Huber divided by beta; beta 0 is L1.
    HuberLoss<double> huber_half(0.5, reduction::sum);
    SmoothL1Loss<double> smooth_sum(0.5, reduction::sum);
    CHECK(smooth_sum(p, t) * 0.5 == doctest::Approx(huber_half(p, t)));
    SmoothL1Loss<double> beta_zero(0.0);
    L1Loss<double> l1;
    CHECK(beta_zero(p, t) == doctest::Approx(l1(p, t)));
    CHECK_THROWS_AS(HuberLoss<double>(0.0), value_error);
    CHECK_THROWS_AS(SmoothL1Loss<double>(-1.0), value_error);
    // Finite differences at points on both sides of the turn, away from it.
    tensor<double, 2> x({2, 5}), y({2, 5});
    y.fill(0.25);
    const double d[10] = {-3, -0.9, -0.2, 0.1, 0.3, 0.45, 0.7, 1.6, 2.5, -1.4};
    for (std::size_t i = 0; i < 10; ++i) x.data()[i] = 0.25 + d[i];
    CHECK(regression_gradient_error(HuberLoss<double>(1.0), x, y) < 1e-6);
    CHECK(regression_gradient_error(HuberLoss<double>(0.6, reduction::sum), x, y) < 1e-6);
    CHECK(regression_gradient_error(SmoothL1Loss<double>(0.5), x, y) < 1e-6);
    CHECK(regression_gradient_error(MSELoss<double>(reduction::sum), x, y) < 1e-6);
    MSELoss<double> mse_sum(reduction::sum);
    CHECK(mse_sum(p, t) == doctest::Approx(9 + 0.25 + 0 + 0.16 + 4));
}
