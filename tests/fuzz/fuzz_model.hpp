// The network the weight and checkpoint targets load into: one of each kind
// of saved state (convolution and dense weights, BatchNorm statistics and
// its I64 counter, an LSTM), and a snapshot of everything a load may change.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <lepton/data/dataset.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/lstm.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

namespace fuzz {

using ImageNet = lepton::Sequential<lepton::Input<1, 4, 4>, lepton::Conv2D<2, 3>, lepton::BatchNorm2D<>, lepton::ReLU,
                                    lepton::Flatten, lepton::Dense<3>>;
using SequenceNet = lepton::Sequential<lepton::Input<3, 2>, lepton::LSTM<3>, lepton::Dense<2>>;

/// Parameters, buffers, optimizer state and generator, as bytes and text.
template <class Net>
std::string snapshot(Net& net, lepton::Adam<float>* optimizer = nullptr)
{
    std::string out;
    auto add = [&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); };
    add(net.parameters().data(), net.parameters().size_bytes());
    net.for_each_buffer([&](const std::string&, auto values, const lepton::parameter_shape&) {
        add(values.data(), values.size_bytes());
    });
    out += net.rng().state();
    if (optimizer) {
        optimizer->for_each_state([&](const char*, std::span<float> v) { add(v.data(), v.size_bytes()); });
        const auto steps = optimizer->tensor_steps();
        add(steps.data(), steps.size_bytes());
        out += std::to_string(optimizer->steps()) + "/" + std::to_string(optimizer->learning_rate());
    }
    return out;
}

} // namespace fuzz
