// Transposed convolutions at the shapes of examples/fashion_dcgan's generator
// (batch 64: 100x1x1 -> 64x7x7, 64x7x7 -> 32x14x14, 32x14x14 -> 1x28x28),
// forward and forward + backward (weight and input gradient), and a whole
// DCGAN training step (discriminator on a real and a generated batch, then the
// generator through the discriminator), with libtorch's in the same run when
// it is installed.
//   ./bench_generative
// libtorch at its best on this kind of machine (see README):
//   GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp ./bench_generative
#include "peak.hpp"
#include "training_step.hpp"

#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/conv_transpose2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/losses/bce_with_logits.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

#ifdef LEPTON_BENCH_TORCH
#include <torch/torch.h>
#endif

#include <vector>

using namespace lepton;
using lepton_bench::filled_input;
using lepton_bench::report_flops;

namespace {

constexpr std::size_t batch = 64;

/// Multiply-adds of a transposed convolution's forward pass, times two: every input pixel meets every kernel tap.
constexpr double conv_transpose_flops(double in, double out, double kernel, double in_pixels)
{
    return 2.0 * double(batch) * in * out * kernel * kernel * in_pixels;
}

using Up1 = Sequential<Input<100, 1, 1>, ConvTranspose2D<64, 7, 1, 0, 0, 1, 1, false>>;
using Up2 = Sequential<Input<64, 7, 7>, ConvTranspose2D<32, 4, 2, 1, 0, 1, 1, false>>;
using Up3 = Sequential<Input<32, 14, 14>, ConvTranspose2D<1, 4, 2, 1>>;
const double up1_flops = conv_transpose_flops(100, 64, 7, 1);
const double up2_flops = conv_transpose_flops(64, 32, 4, 49);
const double up3_flops = conv_transpose_flops(32, 1, 4, 196);

template <class Net>
void transposed_forward(benchmark::State& state, double flops)
{
    set_num_threads(int(state.range(0)));
    Net net(1);
    const auto x = filled_input<Net>(batch);
    for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
    report_flops(state, flops);
}

template <class Net>
void transposed_forward_backward(benchmark::State& state, double flops)
{
    set_num_threads(int(state.range(0)));
    Net net(1);
    const auto x = filled_input<Net>(batch);
    typename Net::output_type dy(batch_shape<typename Net::output_shape>(batch));
    dy.fill(0.01f);
    for (auto _ : state) {
        net.forward(x);
        benchmark::DoNotOptimize(net.backward(dy, /*input_grad=*/true).data());
    }
    report_flops(state, 3 * flops);
}

void BM_LeptonUp1Forward(benchmark::State& state) { transposed_forward<Up1>(state, up1_flops); }
void BM_LeptonUp2Forward(benchmark::State& state) { transposed_forward<Up2>(state, up2_flops); }
void BM_LeptonUp3Forward(benchmark::State& state) { transposed_forward<Up3>(state, up3_flops); }
void BM_LeptonUp1ForwardBackward(benchmark::State& state) { transposed_forward_backward<Up1>(state, up1_flops); }
void BM_LeptonUp2ForwardBackward(benchmark::State& state) { transposed_forward_backward<Up2>(state, up2_flops); }
void BM_LeptonUp3ForwardBackward(benchmark::State& state) { transposed_forward_backward<Up3>(state, up3_flops); }

// examples/fashion_dcgan's networks.
using Generator = Sequential<Input<100, 1, 1>, ConvTranspose2D<64, 7, 1, 0, 0, 1, 1, false>, BatchNorm2D<>, ReLU,
                             ConvTranspose2D<32, 4, 2, 1, 0, 1, 1, false>, BatchNorm2D<>, ReLU,
                             ConvTranspose2D<1, 4, 2, 1>, Tanh>;
using Discriminator = Sequential<Input<1, 28, 28>, Conv2D<32, 4, 2, 1>, LeakyReLU<0.2>,
                                 Conv2D<64, 4, 2, 1, 1, 1, false>, BatchNorm2D<>, LeakyReLU<0.2>, Flatten, Dense<1>>;

/// One DCGAN step's arithmetic: the generator forward twice and backward once (weight and input gradients but
/// none for its input), the discriminator forward three times and backward three times (the last with its
/// input gradient), counting the convolutions and the Dense layer.
double dcgan_step_flops()
{
    const double g = up1_flops + up2_flops + up3_flops;
    const double d = 2.0 * batch * (1 * 32 * 16 * 196 + 32 * 64 * 16 * 49 + 3136);
    return 2 * g + 2 * g - up1_flops + 3 * d + 5 * d;
}

void BM_LeptonDcganStep(benchmark::State& state)
{
    set_num_threads(int(state.range(0)));
    Generator generator(1);
    Discriminator discriminator(2);
    Adam g_opt(generator, {.lr = 2e-4, .beta1 = 0.5}), d_opt(discriminator, {.lr = 2e-4, .beta1 = 0.5});
    BCEWithLogitsLoss<float> real_loss, fake_loss, g_loss;
    const auto z = filled_input<Generator>(batch);
    const auto real = filled_input<Discriminator>(batch);
    const std::vector<std::int32_t> ones(batch, 1), zeros(batch, 0);
    for (auto _ : state) {
        const tensor<float, 4> fake = generator.forward(z);
        discriminator.zero_grad();
        real_loss(discriminator.forward(real), ones);
        discriminator.backward(real_loss.gradient());
        fake_loss(discriminator.forward(fake), zeros);
        discriminator.backward(fake_loss.gradient());
        d_opt.step();
        generator.zero_grad();
        g_loss(discriminator.forward(generator.forward(z)), ones);
        generator.backward(discriminator.backward(g_loss.gradient(), /*input_grad=*/true));
        g_opt.step();
    }
    report_flops(state, dcgan_step_flops());
}

#ifdef LEPTON_BENCH_TORCH
// libtorch, written as a careful user would: modules, gradients zeroed with set_to_none.

torch::nn::ConvTranspose2d torch_up(int in, int out, int kernel, int stride, int padding, bool bias)
{
    return torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias));
}

