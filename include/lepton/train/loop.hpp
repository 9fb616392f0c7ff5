#pragma once
/// \file
/// A minimal classification training loop for hand-written loops: one epoch
/// of mini-batch steps, and evaluation. (`fit` in fit.hpp is the full workflow.)

#include <chrono>
#include <cstddef>

#include "../losses/cross_entropy.hpp"

namespace lepton {

/// Mean loss and accuracy over the samples of one pass.
struct epoch_stats {
    /// Mean loss per sample.
    double loss = 0;
    /// Fraction of samples classified correctly.
    double accuracy = 0;
    /// Wall-clock time of the pass.
    double seconds = 0;
    /// Samples seen.
    std::size_t samples = 0;
};

/// One epoch: for each batch, zero the gradients, forward, loss, backward, step.
template <class Net, class Optimizer, class Loader>
epoch_stats train_epoch(Net& net, Optimizer& optimizer, CrossEntropyLoss<typename Net::value_type, Net::output_shape::rank + 1>& loss,
                        Loader& loader)
{
    const auto start = std::chrono::steady_clock::now();
    net.train();
    loader.start_epoch();
    double loss_sum = 0;
    std::size_t correct = 0, seen = 0;
    for (std::size_t b = 0; b < loader.batches(); ++b) {
        auto batch = loader[b];
        net.zero_grad();
        const auto& logits = net.forward(batch.features);
        loss_sum += double(loss(logits, batch.labels)) * double(batch.labels.size());
        correct += count_correct(logits, batch.labels);
        seen += batch.labels.size();
        net.backward(loss.gradient());
        optimizer.step();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {loss_sum / double(seen), double(correct) / double(seen), seconds, seen};
}

/// Loss and accuracy in evaluation mode (no dropout, running statistics), over
/// the batches of a loader (`evaluate` on a Dataset is in fit.hpp).
template <class Net, class Loader>
    requires requires(Loader& l) { l.batches(); }
epoch_stats evaluate(Net& net, CrossEntropyLoss<typename Net::value_type, Net::output_shape::rank + 1>& loss, Loader& loader)
{
    const auto start = std::chrono::steady_clock::now();
    const bool was_training = net.is_training();
    net.eval();
    double loss_sum = 0;
    std::size_t correct = 0, seen = 0;
    for (std::size_t b = 0; b < loader.batches(); ++b) {
        auto batch = loader[b];
        const auto& logits = net.forward(batch.features);
        loss_sum += double(loss(logits, batch.labels)) * double(batch.labels.size());
        correct += count_correct(logits, batch.labels);
        seen += batch.labels.size();
    }
    net.train(was_training);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {loss_sum / double(seen), double(correct) / double(seen), seconds, seen};
}

} // namespace lepton
