// Convolution layers and a full training step of the Fashion-MNIST CNN, with
// the same shapes in libtorch side by side when it is installed.
//   ./bench_conv
// libtorch at its best on this kind of machine (see README):
//   GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp ./bench_conv     (both variables set)
#include "peak.hpp"
#include "training_step.hpp"

#include <lepton/lepton.hpp>

#ifdef LEPTON_BENCH_TORCH
#include <torch/torch.h>
#endif

using namespace lepton;
using lepton_bench::filled_input;
using lepton_bench::report_flops;

namespace {

/// Multiply-adds of a convolution layer's forward pass, times two.
template <class Layer>
constexpr double conv_flops(std::size_t batch)
{
    return 2.0 * double(batch) * double(Layer::out_channels) * double(Layer::group_k) * double(Layer::out_pixels);
}

template <class Net>
void conv_forward(benchmark::State& state)
{
    const auto batch = std::size_t(state.range(0));
    set_num_threads(int(state.range(1)));
    Net net;
    const auto x = filled_input<Net>(batch);
    for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
    report_flops(state, conv_flops<typename Net::template layer_type<0>>(batch));
}

/// Forward, weight gradient and (unless the layer is first) input gradient.
template <class Net>
void conv_forward_backward(benchmark::State& state)
{
    const auto batch = std::size_t(state.range(0));
    const bool input_grad = state.range(2) != 0;
    set_num_threads(int(state.range(1)));
    Net net;
    const auto x = filled_input<Net>(batch);
    typename Net::output_type dy(batch_shape<typename Net::output_shape>(batch));
    dy.fill(0.01f);
    for (auto _ : state) {
        net.forward(x);
        benchmark::DoNotOptimize(net.backward(dy, input_grad).data());
    }
    report_flops(state, (input_grad ? 3 : 2) * conv_flops<typename Net::template layer_type<0>>(batch));
}

using Conv1 = Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>>;
using Conv2 = Sequential<Input<32, 14, 14>, Conv2D<64, 3, 1, Padding::same>>;
using CNN = Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;

/// Arithmetic of one training step on a batch of 64: conv1 forward and weight
/// gradient, conv2 and both Dense layers forward, weight and input gradient.
double cnn_step_flops()
{
    return 2 * conv_flops<CNN::layer_type<0>>(64) + 3 * conv_flops<CNN::layer_type<3>>(64) +
           3 * 2.0 * 64 * (3136.0 * 128 + 128 * 10);
}

/// One optimizer step of the CNN on a batch of 64: forward, loss, backward, Adam.
/// conv1 (weight gradient only), conv2 and the two Dense layers: forward + backward.
void BM_LeptonCnnTrainingStep(benchmark::State& state) { lepton_bench::training_steps<CNN>(state, cnn_step_flops()); }

#ifdef LEPTON_BENCH_TORCH
// libtorch, written as a careful user would: modules, no autograd on the input
// of the first layer, gradients zeroed with set_to_none.

torch::nn::Conv2d torch_conv(int in, int out)
{
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

void torch_conv_forward(benchmark::State& state, int in, int out, int size)
{
    torch::set_num_threads(int(state.range(1)));
    torch::NoGradGuard no_grad;
    auto conv = torch_conv(in, out);
    auto x = torch::randn({state.range(0), in, size, size});
    for (auto _ : state) benchmark::DoNotOptimize(conv(x).data_ptr());
    report_flops(state, 2.0 * double(state.range(0)) * out * in * 9 * size * size);
}

void torch_conv_forward_backward(benchmark::State& state, int in, int out, int size)
{
    torch::set_num_threads(int(state.range(1)));
    const bool input_grad = state.range(2) != 0;
    auto conv = torch_conv(in, out);
    auto x = torch::randn({state.range(0), in, size, size}).requires_grad_(input_grad);
    auto dy = torch::full({state.range(0), out, size, size}, 0.01f);
    for (auto _ : state) {
        for (auto& p : conv->parameters()) p.mutable_grad() = torch::Tensor();
        auto y = conv(x);
        y.backward(dy);
        benchmark::DoNotOptimize(conv->weight.grad().data_ptr());
    }
    report_flops(state, (input_grad ? 3 : 2) * 2.0 * double(state.range(0)) * out * in * 9 * size * size);
}

void BM_TorchConv1Forward(benchmark::State& state) { torch_conv_forward(state, 1, 32, 28); }
void BM_TorchConv1ForwardBackward(benchmark::State& state) { torch_conv_forward_backward(state, 1, 32, 28); }
void BM_TorchConv2Forward(benchmark::State& state) { torch_conv_forward(state, 32, 64, 14); }
void BM_TorchConv2ForwardBackward(benchmark::State& state) { torch_conv_forward_backward(state, 32, 64, 14); }

void BM_TorchCnnTrainingStep(benchmark::State& state)
{
    torch::set_num_threads(int(state.range(0)));
    torch::manual_seed(1);
    torch::nn::Sequential net(torch_conv(1, 32), torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch_conv(32, 64),
                              torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
                              torch::nn::Linear(3136, 128), torch::nn::ReLU(), torch::nn::Linear(128, 10));
    torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(1e-3));
    auto x = torch::randn({64, 1, 28, 28});
    auto labels = torch::arange(64, torch::kLong).remainder(10);
    for (auto _ : state) {
        optimizer.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(net->forward(x), labels);
        loss.backward();
        optimizer.step();
    }
    report_flops(state, cnn_step_flops());
}
#endif

} // namespace

BENCHMARK(conv_forward<Conv1>)->Name("LeptonConv1Forward")->ArgsProduct({{64, 1}, {1}})->ArgNames({"batch", "threads"});
// The first layer of a network needs no input gradient; as a layer of its own it may.
BENCHMARK(conv_forward_backward<Conv1>)
    ->Name("LeptonConv1ForwardBackward")
    ->ArgsProduct({{64}, {1}, {0, 1}})
    ->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(conv_forward<Conv2>)->Name("LeptonConv2Forward")->Args({64, 1})->ArgNames({"batch", "threads"});
BENCHMARK(conv_forward_backward<Conv2>)
    ->Name("LeptonConv2ForwardBackward")
    ->Args({64, 1, 1})
    ->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(BM_LeptonCnnTrainingStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#ifdef LEPTON_BENCH_TORCH
BENCHMARK(BM_TorchConv1Forward)->ArgsProduct({{64, 1}, {1}})->ArgNames({"batch", "threads"});
BENCHMARK(BM_TorchConv1ForwardBackward)->ArgsProduct({{64}, {1}, {0, 1}})->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(BM_TorchConv2Forward)->Args({64, 1})->ArgNames({"batch", "threads"});
BENCHMARK(BM_TorchConv2ForwardBackward)->Args({64, 1, 1})->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(BM_TorchCnnTrainingStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#endif

LEPTON_BENCHMARK_MAIN()
