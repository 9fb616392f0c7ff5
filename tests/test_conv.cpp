// Convolution, pooling, batch normalisation and channel dropout: forward values
// against direct loops, finite-difference gradients in double, shape errors.
#include <doctest/doctest.h>

#include <lepton/lepton.hpp>
#include <lepton/testing/gradient_check.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gradient_helpers.hpp"

using namespace lepton;
using lepton_test::random_input;

namespace {


template <class Net>
testing::gradient_report gradients_of(std::size_t batch = 2)
{
    Net net(3);
    return testing::check_gradients(net, random_input<Net>(batch, 9));
}


/// PyTorch's Conv2d written as the textbook loop over every output, tap and channel.
template <class Layer>
double max_error_against_direct_convolution(Layer& layer, const tensor<double, 4>& x, const tensor<double, 4>& y,
                                            std::size_t sh, std::size_t sw, std::size_t pt, std::size_t pl,
                                            std::size_t dh, std::size_t dw, std::size_t groups)
{
    auto w = layer.weight();
    auto b = layer.bias();
    const std::size_t n = x.shape()[0], cin = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
    const std::size_t cout = y.shape()[1], oh = y.shape()[2], ow = y.shape()[3];
    const std::size_t kh = w.shape()[2], kw = w.shape()[3], gin = cin / groups, gout = cout / groups;
    double worst = 0;
    for (std::size_t s = 0; s < n; ++s)
        for (std::size_t o = 0; o < cout; ++o)
            for (std::size_t oy = 0; oy < oh; ++oy)
                for (std::size_t ox = 0; ox < ow; ++ox) {
                    double acc = b(o);
                    const std::size_t g = o / gout;
                    for (std::size_t c = 0; c < gin; ++c)
                        for (std::size_t i = 0; i < kh; ++i)
                            for (std::size_t j = 0; j < kw; ++j) {
                                const std::ptrdiff_t iy = std::ptrdiff_t(oy * sh + i * dh) - std::ptrdiff_t(pt);
                                const std::ptrdiff_t ix = std::ptrdiff_t(ox * sw + j * dw) - std::ptrdiff_t(pl);
                                if (iy < 0 || ix < 0 || iy >= std::ptrdiff_t(h) || ix >= std::ptrdiff_t(wd)) continue;
                                acc += w(o, c, i, j) * x(s, g * gin + c, std::size_t(iy), std::size_t(ix));
                            }
                    worst = std::max(worst, std::abs(acc - y(s, o, oy, ox)));
                }
    return worst;
}

/// How far float network f strays from double network d (same seed, same
/// weights) on `batch` random images: the largest difference over the outputs
/// and input gradients, or over the parameter gradients relative to the
/// largest of them, whichever is worse.
template <class F, class D>
double float_error(F f, D d, std::size_t batch = 2)
{
    const auto xd = random_input<D>(batch, 5);
    tensor<float, 4> xf(xd.shape());
    std::copy(xd.begin(), xd.end(), xf.begin());
    const auto& yf = f.forward(xf);
    const auto& yd = d.forward(xd);
    double worst = 0;
    for (std::size_t i = 0; i < yd.size(); ++i)
        worst = std::max(worst, std::abs(double(yf.data()[i]) - yd.data()[i]));
    // The gradients take the same routes backwards: dY varies from pixel to pixel.
    auto dyf = yf;
    auto dyd = yd;
    for (std::size_t i = 0; i < dyd.size(); ++i) {
        dyd.data()[i] = std::sin(0.37 * double(i));
        dyf.data()[i] = float(dyd.data()[i]);
    }
    const auto& dxf = f.backward(dyf, true);
    const auto& dxd = d.backward(dyd, true);
    for (std::size_t i = 0; i < dxd.size(); ++i)
        worst = std::max(worst, std::abs(double(dxf.data()[i]) - dxd.data()[i]));
    // Parameter gradients sum over the batch and the pixels, where the
    // transforms' large terms cancel: compared relative to the largest.
    const auto gf = f.gradients();
    const auto gd = d.gradients();
    double largest = 0, worst_gradient = 0;
    for (std::size_t i = 0; i < gd.size(); ++i) {
        largest = std::max(largest, std::abs(gd[i]));
        worst_gradient = std::max(worst_gradient, std::abs(double(gf[i]) - gd[i]));
    }
    return std::max(worst, worst_gradient / largest);
}

} // namespace

