// One optimizer step of a classifier on a batch of 64 (forward, cross-entropy,
// backward, Adam), the loop the training-step benchmarks share, and their inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include <lepton/core/random.hpp>
#include <lepton/core/shape.hpp>
#include <lepton/kernels/parallel.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/optim/adam.hpp>

#include "peak.hpp"

namespace lepton_bench {

/// A batch of `batch` inputs for `Net`, uniform in [-1, 1] from a fixed seed.
template <class Net>
typename Net::input_type filled_input(std::size_t batch)
{
    typename Net::input_type x(lepton::batch_shape<typename Net::input_shape>(batch));
    lepton::random_engine rng(1);
    for (auto& v : x) v = float(rng.uniform(-1, 1));
    return x;
}

/// Times training steps of `Net` on `state.range(0)` threads; `flops` is the arithmetic of one step.
template <class Net>
void training_steps(benchmark::State& state, double flops)
{
    lepton::set_num_threads(int(state.range(0)));
    Net net(1);
    lepton::Adam optimizer(net, {.lr = 1e-3});
    lepton::CrossEntropyLoss<float> loss;
    const auto x = filled_input<Net>(64);
    std::vector<std::int32_t> labels(64);
    for (std::size_t i = 0; i < 64; ++i) labels[i] = std::int32_t(i % 10);
    for (auto _ : state) {
        net.zero_grad();
        loss(net.forward(x), labels);
        net.backward(loss.gradient());
        optimizer.step();
    }
    report_flops(state, flops);
}

} // namespace lepton_bench
