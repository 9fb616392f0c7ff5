#pragma once
/// \file
/// Stochastic gradient descent with `torch.optim.SGD`'s update rule:
///   g = grad + weight_decay * p
///   b = g (first step) or momentum * b + (1 - dampening) * g
///   g = g + momentum * b (Nesterov) or b
///   p = p - lr * g
/// The updates are xtensor expressions over the network's flat buffers, which
/// xtensor evaluates with xsimd batches.

#include <cstddef>
#include <span>
#include <stdexcept>

#include "../tensor/tensor.hpp"

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
    SGD(std::span<T> params, std::span<const T> grads, SGDOptions options = {})
        : params_(params), grads_(grads), options_(options)
    {
        if (params.size() != grads.size()) throw std::invalid_argument("lepton: SGD: parameter and gradient sizes differ");
        if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
            throw std::invalid_argument("lepton: SGD: Nesterov momentum requires momentum > 0 and zero dampening");
    }
    /// Optimises `net`'s parameters.
    template <class Net>
    explicit SGD(Net& net, SGDOptions options = {}) : SGD(net.parameters(), net.gradients(), options)
    {
    }

    /// One update of every parameter from its gradient.
    void step()
    {
        const std::size_t n = params_.size();
        const std::array<std::size_t, 1> shape{n};
        auto p = xt::adapt(params_.data(), n, xt::no_ownership(), shape);
        auto grad = xt::adapt(grads_.data(), n, xt::no_ownership(), shape);
        const T lr = T(options_.lr), wd = T(options_.weight_decay), mu = T(options_.momentum);
        const T damp = T(1 - options_.dampening);
        if (mu == T(0)) {
            if (wd == T(0))
                p -= lr * grad;
            else
                p -= lr * (grad + wd * p);
            return;
        }
        if (momentum_.size() != n) momentum_.resize(n);
        auto b = xt::adapt(momentum_.data(), n, xt::no_ownership(), shape);
        if (!started_) {
            xt::noalias(b) = grad + wd * p;
            started_ = true;
        } else {
            xt::noalias(b) = mu * b + damp * (grad + wd * p);
        }
        if (options_.nesterov)
            p -= lr * (grad + wd * p + mu * b);
        else
            p -= lr * b;
    }

    /// The current learning rate.
    double learning_rate() const noexcept { return options_.lr; }
    /// Changes the learning rate (schedules).
    void set_learning_rate(double lr) noexcept { options_.lr = lr; }
    /// The hyper-parameters.
    const SGDOptions& options() const noexcept { return options_; }

private:
    std::span<T> params_;
    std::span<const T> grads_;
    SGDOptions options_;
    storage<T> momentum_;
    bool started_ = false;
};

/// Deduces the scalar type from the network.
template <class Net>
SGD(Net&, SGDOptions = {}) -> SGD<typename Net::value_type>;

} // namespace lepton