// Output shapes, as PyTorch computes them.
static_assert(std::is_same_v<Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>>::output_shape, Shape<32, 28, 28>>);
static_assert(std::is_same_v<Sequential<Input<3, 10, 9>, Conv2D<4, Size2{3, 2}, Size2{2, 1}, Padding{1, 0}>>::output_shape, Shape<4, 5, 8>>);
static_assert(std::is_same_v<Sequential<Input<2, 9, 9>, Conv2D<2, 3, 1, 0, 2>>::output_shape, Shape<2, 5, 5>>);
#if !defined(__clang__)
// g++ also takes bare braces for the rectangular sizes (clang 14 does not take a braced list as a template argument).
static_assert(std::is_same_v<Conv2D<4, {3, 2}, {2, 1}, {1, 0}>, Conv2D<4, Size2{3, 2}, Size2{2, 1}, Padding{1, 0}>>);
#endif
static_assert(std::is_same_v<Sequential<Input<2, 7, 7>, Conv2D<2, 4, 1, Padding::same>>::output_shape, Shape<2, 7, 7>>);
static_assert(std::is_same_v<Sequential<Input<3, 7, 6>, MaxPool2D<2>>::output_shape, Shape<3, 3, 3>>);
static_assert(std::is_same_v<Sequential<Input<3, 7, 6>, AvgPool2D<3, 2, 1>>::output_shape, Shape<3, 4, 3>>);
static_assert(std::is_same_v<Sequential<Input<5, 4, 4>, GlobalAvgPool2D>::output_shape, Shape<5>>);
static_assert(Sequential<Input<6, 8, 8>, Conv2D<4, 3, 1, 0, 1, 2>>::parameter_count == 4 * 3 * 9 + 4);

TEST_CASE("Conv2D forward matches a direct convolution over stride, padding, dilation and groups")
{
    auto run = [](auto net, std::size_t sh, std::size_t sw, std::size_t pt, std::size_t pl, std::size_t dh,
                  std::size_t dw, std::size_t groups) {
        using Net = decltype(net);
        const auto x = random_input<Net>(3, 17);
        const auto& y = net.forward(x);
        return max_error_against_direct_convolution(net.template layer<0>(), x, y, sh, sw, pt, pl, dh, dw, groups);
    };
    CHECK(run(Network<double, cpu, Input<1, 8, 8>, Conv2D<4, 3, 1, Padding::same>>(1), 1, 1, 1, 1, 1, 1, 1) < 1e-12);
    CHECK(run(Network<double, cpu, Input<3, 9, 7>, Conv2D<5, Size2{3, 2}, Size2{2, 1}, Padding{1, 0}>>(1), 2, 1, 1, 0, 1, 1, 1) < 1e-12);
    CHECK(run(Network<double, cpu, Input<2, 9, 9>, Conv2D<3, 3, 1, 2, 2>>(1), 1, 1, 2, 2, 2, 2, 1) < 1e-12);
    CHECK(run(Network<double, cpu, Input<4, 6, 6>, Conv2D<6, 3, 1, 1, 1, 2>>(1), 1, 1, 1, 1, 1, 1, 2) < 1e-12);
    CHECK(run(Network<double, cpu, Input<4, 5, 5>, Conv2D<4, 3, 2, 1, 1, 4>>(1), 2, 2, 1, 1, 1, 1, 4) < 1e-12);
    CHECK(run(Network<double, cpu, Input<3, 5, 4>, Conv2D<2, 1>>(1), 1, 1, 0, 0, 1, 1, 1) < 1e-12);
    // Even kernel with 'same': PyTorch puts the extra padding row/column at the bottom/right.
    CHECK(run(Network<double, cpu, Input<2, 6, 6>, Conv2D<2, 2, 1, Padding::same>>(1), 1, 1, 0, 0, 1, 1, 1) < 1e-12);
}

TEST_CASE("Conv2D with a shallow kernel runs directly: forward against a direct convolution, and gradients")
{
    // Depth 1 x 3 x 3 and 16 outputs, rows of 10 and 17 pixels: whole vectors plus an overlapping last one.
    using Same = Network<double, cpu, Input<1, 9, 10>, Conv2D<16, 3, 1, Padding::same>>;
    using Valid = Network<double, cpu, Input<1, 6, 19>, Conv2D<32, 3>>;
    static_assert(Same::layer_type<0>::direct && Valid::layer_type<0>::direct);
    auto run = [](auto net, std::size_t pad) {
        using Net = decltype(net);
        const auto x = random_input<Net>(3, 29);
        const auto& y = net.forward(x);
        return max_error_against_direct_convolution(net.template layer<0>(), x, y, 1, 1, pad, pad, 1, 1, 1);
    };
    CHECK(run(Same(1), 1) < 1e-12);
    CHECK(run(Valid(1), 0) < 1e-12);
    CHECK_GRADIENTS((gradients_of<Same>()));
    // Float: the vector code of the direct forward pass and of the one-tile weight and bias gradient.
    CHECK(float_error(Network<float, cpu, Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>>(1),
                      Network<double, cpu, Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>>(1), 3) < 1e-5);
}

