// ConvTranspose2D: PyTorch's output sizes, the forward pass against a direct
// scatter, the adjoint identity with Conv2D, finite-difference gradients in
// double (groups, dilation, output padding), and a PyTorch-written decoder.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <lepton/io/checkpoint.hpp>
#include <lepton/io/safetensors.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/conv_transpose2d.hpp>
#include <lepton/layers/upsample.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/testing/gradient_check.hpp>

#include "gradient_helpers.hpp"
#include "reference_helpers.hpp"

using namespace lepton;
using lepton_test::random_input;

// PyTorch's output size, (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1, per axis.
template <class Net>
using out_of = typename Net::output_shape;
static_assert(std::is_same_v<out_of<Sequential<Input<16, 7, 7>, ConvTranspose2D<8, 4, 2, 1>>>, Shape<8, 14, 14>>);
static_assert(std::is_same_v<out_of<Sequential<Input<3, 5, 5>, ConvTranspose2D<2, 3, 2, 1, 1>>>, Shape<2, 10, 10>>);
static_assert(std::is_same_v<out_of<Sequential<Input<3, 4, 4>, ConvTranspose2D<2, 3>>>, Shape<2, 6, 6>>);
static_assert(std::is_same_v<out_of<Sequential<Input<3, 4, 4>, ConvTranspose2D<2, 1>>>, Shape<2, 4, 4>>);
static_assert(std::is_same_v<out_of<Sequential<Input<3, 4, 4>, ConvTranspose2D<2, 5, 3, 2, 2>>>, Shape<2, 12, 12>>);
static_assert(std::is_same_v<out_of<Sequential<Input<4, 5, 6>, ConvTranspose2D<2, Size2{3, 2}, Size2{2, 3}, Size2{0, 1}, Size2{1, 2}, Size2{2, 1}, 2>>>,
                             Shape<2, 14, 17>>);
static_assert(Sequential<Input<16, 7, 7>, ConvTranspose2D<8, 4, 2, 1>>::parameter_count == 16 * 8 * 16 + 8);
static_assert(Sequential<Input<4, 3, 3>, ConvTranspose2D<6, 3, 1, 0, 0, 1, 2, false>>::parameter_count == 4 * 3 * 9);

namespace {

/// y = bias + the scatter of every input pixel through the kernel: PyTorch's definition, written out.
template <class Net, std::size_t Out, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G>
tensor<double, 4> scatter_reference(Net& net, const tensor<double, 4>& x)
{
    const std::size_t n = x.shape()[0], in = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
    const auto os = Net::output_shape::dims;
    tensor<double, 4> y({n, Out, os[1], os[2]});
    const double* weight = nullptr;
    const double* bias = nullptr;
    net.for_each_parameter([&](const std::string& name, double* data, double*, const parameter_shape&) {
        (name == "0.weight" ? weight : bias) = data;
    });
    const std::size_t in_g = in / G, out_g = Out / G;
    for (std::size_t s = 0; s < n; ++s) {
        for (std::size_t o = 0; o < Out; ++o)
            for (std::size_t i = 0; i < os[1] * os[2]; ++i) y.data()[(s * Out + o) * os[1] * os[2] + i] = bias ? bias[o] : 0;
        for (std::size_t c = 0; c < in; ++c)
            for (std::size_t iy = 0; iy < h; ++iy)
                for (std::size_t ix = 0; ix < w; ++ix)
                    for (std::size_t ol = 0; ol < out_g; ++ol)
                        for (std::size_t ky = 0; ky < K; ++ky)
                            for (std::size_t kx = 0; kx < K; ++kx) {
                                const long oy = long(iy * S + ky * D) - long(P), ox = long(ix * S + kx * D) - long(P);
                                if (oy < 0 || ox < 0 || oy >= long(os[1]) || ox >= long(os[2])) continue;
                                const std::size_t o = (c / in_g) * out_g + ol;
                                y(s, o, std::size_t(oy), std::size_t(ox)) +=
                                    x(s, c, iy, ix) * weight[((c * out_g + ol) * K + ky) * K + kx];
                            }
    }
    return y;
}

/// The largest difference between `Net`'s forward pass and the scatter reference, on a batch of two.
template <class Net, std::size_t Out, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G>
double difference_from_scatter()
{
    Net net(7);
    const auto x = random_input<Net>(2, 11);
    const auto& y = net.forward(x);
    const auto expected = scatter_reference<Net, Out, K, S, P, D, G>(net, x);
    REQUIRE(std::equal(y.shape().begin(), y.shape().end(), expected.shape().begin()));
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y.data()[i] - expected.data()[i]));
    return worst;
}

