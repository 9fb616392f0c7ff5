// Convolution layers and a full training step of the Fashion-MNIST CNN.
#include "peak.hpp"

#include <lepton/lepton.hpp>

using namespace lepton;
using lepton_bench::report_flops;

namespace {

template <class Net>
typename Net::input_type filled_input(std::size_t batch)
{
    typename Net::input_type x(batch_shape<typename Net::input_shape>(batch));
    random_engine rng(1);
    for (auto& v : x) v = float(rng.uniform(-1, 1));
    return x;
}

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

/// One optimizer step of the CNN on a batch of 64: forward, loss, backward, Adam.
void BM_LeptonCnnTrainingStep(benchmark::State& state)
{
    set_num_threads(int(state.range(0)));
    CNN net(1);
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    const auto x = filled_input<CNN>(64);
    std::vector<std::int32_t> labels(64);
    for (std::size_t i = 0; i < 64; ++i) labels[i] = std::int32_t(i % 10);
    for (auto _ : state) {
        net.zero_grad();
        loss(net.forward(x), labels);
        net.backward(loss.gradient());
        optimizer.step();
    }
    // conv1 (weight grad only), conv2 and the two Dense layers: forward + backward
    const double flops = 2 * conv_flops<CNN::layer_type<0>>(64) + 3 * conv_flops<CNN::layer_type<3>>(64) +
                         3 * 2.0 * 64 * (3136.0 * 128 + 128 * 10);
    report_flops(state, flops);
    state.counters["epoch_s"] = benchmark::Counter(938.0, benchmark::Counter::kIsIterationInvariantRate |
                                                              benchmark::Counter::kInvert);
}

} // namespace

BENCHMARK(conv_forward<Conv1>)->Name("LeptonConv1Forward")->ArgsProduct({{64, 1}, {1}})->ArgNames({"batch", "threads"});
BENCHMARK(conv_forward_backward<Conv1>)
    ->Name("LeptonConv1ForwardBackward")
    ->Args({64, 1, 0})
    ->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(conv_forward<Conv2>)->Name("LeptonConv2Forward")->Args({64, 1})->ArgNames({"batch", "threads"});
BENCHMARK(conv_forward_backward<Conv2>)
    ->Name("LeptonConv2ForwardBackward")
    ->Args({64, 1, 1})
    ->ArgNames({"batch", "threads", "input_grad"});
BENCHMARK(BM_LeptonCnnTrainingStep)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

BENCHMARK_MAIN();