TEST_CASE("Conv2D by Winograd F(4x4, 3x3): forward against a direct convolution, and gradients")
{
    // 3x3 stride-1 layers with at least 16 channels on both sides take the Winograd path.
    using Same = Network<double, cpu, Input<16, 7, 9>, Conv2D<20, 3, 1, Padding::same>>;
    using Valid = Network<double, cpu, Input<17, 6, 5>, Conv2D<16, 3>>;
    using Wide = Network<double, cpu, Input<16, 8, 11>, Conv2D<18, 3, 1, 2>>;
    using Lopsided = Network<double, cpu, Input<16, 5, 6>, Conv2D<16, 3, 1, Padding{0, 2}>>;
    static_assert(Same::layer_type<0>::winograd && Same::layer_type<0>::winograd_input_grad &&
                  Same::layer_type<0>::winograd_weight_grad);
    static_assert(Valid::layer_type<0>::winograd && Valid::layer_type<0>::winograd_input_grad);
    static_assert(Wide::layer_type<0>::winograd && Lopsided::layer_type<0>::winograd);
    static_assert(!Network<double, cpu, Input<8, 7, 7>, Conv2D<16, 3, 1, 1>>::layer_type<0>::winograd);
    auto run = [](auto net, std::size_t pt, std::size_t pl) {
        using Net = decltype(net);
        const auto x = random_input<Net>(3, 23);
        const auto& y = net.forward(x);
        return max_error_against_direct_convolution(net.template layer<0>(), x, y, 1, 1, pt, pl, 1, 1, 1);
    };
    CHECK(run(Same(1), 1, 1) < 1e-12);
    CHECK(run(Valid(1), 0, 0) < 1e-12);
    CHECK(run(Wide(1), 2, 2) < 1e-12);
    CHECK(run(Lopsided(1), 0, 2) < 1e-12);
    // Float (its own vector code for picking tiles out of rows and writing
    // them back: with AVX-512 when four tiles span a row, with AVX2 always,
    // by 4x4 transposes): the transforms round differently from a direct
    // sum, but not by much. Rows of 13, 14 and 16 (four tiles), 15 (four
    // tiles, the last one cut short, three tile rows: vectors that span two
    // images), 32 (eight) and 37 (ten); padding odd, even, lopsided and none;
    // tile rows that do not fill a vector; 7 images (groups of images and a
    // partial last group).
    CHECK(float_error(Network<float, cpu, Input<32, 14, 14>, Conv2D<64, 3, 1, Padding::same>>(1),
                      Network<double, cpu, Input<32, 14, 14>, Conv2D<64, 3, 1, Padding::same>>(1), 7) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 13, 13>, Conv2D<20, 3, 1, Padding::same>>(1),
                      Network<double, cpu, Input<16, 13, 13>, Conv2D<20, 3, 1, Padding::same>>(1)) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 9, 14>, Conv2D<16, 3, 1, Padding{0, 2}>>(1),
                      Network<double, cpu, Input<16, 9, 14>, Conv2D<16, 3, 1, Padding{0, 2}>>(1), 5) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 11, 15>, Conv2D<16, 3, 1, Padding::same>>(1),
                      Network<double, cpu, Input<16, 11, 15>, Conv2D<16, 3, 1, Padding::same>>(1), 5) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 10, 34>, Conv2D<24, 3>>(1),
                      Network<double, cpu, Input<16, 10, 34>, Conv2D<24, 3>>(1), 3) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 5, 37>, Conv2D<16, 3, 1, 2>>(1),
                      Network<double, cpu, Input<16, 5, 37>, Conv2D<16, 3, 1, 2>>(1)) < 1e-5);
    CHECK(float_error(Network<float, cpu, Input<16, 6, 37>, Conv2D<16, 3, 1, Padding::same>, ReLU,
                              Conv2D<16, 3, 1, 1>>(1),
                      Network<double, cpu, Input<16, 6, 37>, Conv2D<16, 3, 1, Padding::same>, ReLU,
                              Conv2D<16, 3, 1, 1>>(1)) < 1e-5);
    CHECK_GRADIENTS((gradients_of<Same>()));
    CHECK_GRADIENTS((gradients_of<Valid>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<16, 4, 5>, Conv2D<16, 3, 1, 2>, ReLU,
                                          Conv2D<16, 3, 1, Padding::same>>>()));
}