template <class Net>
testing::gradient_report gradients_of(std::size_t batch = 2)
{
    Net net(3);
    const auto x = random_input<Net>(batch, 5);
    return testing::check_gradients(net, x);
}

} // namespace

TEST_CASE("ConvTranspose2D: forward equals the direct scatter (strides, padding, groups, dilation, Winograd's path)")
{
    CHECK(difference_from_scatter<Network<double, cpu, Input<3, 4, 5>, ConvTranspose2D<2, 4, 2, 1>>, 2, 4, 2, 1, 1, 1>() < 1e-12);
    CHECK(difference_from_scatter<Network<double, cpu, Input<4, 3, 3>, ConvTranspose2D<6, 3, 2, 1, 1, 2, 2>>, 6, 3, 2, 1, 2, 2>() < 1e-12);
    CHECK(difference_from_scatter<Network<double, cpu, Input<3, 5, 4>, ConvTranspose2D<2, 3, 1, 1, 0, 1, 1, false>>, 2, 3, 1, 1, 1, 1>() < 1e-12);
    // From one pixel (DCGAN's first layer): the adjoint convolution's kernel covers its whole input.
    CHECK(difference_from_scatter<Network<double, cpu, Input<5, 1, 1>, ConvTranspose2D<4, 3>>, 4, 3, 1, 0, 1, 1>() < 1e-12);
    // Stride 1, 3x3, 16 channels each side: the adjoint convolution's input gradient runs by Winograd's method.
    CHECK(difference_from_scatter<Network<double, cpu, Input<16, 6, 7>, ConvTranspose2D<16, 3, 1, 1>>, 16, 3, 1, 1, 1, 1>() < 1e-12);
}

namespace {

/// How a ConvTranspose2D network `Transposed` compares with the Conv2D network `Forward` it is the adjoint of.
struct adjoint_report {
    bool forward_is_conv_input_gradient = false;
    bool input_gradient_is_conv_forward = false;
    bool weight_gradient_is_conv_weight_gradient = false;
    double transposed_product = 0;  ///< <T x, z>
    double conv_product = 0;        ///< <x, C z>
};

/// Runs `Transposed` and `Forward` with the same weights on `batch` samples.
template <class Transposed, class Forward>
adjoint_report compare_adjoint(std::size_t batch)
{
    Transposed t(1);
    Forward c(2);
    std::copy(t.parameters().begin(), t.parameters().end(), c.parameters().begin());
    const auto x = random_input<Transposed>(batch, 3);
    const auto z = random_input<Forward>(batch, 4);
    adjoint_report r;

    const auto ty = t.forward(x);
    c.zero_grad();
    c.forward(z);
    r.forward_is_conv_input_gradient = ty == c.backward(x, /*input_grad=*/true);
    t.zero_grad();
    t.forward(x);
    r.input_gradient_is_conv_forward = t.backward(z, /*input_grad=*/true) == c.forward(z);
    r.weight_gradient_is_conv_weight_gradient =
        std::equal(t.gradients().begin(), t.gradients().end(), c.gradients().begin(), c.gradients().end());

    // Computed independently in double.
    const auto cz = c.forward(z);
    for (std::size_t i = 0; i < ty.size(); ++i) r.transposed_product += ty.data()[i] * z.data()[i];
    for (std::size_t i = 0; i < x.size(); ++i) r.conv_product += x.data()[i] * cz.data()[i];
    return r;
}

} // namespace

