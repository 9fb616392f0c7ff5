#pragma once
/// \file
/// Stochastic gradient descent with `torch.optim.SGD`'s update rule:
///   g = grad + weight_decay * p
///   b = g (first step) or momentum * b + (1 - dampening) * g
///   g = g + momentum * b (Nesterov) or b
///   p = p - lr * g
/// The updates are xtensor expressions over the network's flat buffers, which
/// xtensor evaluates with xsimd batches.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "../tensor/tensor.hpp"
#include "parameter_ranges.hpp"

namespace lepton {

/// SGD's hyper-parameters, PyTorch's defaults.
struct SGDOptions {
    /// Learning rate.
    double lr = 0.01;
    /// Momentum factor (0: plain SGD).
    double momentum = 0.0;
    /// Dampening of the momentum.
    double dampening = 0.0;
    /// L2 term added to the gradient.
    double weight_decay = 0.0;
    /// Nesterov momentum (needs momentum > 0 and no dampening).
    bool nesterov = false;
};

/// Stochastic gradient descent with `torch.optim.SGD`'s update rule.
template <class T>
class SGD {
public:
    /// Optimises `params` using `grads` (same size).
    /// `tensors` lists the parameter tensors (see `update_ranges`); without it the buffer is one tensor.
    SGD(std::span<T> params, std::span<const T> grads, SGDOptions options = {},
        const std::vector<parameter_range>* tensors = nullptr)
        : params_(params), grads_(grads), options_(options), ranges_(params.size(), tensors),
          tensor_steps_(ranges_.size(), 0)
    {
        if (params.size() != grads.size()) throw std::invalid_argument("lepton: SGD: parameter and gradient sizes differ");
        if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
            throw std::invalid_argument("lepton: SGD: Nesterov momentum requires momentum > 0 and zero dampening");
    }
    /// Optimises `net`'s trainable (not frozen) parameters.
    template <class Net>
    explicit SGD(Net& net, SGDOptions options = {})
        : SGD(net.parameters(), net.gradients(), options, &net.parameter_ranges())
    {
    }

    /// One update of every parameter tensor that is not frozen. Each tensor's
    /// momentum buffer starts at its own first step (as PyTorch's
    /// per-parameter state): a tensor unfrozen late starts from its gradient.
    void step()
    {
        if (options_.momentum != 0 && momentum_.size() != params_.size()) momentum_.assign(params_.size(), T(0));
        const auto ranges = ranges_.get();
        detail::update_in_parallel(ranges, [&](std::size_t tensor, std::size_t begin, std::size_t end) {
            update(begin, end - begin, tensor_steps_[tensor] == 0);
        });
        for (std::size_t i = 0; i < ranges.size(); ++i) tensor_steps_[i] += !ranges[i].frozen;
        ++steps_;
    }

    /// The current learning rate.
    double learning_rate() const noexcept { return options_.lr; }
    /// Changes the learning rate (schedules).
    void set_learning_rate(double lr) noexcept { options_.lr = lr; }
    /// The hyper-parameters.
    const SGDOptions& options() const noexcept { return options_; }

    /// Calls of `step()`.
    std::int64_t steps() const noexcept { return steps_; }
    /// Restores the count of `step()` calls of a saved state.
    void set_steps(std::int64_t steps) noexcept { steps_ = steps; }
    /// The steps each parameter tensor has taken (its momentum buffer starts on
    /// the first), in the order of the network's parameters; writable, for checkpoints.
    std::span<std::int64_t> tensor_steps() noexcept { return tensor_steps_; }
    /// Calls f("momentum_buffer", values) when momentum is on (PyTorch's name;
    /// laid out like the parameters, for checkpoints).
    template <class F>
    void for_each_state(F&& f)
    {
        if (options_.momentum == 0) return;
        if (momentum_.size() != params_.size()) momentum_.assign(params_.size(), T(0));
        f("momentum_buffer", std::span<T>(momentum_));
    }

private:
    /// The update of elements [offset, offset + n), the first of their tensor when `first`.
    void update(std::size_t offset, std::size_t n, bool first)
    {
        const std::array<std::size_t, 1> shape{n};
        auto p = xt::adapt(params_.data() + offset, n, xt::no_ownership(), shape);
        auto grad = xt::adapt(grads_.data() + offset, n, xt::no_ownership(), shape);
        const T lr = T(options_.lr), wd = T(options_.weight_decay), mu = T(options_.momentum);
        const T damp = T(1 - options_.dampening);
        if (mu == T(0)) {
            if (wd == T(0))
                p -= lr * grad;
            else
                p -= lr * (grad + wd * p);
            return;
        }
        auto b = xt::adapt(momentum_.data() + offset, n, xt::no_ownership(), shape);
        if (first)
            xt::noalias(b) = grad + wd * p;
        else
            xt::noalias(b) = mu * b + damp * (grad + wd * p);
        if (options_.nesterov)
            p -= lr * (grad + wd * p + mu * b);
        else
            p -= lr * b;
    }

    std::span<T> params_;
    std::span<const T> grads_;
    SGDOptions options_;
    detail::update_ranges ranges_;
    storage<T> momentum_;
    std::vector<std::int64_t> tensor_steps_;
    std::int64_t steps_ = 0;
};

/// Deduces the scalar type from the network.
template <class Net>
SGD(Net&, SGDOptions = {}) -> SGD<typename Net::value_type>;

} // namespace lepton