TEST_CASE("ReLU fused with the layers around it: Conv2D applies it, max pooling applies its gradient")
{
    // Each pair: the fused network and the convolution alone (same seed, same weights).
    auto check = [](auto fused, auto alone) {
        using Net = decltype(fused);
        const auto x = random_input<Net>(2, 31);
        const auto& y = fused.forward(x);
        const auto& z = alone.forward(x);
        REQUIRE(y.size() == z.size());
        double worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y.data()[i] - std::max(z.data()[i], 0.0)));
        CHECK(worst == 0.0);
        CHECK(fused.output().data() == y.data());
        return worst;
    };
    using Direct = Conv2D<16, 3, 1, Padding::same>;
    using Wino = Conv2D<16, 3, 1, 1>;
    using Implicit = Conv2D<3, 3, 1, 1>;
    using Strided = Conv2D<3, 3, 2, 1>;
    check(Network<double, cpu, Input<1, 9, 10>, Direct, ReLU>(1), Network<double, cpu, Input<1, 9, 10>, Direct>(1));
    check(Network<double, cpu, Input<16, 5, 6>, Wino, ReLU>(1), Network<double, cpu, Input<16, 5, 6>, Wino>(1));
    check(Network<double, cpu, Input<2, 5, 6>, Implicit, ReLU>(1), Network<double, cpu, Input<2, 5, 6>, Implicit>(1));
    check(Network<double, cpu, Input<2, 7, 6>, Strided, ReLU>(1), Network<double, cpu, Input<2, 7, 6>, Strided>(1));
    // Gradients through the fused pair, ahead of more layers and as the last layer.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 5, 6>, Implicit, ReLU, Flatten, Dense<2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 6>, Strided, ReLU>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<1, 9, 10>, Direct, ReLU, MaxPool2D<2>>>()));
    // ReLU before max pooling: the pooling applies ReLU's gradient (2x2 and general windows).
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 6>, ReLU, MaxPool2D<2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 6>, Implicit, ReLU, MaxPool2D<3, 2, 1>, Flatten,
                                          Dense<2>>>()));
}

TEST_CASE("Conv2D gradients: 3x3 same")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 5, 5>, Conv2D<3, 3, 1, Padding::same>>>()));
}
TEST_CASE("Conv2D gradients: rectangular kernel, stride 2, asymmetric padding")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 7, 6>, Conv2D<2, Size2{3, 2}, Size2{2, 1}, Padding{1, 0}>>>()));
}
TEST_CASE("Conv2D gradients: dilation 2")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 7>, Conv2D<2, 3, 1, 1, 2>>>()));
}
TEST_CASE("Conv2D gradients: groups 2 and depthwise")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4, 5, 5>, Conv2D<6, 3, 1, 1, 1, 2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 5, 5>, Conv2D<3, 3, 2, 1, 1, 3>>>()));
}
TEST_CASE("Conv2D gradients: 1x1 pointwise and no bias")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 4, 4>, Conv2D<5, 1>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 4, 4>, Conv2D<2, 3, 1, 1, 1, 1, false>>>()));
}
TEST_CASE("Conv2D gradients over a batch spread across threads")
{
    const int before = num_threads();
    set_num_threads(2);
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<8, 12, 12>, Conv2D<8, 3, 1, Padding::same>>>(6)));
    set_num_threads(before);
}

