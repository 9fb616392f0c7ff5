// LSTM and GRU layers, forward and forward + backward (through time, with the
// input gradient), with libtorch's torch::nn::LSTM / GRU side by side when installed.
#include "peak.hpp"

#include <lepton/lepton.hpp>

#ifdef LEPTON_BENCH_TORCH
#include <torch/torch.h>
#endif

using namespace lepton;
using lepton_bench::report_flops;

namespace {

/// Multiply-adds of one forward pass, times two: the input and recurrent products of every step.
double rnn_flops(int gates, double batch, double steps, double features, double hidden)
{
    return 2.0 * gates * hidden * (features + hidden) * steps * batch;
}

template <class Layer, std::size_t F, std::size_t H>
void lepton_rnn(benchmark::State& state, int gates, bool backward)
{
    set_num_threads(int(state.range(2)));
    const auto batch = std::size_t(state.range(0)), steps = std::size_t(state.range(1));
    Sequential<Input<dynamic, F>, Layer> net(1);
    tensor<float, 3> x({batch, steps, F}), dy({batch, steps, H});
    random_engine rng(2);
    for (auto& v : x) v = float(rng.uniform(-1, 1));
    dy.fill(0.01f);
    for (auto _ : state) {
        net.forward(x);
        if (backward) benchmark::DoNotOptimize(net.backward(dy, true).data());
    }
    report_flops(state, (backward ? 3 : 1) * rnn_flops(gates, double(batch), double(steps), F, H));
}

void BM_LeptonLSTM_28x128_Forward(benchmark::State& s) { lepton_rnn<LSTM<128, true>, 28, 128>(s, 4, false); }
void BM_LeptonLSTM_28x128_ForwardBackward(benchmark::State& s) { lepton_rnn<LSTM<128, true>, 28, 128>(s, 4, true); }
void BM_LeptonLSTM_64x256_ForwardBackward(benchmark::State& s) { lepton_rnn<LSTM<256, true>, 64, 256>(s, 4, true); }
void BM_LeptonGRU_28x128_Forward(benchmark::State& s) { lepton_rnn<GRU<128, true>, 28, 128>(s, 3, false); }
void BM_LeptonGRU_28x128_ForwardBackward(benchmark::State& s) { lepton_rnn<GRU<128, true>, 28, 128>(s, 3, true); }
void BM_LeptonGRU_64x256_ForwardBackward(benchmark::State& s) { lepton_rnn<GRU<256, true>, 64, 256>(s, 3, true); }

#ifdef LEPTON_BENCH_TORCH
template <class Module, class Options>
void torch_rnn(benchmark::State& state, int gates, int features, int hidden, bool backward)
{
    torch::set_num_threads(int(state.range(2)));
    const auto batch = state.range(0), steps = state.range(1);
    Module rnn(Options(features, hidden).batch_first(true));
    auto x = torch::rand({batch, steps, features}).mul_(2).sub_(1).requires_grad_(backward);
    auto dy = torch::full({batch, steps, hidden}, 0.01f);
    for (auto _ : state) {
        if (backward) {
            for (auto& p : rnn->parameters()) p.mutable_grad() = torch::Tensor();
            x.mutable_grad() = torch::Tensor();
            auto y = std::get<0>(rnn->forward(x));
            y.backward(dy);
            benchmark::DoNotOptimize(x.grad().data_ptr());
        } else {
            torch::NoGradGuard no_grad;
            benchmark::DoNotOptimize(std::get<0>(rnn->forward(x)).data_ptr());
        }
    }
    report_flops(state, (backward ? 3 : 1) * rnn_flops(gates, double(batch), double(steps), features, hidden));
}
using TLSTM = torch::nn::LSTM;
using TLSTMO = torch::nn::LSTMOptions;
using TGRU = torch::nn::GRU;
using TGRUO = torch::nn::GRUOptions;
void BM_TorchLSTM_28x128_Forward(benchmark::State& s) { torch_rnn<TLSTM, TLSTMO>(s, 4, 28, 128, false); }
void BM_TorchLSTM_28x128_ForwardBackward(benchmark::State& s) { torch_rnn<TLSTM, TLSTMO>(s, 4, 28, 128, true); }
void BM_TorchLSTM_64x256_ForwardBackward(benchmark::State& s) { torch_rnn<TLSTM, TLSTMO>(s, 4, 64, 256, true); }
void BM_TorchGRU_28x128_Forward(benchmark::State& s) { torch_rnn<TGRU, TGRUO>(s, 3, 28, 128, false); }
void BM_TorchGRU_28x128_ForwardBackward(benchmark::State& s) { torch_rnn<TGRU, TGRUO>(s, 3, 28, 128, true); }
void BM_TorchGRU_64x256_ForwardBackward(benchmark::State& s) { torch_rnn<TGRU, TGRUO>(s, 3, 64, 256, true); }
#endif

} // namespace

// batch 64, 28 steps of 28 features, 128 hidden; batch 32, 100 steps of 64 features, 256 hidden
#define LEPTON_RNN_ARGS(name, batch, steps) BENCHMARK(name)->Args({batch, steps, 1})->ArgNames({"batch", "steps", "threads"})
LEPTON_RNN_ARGS(BM_LeptonLSTM_28x128_Forward, 64, 28);
LEPTON_RNN_ARGS(BM_LeptonLSTM_28x128_ForwardBackward, 64, 28);
LEPTON_RNN_ARGS(BM_LeptonLSTM_64x256_ForwardBackward, 32, 100);
LEPTON_RNN_ARGS(BM_LeptonGRU_28x128_Forward, 64, 28);
LEPTON_RNN_ARGS(BM_LeptonGRU_28x128_ForwardBackward, 64, 28);
LEPTON_RNN_ARGS(BM_LeptonGRU_64x256_ForwardBackward, 32, 100);
#ifdef LEPTON_BENCH_TORCH
LEPTON_RNN_ARGS(BM_TorchLSTM_28x128_Forward, 64, 28);
LEPTON_RNN_ARGS(BM_TorchLSTM_28x128_ForwardBackward, 64, 28);
LEPTON_RNN_ARGS(BM_TorchLSTM_64x256_ForwardBackward, 32, 100);
LEPTON_RNN_ARGS(BM_TorchGRU_28x128_Forward, 64, 28);
LEPTON_RNN_ARGS(BM_TorchGRU_28x128_ForwardBackward, 64, 28);
LEPTON_RNN_ARGS(BM_TorchGRU_64x256_ForwardBackward, 32, 100);
#endif

LEPTON_BENCHMARK_MAIN()
