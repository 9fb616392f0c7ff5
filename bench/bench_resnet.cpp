// A residual basic block (32 channels, 14x14, batch 64) forward and forward +
// backward, and a training step of examples/fashion_mnist_resnet's network,
// with the same modules in libtorch side by side when it is installed.
//   ./bench_resnet        (libtorch at its best: see bench_conv.cpp's header)
#include "peak.hpp"
#include "training_step.hpp"

#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/named.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/residual.hpp>

#ifdef LEPTON_BENCH_TORCH
#include <torch/torch.h>
#endif

using namespace lepton;
using lepton_bench::filled_input;
using lepton_bench::report_flops;

namespace {

template <std::size_t C, std::size_t Stride>
using Body = Block<Conv2D<C, 3, Stride, 1, 1, 1, false>, BatchNorm2D<>, ReLU, Conv2D<C, 3, 1, 1, 1, 1, false>, BatchNorm2D<>>;
template <std::size_t C>
using BasicBlock = Residual<Body<C, 1>, Identity, ReLU>;
template <std::size_t C>
using DownBlock = Residual<Body<C, 2>, Block<Conv2D<C, 1, 2, 0, 1, 1, false>, BatchNorm2D<>>, ReLU>;

using OneBlock = Sequential<Input<32, 14, 14>, BasicBlock<32>>;
// examples/fashion_mnist_resnet.cpp's network (without its names).
using ResNet = Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, 1, 1, 1, false>, BatchNorm2D<>, ReLU, MaxPool2D<2>,
                          BasicBlock<32>, DownBlock<64>, DownBlock<128>, GlobalAvgPool2D, Dense<10>>;

/// Two 3x3 convolutions 32 -> 32 on 14x14, batch 64.
constexpr double block_flops = 2 * 2.0 * 64 * 32 * 32 * 9 * 14 * 14;
/// The ResNet's convolutions and head, forward: the stem on 28x28, then blocks on 14x14, 7x7 and 4x4.
constexpr double resnet_forward_flops = 2.0 * 64 *
                                        (32.0 * 9 * 784 + 2 * 32 * 32 * 9 * 196 + (32.0 * 64 * 9 + 64 * 64 * 9 + 32 * 64) * 49 +
                                         (64.0 * 128 * 9 + 128 * 128 * 9 + 64 * 128) * 16 + 128 * 10);

void BM_LeptonBlockForward(benchmark::State& state)
{
    set_num_threads(int(state.range(0)));
    OneBlock net(1);
    net.eval();
    const auto x = filled_input<OneBlock>(64);
    for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
    report_flops(state, block_flops);
}

void BM_LeptonBlockForwardBackward(benchmark::State& state)
{
    set_num_threads(int(state.range(0)));
    OneBlock net(1);
    const auto x = filled_input<OneBlock>(64);
    OneBlock::output_type dy(batch_shape<OneBlock::output_shape>(64));
    dy.fill(0.01f);
    for (auto _ : state) {
        net.zero_grad();
        net.forward(x);
        benchmark::DoNotOptimize(net.backward(dy, true).data());
    }
    report_flops(state, 3 * block_flops);
}

void BM_LeptonResNetTrainingStep(benchmark::State& state)
{
    lepton_bench::training_steps<ResNet>(state, 3 * resnet_forward_flops);
}

#ifdef LEPTON_BENCH_TORCH
// libtorch, as a careful user writes it: torchvision's BasicBlock as a module.
struct TorchBlockImpl : torch::nn::Module {
    TorchBlockImpl(int in, int out, int stride)
    {
        using namespace torch::nn;
        conv1 = register_module("conv1", Conv2d(Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
        bn1 = register_module("bn1", BatchNorm2d(out));
        conv2 = register_module("conv2", Conv2d(Conv2dOptions(out, out, 3).padding(1).bias(false)));
        bn2 = register_module("bn2", BatchNorm2d(out));
        if (stride != 1 || in != out)
            downsample = register_module(
                "downsample", torch::nn::Sequential(Conv2d(Conv2dOptions(in, out, 1).stride(stride).bias(false)), BatchNorm2d(out)));
    }
    torch::Tensor forward(const torch::Tensor& x)
    {
        auto out = torch::relu(bn1(conv1(x)));
        out = bn2(conv2(out));
        return torch::relu(out + (downsample ? downsample->forward(x) : x));
    }
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
    torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(TorchBlock);

void BM_TorchBlockForward(benchmark::State& state)
{
    torch::set_num_threads(int(state.range(0)));
    torch::NoGradGuard no_grad;
    TorchBlock block(32, 32, 1);
    block->eval();
    auto x = torch::randn({64, 32, 14, 14});
    for (auto _ : state) benchmark::DoNotOptimize(block(x).data_ptr());
    report_flops(state, block_flops);
}

void BM_TorchBlockForwardBackward(benchmark::State& state)
{
    torch::set_num_threads(int(state.range(0)));
    TorchBlock block(32, 32, 1);
    auto x = torch::randn({64, 32, 14, 14}).requires_grad_(true);
    auto dy = torch::full({64, 32, 14, 14}, 0.01f);
    for (auto _ : state) {
        for (auto& p : block->parameters()) p.mutable_grad() = torch::Tensor();
        x.mutable_grad() = torch::Tensor();
        block(x).backward(dy);
        benchmark::DoNotOptimize(x.grad().data_ptr());
    }
    report_flops(state, 3 * block_flops);
}

void BM_TorchResNetTrainingStep(benchmark::State& state)
{
    torch::set_num_threads(int(state.range(0)));
    torch::manual_seed(1);
    namespace nn = torch::nn;
    nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1).bias(false)), nn::BatchNorm2d(32), nn::ReLU(),
                       nn::MaxPool2d(2), TorchBlock(32, 32, 1), TorchBlock(32, 64, 2), TorchBlock(64, 128, 2),
                       nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(128, 10));
    torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(1e-3));
    auto x = torch::randn({64, 1, 28, 28});
    auto labels = torch::arange(64, torch::kLong).remainder(10);
    for (auto _ : state) {
        optimizer.zero_grad();
        torch::nn::functional::cross_entropy(net->forward(x), labels).backward();
        optimizer.step();
    }
    report_flops(state, 3 * resnet_forward_flops);
}
#endif

} // namespace

BENCHMARK(BM_LeptonBlockForward)->Arg(1)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_LeptonBlockForwardBackward)->Arg(1)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_LeptonResNetTrainingStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#ifdef LEPTON_BENCH_TORCH
BENCHMARK(BM_TorchBlockForward)->Arg(1)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_TorchBlockForwardBackward)->Arg(1)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_TorchResNetTrainingStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#endif

LEPTON_BENCHMARK_MAIN()