TEST_CASE("MaxPool2D forward picks the first maximum, as PyTorch")
{
    Network<double, cpu, Input<1, 2, 4>, MaxPool2D<2>> net;
    tensor<double, 4> x({1, 1, 2, 4});
    // window 0: {1, 3 / 3, 0} -> 3 at (0,1); window 1: zeros everywhere -> the first, (0,2)
    x(0, 0, 0, 0) = 1, x(0, 0, 0, 1) = 3, x(0, 0, 1, 0) = 3, x(0, 0, 1, 1) = 0;
    x(0, 0, 0, 2) = 0, x(0, 0, 0, 3) = 0, x(0, 0, 1, 2) = 0, x(0, 0, 1, 3) = 0;
    const auto& y = net.forward(x);
    CHECK(y(0, 0, 0, 0) == 3);
    CHECK(y(0, 0, 0, 1) == 0);
    tensor<double, 4> dy({1, 1, 1, 2});
    dy(0, 0, 0, 0) = 5, dy(0, 0, 0, 1) = 7;
    const auto& dx = net.backward(dy, true);
    CHECK(dx(0, 0, 0, 1) == 5);
    CHECK(dx(0, 0, 1, 0) == 0);
    CHECK(dx(0, 0, 0, 2) == 7);
    CHECK(dx(0, 0, 0, 3) == 0);
}

TEST_CASE("MaxPool2D 2x2 in float (16 windows at a time) picks and routes exactly as the double path")
{
    // Inputs on a coarse grid make ties common; rows of 37 (18 windows: a
    // whole vector and a partial one, and a column outside every window), odd
    // heights, and a ReLU before the pooling (whose gradient the pooling applies).
    auto compare = [](auto f, auto d) {
        using D = decltype(d);
        auto xd = random_input<D>(3, 41);
        for (auto& v : xd) v = std::round(v * 4) / 4;
        tensor<float, 4> xf(xd.shape());
        std::copy(xd.begin(), xd.end(), xf.begin());
        const auto& yf = f.forward(xf);
        const auto& yd = d.forward(xd);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < yd.size(); ++i) differ += double(yf.data()[i]) != yd.data()[i];
        auto dyf = yf;
        auto dyd = yd;
        for (std::size_t i = 0; i < dyd.size(); ++i) dyf.data()[i] = float(dyd.data()[i] = double(i % 13) - 6);
        const auto& dxf = f.backward(dyf, true);
        const auto& dxd = d.backward(dyd, true);
        for (std::size_t i = 0; i < dxd.size(); ++i) differ += double(dxf.data()[i]) != dxd.data()[i];
        CHECK(differ == 0);
    };
    compare(Network<float, cpu, Input<2, 7, 37>, MaxPool2D<2>>(1), Network<double, cpu, Input<2, 7, 37>, MaxPool2D<2>>(1));
    compare(Network<float, cpu, Input<2, 9, 14>, ReLU, MaxPool2D<2>>(1),
            Network<double, cpu, Input<2, 9, 14>, ReLU, MaxPool2D<2>>(1));
}

TEST_CASE("AvgPool2D with padding counts the padded zeros, as PyTorch")
{
    Network<double, cpu, Input<1, 2, 2>, AvgPool2D<2, 1, 1>> net;
    tensor<double, 4> x({1, 1, 2, 2});
    x(0, 0, 0, 0) = 1, x(0, 0, 0, 1) = 2, x(0, 0, 1, 0) = 3, x(0, 0, 1, 1) = 4;
    const auto& y = net.forward(x);
    REQUIRE(y.shape()[2] == 3);
    CHECK(y(0, 0, 0, 0) == doctest::Approx(0.25));  // only x(0,0) inside
    CHECK(y(0, 0, 1, 1) == doctest::Approx(2.5));   // the whole image
    CHECK(y(0, 0, 2, 2) == doctest::Approx(1.0));   // only x(1,1)
}

TEST_CASE("pooling gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 6, 6>, Conv2D<2, 3>, MaxPool2D<2>>>()));
    // Odd sizes: the last row and column lie outside every 2x2 window.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 5>, Conv2D<2, 1>, MaxPool2D<2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 6>, MaxPool2D<3, 2, 1>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 7, 6>, AvgPool2D<3, 2, 1>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 5, 5>, AvgPool2D<2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 4, 5>, GlobalAvgPool2D, Dense<2>>>()));
}

static_assert(std::is_same_v<Sequential<Input<3, 7, 5>, Upsample2D<2>>::output_shape, Shape<3, 14, 10>>);
static_assert(std::is_same_v<Sequential<Input<3, 7, 5>, Upsample2D<Size2{2, 3}, upsample_mode::bilinear>>::output_shape,
                             Shape<3, 14, 15>>);