TEST_CASE("ConvTranspose2D: the adjoint of Conv2D (forward = Conv2D's input gradient, input gradient = Conv2D's forward)")
{
    // ConvTranspose2D<5, 4, 2, 1> on [3, 6, 6] and Conv2D<3, 4, 2, 1, no bias> on [5, 12, 12]. Conv2D's 6x6 outputs
    // are multiplied 8 images at a time: 2 images are one short product, 11 a full one and a short one.
    using Transposed = Network<double, cpu, Input<3, 6, 6>, ConvTranspose2D<5, 4, 2, 1, 0, 1, 1, false>>;
    using Forward = Network<double, cpu, Input<5, 12, 12>, Conv2D<3, 4, 2, 1, 1, 1, false>>;
    static_assert(Forward::layer_type<0>::images_per_product == 8);
    const std::pair<const char*, adjoint_report> reports[] = {
        {"batch 1", compare_adjoint<Transposed, Forward>(1)},
        {"batch 2", compare_adjoint<Transposed, Forward>(2)},
        {"batch 11", compare_adjoint<Transposed, Forward>(11)},
        // Two groups, a 3x3 kernel and output padding.
        {"groups", compare_adjoint<Network<double, cpu, Input<4, 5, 5>, ConvTranspose2D<4, 3, 2, 1, 1, 1, 2, false>>,
                                   Network<double, cpu, Input<4, 10, 10>, Conv2D<4, 3, 2, 1, 1, 2, false>>>(9)},
        // Stride 1: the adjoint convolution is implicit, and its two products run apart.
        {"stride 1", compare_adjoint<Network<double, cpu, Input<3, 5, 5>, ConvTranspose2D<2, 3, 1, 1, 0, 1, 1, false>>,
                                     Network<double, cpu, Input<2, 5, 5>, Conv2D<3, 3, 1, 1, 1, 1, false>>>(3)},
    };
    for (const auto& entry : reports) {
        const char* const name = entry.first;  // a plain variable: clang 14 cannot capture structured bindings
        const adjoint_report& r = entry.second;
        CAPTURE(name);
        // The same kernels: equal results, not just close ones. The weight gradient, taken with the input
        // gradient (dY unfolded once for the two), is Conv2D's bit for bit.
        CHECK(r.forward_is_conv_input_gradient);
        CHECK(r.input_gradient_is_conv_forward);
        CHECK(r.weight_gradient_is_conv_weight_gradient);
        CHECK(r.transposed_product == doctest::Approx(r.conv_product).epsilon(1e-12));
    }
}

TEST_CASE("ConvTranspose2D gradients (finite differences in double)")
{
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 3, 4>, ConvTranspose2D<2, 4, 2, 1>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<4, 3, 3>, ConvTranspose2D<6, 3, 2, 1, 1, 2, 2>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<2, 4, 3>, ConvTranspose2D<3, Size2{3, 2}, Size2{1, 2}, Size2{1, 0}, Size2{0, 1}>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<16, 4, 4>, ConvTranspose2D<16, 3, 1, 1>>>()));
    // A kernel the size of the image, both ways: Conv2D's one-GEMM-per-batch path (also under a ReLU it fuses).
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<5, 1, 1>, ConvTranspose2D<4, Size2{3, 2}>>>()));
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 3, 4>, Conv2D<5, Size2{3, 4}>, ReLU, Conv2D<2, 1>>>(3)));
    // A 5x5 kernel on a 6x6 image: the output (2x2) is far smaller than the input, so the input
    // gradient runs as a GEMM and a fold, not as a convolution over a mostly zero dY.
    using Shrinking = Network<double, cpu, Input<2, 6, 6>, Conv2D<3, 5>>;
    static_assert(Shrinking::layer_type<0>::implicit && !Shrinking::layer_type<0>::implicit_input_grad);
    CHECK_GRADIENTS((gradients_of<Shrinking>()));
    // Nested in a decoder: upsampling between two transposed convolutions.
    CHECK_GRADIENTS((gradients_of<Network<double, cpu, Input<3, 2, 3>, ConvTranspose2D<4, 3, 2, 1, 1>, Tanh,
                                          Upsample2D<2, upsample_mode::bilinear>, ConvTranspose2D<2, 3, 1, 1>>>()));
}

TEST_CASE("ConvTranspose2D: a PyTorch decoder's state_dict loads and gives PyTorch's outputs within 1e-5")
{
    // tests/reference/write_references.py: ConvTranspose2d(6, 4, 3, 2, 1, output_padding=1, groups=2),
    // Upsample(2, bilinear), ConvTranspose2d(4, 3, 4, 2, 1), ConvTranspose2d(3, 2, 3, 1, 2, dilation=2).
    using Decoder = Sequential<Input<6, 5, 4>, ConvTranspose2D<4, 3, 2, 1, 1, 1, 2>, Upsample2D<2, upsample_mode::bilinear>,
                               ConvTranspose2D<3, 4, 2, 1>, ConvTranspose2D<2, 3, 1, 2, 0, 2>>;
    static_assert(std::is_same_v<Decoder::output_shape, Shape<2, 40, 32>>);
    const std::string dir = LEPTON_REFERENCE_DIR "/";
    Decoder net(1);
    io::load_weights(net, dir + "conv_transpose.weights.safetensors");  // strict: names, shapes, dtypes
    const io::safetensors_file data(dir + "conv_transpose.io.safetensors");
    const auto x = lepton_test::reference_images(data, "input");
    const std::vector<float> expected = lepton_test::reference_values(data, "output", {2, 2, 40, 32});
    CHECK(lepton_test::difference_relative_to_largest(net.forward(x).data(), expected) < 1e-5);
}