void torch_forward(benchmark::State& state, torch::nn::ConvTranspose2d up, int in, int size, double flops)
{
    torch::set_num_threads(int(state.range(0)));
    torch::NoGradGuard no_grad;
    auto x = torch::randn({long(batch), in, size, size});
    for (auto _ : state) benchmark::DoNotOptimize(up(x).data_ptr());
    report_flops(state, flops);
}

void torch_forward_backward(benchmark::State& state, torch::nn::ConvTranspose2d up, int in, int size, double flops)
{
    torch::set_num_threads(int(state.range(0)));
    auto x = torch::randn({long(batch), in, size, size}).requires_grad_(true);
    auto y0 = up(x);
    auto dy = torch::full(y0.sizes(), 0.01f);
    for (auto _ : state) {
        for (auto& p : up->parameters()) p.mutable_grad() = torch::Tensor();
        x.mutable_grad() = torch::Tensor();
        up(x).backward(dy);
        benchmark::DoNotOptimize(x.grad().data_ptr());
    }
    report_flops(state, 3 * flops);
}

void BM_TorchUp1Forward(benchmark::State& state) { torch_forward(state, torch_up(100, 64, 7, 1, 0, false), 100, 1, up1_flops); }
void BM_TorchUp2Forward(benchmark::State& state) { torch_forward(state, torch_up(64, 32, 4, 2, 1, false), 64, 7, up2_flops); }
void BM_TorchUp3Forward(benchmark::State& state) { torch_forward(state, torch_up(32, 1, 4, 2, 1, true), 32, 14, up3_flops); }
void BM_TorchUp1ForwardBackward(benchmark::State& state)
{
    torch_forward_backward(state, torch_up(100, 64, 7, 1, 0, false), 100, 1, up1_flops);
}
void BM_TorchUp2ForwardBackward(benchmark::State& state)
{
    torch_forward_backward(state, torch_up(64, 32, 4, 2, 1, false), 64, 7, up2_flops);
}
void BM_TorchUp3ForwardBackward(benchmark::State& state)
{
    torch_forward_backward(state, torch_up(32, 1, 4, 2, 1, true), 32, 14, up3_flops);
}

void BM_TorchDcganStep(benchmark::State& state)
{
    torch::set_num_threads(int(state.range(0)));
    torch::manual_seed(1);
    torch::nn::Sequential generator(torch_up(100, 64, 7, 1, 0, false), torch::nn::BatchNorm2d(64), torch::nn::ReLU(),
                                    torch_up(64, 32, 4, 2, 1, false), torch::nn::BatchNorm2d(32), torch::nn::ReLU(),
                                    torch_up(32, 1, 4, 2, 1, true), torch::nn::Tanh());
    torch::nn::Sequential discriminator(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 4).stride(2).padding(1)),
        torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
        torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 4).stride(2).padding(1).bias(false)), torch::nn::BatchNorm2d(64),
        torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)), torch::nn::Flatten(),
        torch::nn::Linear(3136, 1));
    torch::optim::Adam g_opt(generator->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
    torch::optim::Adam d_opt(discriminator->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
    auto z = torch::randn({long(batch), 100, 1, 1});
    auto real = torch::randn({long(batch), 1, 28, 28});
    auto ones = torch::ones({long(batch), 1}), zeros = torch::zeros({long(batch), 1});
    namespace F = torch::nn::functional;
    for (auto _ : state) {
        auto fake = generator->forward(z);
        d_opt.zero_grad();
        F::binary_cross_entropy_with_logits(discriminator->forward(real), ones).backward();
        F::binary_cross_entropy_with_logits(discriminator->forward(fake.detach()), zeros).backward();
        d_opt.step();
        g_opt.zero_grad();
        F::binary_cross_entropy_with_logits(discriminator->forward(generator->forward(z)), ones).backward();
        g_opt.step();
    }
    report_flops(state, dcgan_step_flops());
}
#endif

} // namespace

BENCHMARK(BM_LeptonUp1Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonUp2Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonUp3Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonUp1ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonUp2ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonUp3ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_LeptonDcganStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#ifdef LEPTON_BENCH_TORCH
BENCHMARK(BM_TorchUp1Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchUp2Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchUp3Forward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchUp1ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchUp2ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchUp3ForwardBackward)->Arg(1)->ArgName("threads");
BENCHMARK(BM_TorchDcganStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#endif

LEPTON_BENCHMARK_MAIN()