TEST_CASE("Upsample2D: nearest repeats pixels, bilinear follows PyTorch's align_corners=False")
{
    tensor<double, 4> x({1, 1, 2, 2});
    x(0, 0, 0, 0) = 1, x(0, 0, 0, 1) = 2, x(0, 0, 1, 0) = 3, x(0, 0, 1, 1) = 4;
    Network<double, cpu, Input<1, 2, 2>, Upsample2D<Size2{2, 3}>> nearest;
    const auto& n = nearest.forward(x);
    REQUIRE(n.shape()[2] == 4);
    REQUIRE(n.shape()[3] == 6);
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 6; ++c) CHECK(n(0, 0, r, c) == x(0, 0, r / 2, c / 3));

    // torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    Network<double, cpu, Input<1, 2, 2>, Upsample2D<2, upsample_mode::bilinear>> bilinear;
    const auto& b = bilinear.forward(x);
    const double expected[4][4] = {{1.0, 1.25, 1.75, 2.0}, {1.5, 1.75, 2.25, 2.5}, {2.5, 2.75, 3.25, 3.5}, {3.0, 3.25, 3.75, 4.0}};
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) CHECK(b(0, 0, r, c) == doctest::Approx(expected[r][c]));

    // Three times along a row [0, 3]: source positions -1/3 (clamped to 0), 0, 1/3, 2/3, 1, 4/3 (the last pixel).
    Network<double, cpu, Input<1, 1, 2>, Upsample2D<Size2{1, 3}, upsample_mode::bilinear>> wide;
    tensor<double, 4> row({1, 1, 1, 2});
    row(0, 0, 0, 1) = 3;
    const auto& w = wide.forward(row);
    const double along[6] = {0, 0, 1, 2, 3, 3};
    for (std::size_t c = 0; c < 6; ++c) CHECK(w(0, 0, 0, c) == doctest::Approx(along[c]));
}

TEST_CASE("Upsample2D gradients")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 3, 4>, Upsample2D<2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 3, 4>, Upsample2D<Size2{3, 2}>, Conv2D<2, 3>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 3, 4>, Upsample2D<2, upsample_mode::bilinear>>>()));
    CHECK_GRADIENTS(
        (gradients_of<Network<double, cpu, Input<2, 5, 3>, Conv2D<3, 1>, Upsample2D<Size2{3, 2}, upsample_mode::bilinear>,
                              Conv2D<2, 3>>>()));
}

TEST_CASE("BatchNorm2D gradients in training and evaluation mode")
{
    using Net = Network<double, cpu, Input<3, 4, 4>, Conv2D<4, 3, 1, 1>, BatchNorm2D<>, Flatten, Dense<1>>;
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 4, 4>, BatchNorm2D<>>>(4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5>, BatchNorm1D<>>>(6)));
    Net net(2);
    net.eval();
    CHECK_GRADIENTS(testing::check_gradients(net, random_input<Net>(3, 4)));
}

TEST_CASE("BatchNorm followed by ReLU applies it both ways itself, with the gradients of the two layers apart")
{
    // In a chain the BatchNorm applies the ReLU to its output and masks the gradient; inside a Block of its
    // own it cannot see the ReLU, so the pair runs unfused: the two must agree bitwise.
    using Fused = Sequential<Input<3, 5, 6>, BatchNorm2D<>, ReLU, Flatten, Dense<2>>;
    using Apart = Sequential<Input<3, 5, 6>, Block<BatchNorm2D<>>, ReLU, Flatten, Dense<2>>;
    Fused fused(3);
    Apart apart(3);
    REQUIRE(fused.parameters().size() == apart.parameters().size());
    std::copy(fused.parameters().begin(), fused.parameters().end(), apart.parameters().begin());
    const auto x = random_input<Fused>(4, 5);
    Fused::output_type dy(batch_shape<Fused::output_shape>(4));
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = float(i % 7) - 3.0f;
    for (bool training : {true, false}) {
        INFO("training: " << training);
        training ? fused.train() : fused.eval();
        training ? apart.train() : apart.eval();
        fused.zero_grad();
        apart.zero_grad();
        const auto y = fused.forward(x);
        const auto z = apart.forward(x);
        CHECK(y == z);
        // The ReLU passes the BatchNorm's own (already rectified) output on.
        CHECK(fused.layer<1>().output().data() == fused.layer<0>().output().data());
        const auto dx = fused.backward(dy, true);
        const auto dz = apart.backward(dy, true);
        CHECK(dx == dz);
        CHECK(std::equal(fused.gradients().begin(), fused.gradients().end(), apart.gradients().begin()));
    }
    using Net = Network<double, cpu, Input<3, 4, 4>, Conv2D<4, 3, 1, 1>, BatchNorm2D<>, ReLU, Flatten, Dense<1>>;
    CHECK_GRADIENTS((gradients_of<Net>(4)));
    Net net(2);
    net.eval();
    CHECK_GRADIENTS(testing::check_gradients(net, random_input<Net>(3, 4)));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5>, Dense<4>, BatchNorm1D<>, ReLU, Dense<2>>>(6)));
}

TEST_CASE("BatchNorm2D passes a NaN batch on as NaN, not as another value")
{
    // A NaN that became a finite or infinite number here would hide a diverged step from TerminateOnNaN.
    Sequential<Input<2, 3, 3>, BatchNorm2D<>> net;
    tensor<float, 4> x({2, 2, 3, 3});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 5);
    x(1, 0, 2, 2) = std::numeric_limits<float>::quiet_NaN();
    const auto& y = net.forward(x);
    for (std::size_t s = 0; s < 2; ++s)
        for (std::size_t p = 0; p < 9; ++p) {
            CHECK(std::isnan(y(s, 0, p / 3, p % 3)));
            CHECK(std::isfinite(y(s, 1, p / 3, p % 3)));
        }
}

TEST_CASE("BatchNorm2D's float statistics stay accurate far from zero")
{
    // Channels with a mean 10^3 and 10^4 times their spread: the batch statistics in
    // float agree with a double computation, where E[x^2] - E[x]^2 in float would not.
    Sequential<Input<2, 7, 7>, BatchNorm2D<1.0>> net;  // momentum 1: the running values are the batch's own
    tensor<float, 4> x({8, 2, 7, 7});
    random_engine rng(9);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t c = (i / 49) % 2;
        x.data()[i] = float((c == 0 ? 1000.0 : -300.0) + (c == 0 ? 1.0 : 0.03) * rng.normal());
    }
    const auto& y = net.forward(x);
    for (std::size_t c = 0; c < 2; ++c) {
        double s = 0, ss = 0, count = 8 * 49;
        for (std::size_t i = 0; i < 8; ++i)
            for (std::size_t p = 0; p < 49; ++p) s += double(x(i, c, p / 7, p % 7));
        const double mean = s / count;
        for (std::size_t i = 0; i < 8; ++i)
            for (std::size_t p = 0; p < 49; ++p) ss += (double(x(i, c, p / 7, p % 7)) - mean) * (double(x(i, c, p / 7, p % 7)) - mean);
        CHECK(net.layer<0>().running_mean()[c] == doctest::Approx(mean).epsilon(1e-6).scale(0));
        CHECK(net.layer<0>().running_var()[c] == doctest::Approx(ss / (count - 1)).epsilon(2e-3).scale(0));
        double out_mean = 0, out_ss = 0;
        for (std::size_t i = 0; i < 8; ++i)
            for (std::size_t p = 0; p < 49; ++p) out_mean += double(y(i, c, p / 7, p % 7)) / count;
        for (std::size_t i = 0; i < 8; ++i)
            for (std::size_t p = 0; p < 49; ++p) out_ss += std::pow(double(y(i, c, p / 7, p % 7)) - out_mean, 2);
        CHECK(std::abs(out_mean) < 2e-3);
        const double var = ss / count;  // the output's variance is var / (var + eps)
        CHECK(out_ss / count == doctest::Approx(var / (var + 1e-5)).epsilon(3e-3));
    }
}

TEST_CASE("BatchNorm2D normalises with batch statistics in training and running statistics in evaluation")
{
    Network<double, cpu, Input<1, 1, 2>, BatchNorm2D<0.1>> net;
    tensor<double, 4> x({2, 1, 1, 2});
    x(0, 0, 0, 0) = 1, x(0, 0, 0, 1) = 2, x(1, 0, 0, 0) = 3, x(1, 0, 0, 1) = 6;  // mean 3, biased var 3.5
    const auto& y = net.forward(x);
    CHECK(y(0, 0, 0, 0) == doctest::Approx(-2.0 / std::sqrt(3.5 + 1e-5)));
    CHECK(y(1, 0, 0, 1) == doctest::Approx(3.0 / std::sqrt(3.5 + 1e-5)));
    auto& bn = net.layer<0>();
    // running = 0.9 * initial + 0.1 * batch; the variance is the unbiased 14 / 3
    CHECK(bn.running_mean()[0] == doctest::Approx(0.3));
    CHECK(bn.running_var()[0] == doctest::Approx(0.9 + 0.1 * 14.0 / 3.0));
    net.eval();
    const auto& z = net.forward(x);
    CHECK(z(0, 0, 0, 0) == doctest::Approx((1 - 0.3) / std::sqrt(0.9 + 0.1 * 14.0 / 3.0 + 1e-5)));
}

TEST_CASE("Dropout2D drops whole channels and is the identity in evaluation")
{
    Network<double, cpu, Input<8, 3, 3>, Dropout2D<0.5>> net(4);
    tensor<double, 4> x({4, 8, 3, 3});
    x.fill(1.0);
    const auto& y = net.forward(x);
    std::size_t dropped = 0;
    for (std::size_t s = 0; s < 4; ++s)
        for (std::size_t c = 0; c < 8; ++c) {
            const double first = y(s, c, 0, 0);
            CHECK((first == 0.0 || first == 2.0));
            for (std::size_t p = 0; p < 9; ++p) CHECK(y.data()[(s * 8 + c) * 9 + p] == first);
            dropped += first == 0.0;
        }
    CHECK(dropped > 4);
    CHECK(dropped < 28);
    net.eval();
    const auto& z = net.forward(x);
    for (double v : z) CHECK(v == 1.0);
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4, 3, 3>, Dropout2D<0.3>, Flatten, Dense<2>>>(3)));
}

TEST_CASE("a CNN rejects a wrong run-time image size")
{
    Sequential<Input<1, 28, 28>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<10>> net;
    tensor<float, 4> x({2, 1, 32, 32});
    x.fill(0);
    CHECK_THROWS_WITH_AS(net.forward(x), doctest::Contains("expects input of shape [N, 1, 28, 28], got [2, 1, 32, 32]"),
                         shape_error);
}

TEST_CASE("Strided convolutions with small outputs multiply several images at once, as if one at a time")
{
    // A batch spanning several groups of images side by side (and a short last group) against every
    // image on its own: the same output and input gradient bit for bit (each element is the same sum
    // in the same order), and the weight gradient of the sum to rounding.
    auto check = [](auto net, std::size_t batch) {
        using Net = decltype(net);
        constexpr std::size_t per_product = Net::template layer_type<0>::images_per_product;
        REQUIRE(per_product > 1);
        REQUIRE(batch > 2 * per_product);
        const auto x = random_input<Net>(batch, 23);
        net.zero_grad();
        const auto y = net.forward(x);
        auto dy = y;
        for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = std::sin(0.61 * double(i));
        const auto dx = net.backward(dy, true);
        const std::vector<double> together(net.gradients().begin(), net.gradients().end());
        std::vector<double> alone(together.size(), 0.0);
        const std::size_t in_size = x.size() / batch, out_size = y.size() / batch;
        double worst_output = 0, worst_input_grad = 0;
        for (std::size_t s = 0; s < batch; ++s) {
            auto xs = random_input<Net>(1, 1);
            std::copy_n(x.data() + s * in_size, in_size, xs.data());
            net.zero_grad();
            const auto ys = net.forward(xs);
            auto dys = ys;
            std::copy_n(dy.data() + s * out_size, out_size, dys.data());
            const auto& dxs = net.backward(dys, true);
            for (std::size_t i = 0; i < out_size; ++i)
                worst_output = std::max(worst_output, std::abs(ys.data()[i] - y.data()[s * out_size + i]));
            for (std::size_t i = 0; i < in_size; ++i)
                worst_input_grad = std::max(worst_input_grad, std::abs(dxs.data()[i] - dx.data()[s * in_size + i]));
            for (std::size_t i = 0; i < alone.size(); ++i) alone[i] += net.gradients()[i];
        }
        CHECK(worst_output == 0.0);
        CHECK(worst_input_grad == 0.0);
        double worst_weight_grad = 0, largest = 0;
        for (std::size_t i = 0; i < alone.size(); ++i) {
            largest = std::max(largest, std::abs(alone[i]));
            worst_weight_grad = std::max(worst_weight_grad, std::abs(alone[i] - together[i]));
        }
        CHECK(worst_weight_grad <= 1e-12 * largest);
    };
    check(Network<double, cpu, Input<3, 8, 8>, Conv2D<4, 3, 2, 1>, ReLU>(1), 37);                 // 4x4 outputs
    check(Network<double, cpu, Input<4, 9, 7>, Conv2D<6, Size2{4, 3}, 2, 1, 1, 2>>(2), 35);       // groups 2
    check(Network<double, cpu, Input<2, 14, 14>, Conv2D<3, 1, 2, 0, 1, 1, false>>(3), 13);        // 1x1, stride 2: 7x7
}
