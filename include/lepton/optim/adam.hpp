#pragma once
/// \file
/// Adam and AdamW with `torch.optim.Adam` / `AdamW`'s update rules:
///   (AdamW) p = p * (1 - lr * weight_decay)        (Adam) g = grad + weight_decay * p
///   m = beta1 m + (1 - beta1) g ;  v = beta2 v + (1 - beta2) g^2
///   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// One fused xsimd pass over the flat parameter buffer per step.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "../core/compat.hpp"
#include "../tensor/tensor.hpp"
#include "parameter_ranges.hpp"

namespace lepton {

/// Adam's hyper-parameters, PyTorch's defaults.
struct AdamOptions {
    /// Learning rate.
    double lr = 1e-3;
    /// Decay of the first-moment estimate.
    double beta1 = 0.9;
    /// Decay of the second-moment estimate.
    double beta2 = 0.999;
    /// Added to the denominator.
    double eps = 1e-8;
    double weight_decay = 0.0;  ///< L2 term added to the gradient (Adam) or decoupled decay (AdamW)
};

namespace detail {

template <class T, bool Decoupled>
class adam_base {
public:
    adam_base(std::span<T> params, std::span<const T> grads, AdamOptions options,
              const std::vector<parameter_range>* tensors = nullptr)
        : params_(params), grads_(grads), options_(options), ranges_(params.size(), tensors), m_(params.size(), T(0)),
          v_(params.size(), T(0)), tensor_steps_(ranges_.size(), 0)
    {
        if (params.size() != grads.size()) throw std::invalid_argument("lepton: Adam: parameter and gradient sizes differ");
    }

    /// One update of every parameter tensor that is not frozen. Each tensor
    /// counts its own steps for the bias corrections, as PyTorch's
    /// per-parameter state does: a tensor frozen for a while and then
    /// unfrozen starts with the small first steps of a fresh one.
    void step()
    {
        ++steps_;
        const auto ranges = ranges_.get();
        corrections_.resize(ranges.size());
        for (std::size_t i = 0; i < ranges.size(); ++i) {
            if (ranges[i].frozen) continue;
            const double t = double(++tensor_steps_[i]);
            const double bc1 = 1.0 - std::pow(options_.beta1, t), bc2 = 1.0 - std::pow(options_.beta2, t);
            corrections_[i] = {T(options_.lr / bc1), T(1.0 / std::sqrt(bc2))};
        }
        const T b1 = T(options_.beta1), b2 = T(options_.beta2), c1 = T(1.0 - options_.beta1),
                c2 = T(1.0 - options_.beta2), eps = T(options_.eps);
        const T wd = T(options_.weight_decay);
        const T decay = T(1.0 - options_.lr * options_.weight_decay);

        auto update = [&](auto p, auto g, auto& m, auto& v, T step_size, T inv_bc2_sqrt) {
            using V = decltype(p);
            if constexpr (Decoupled) {
                p = p * V(decay);
            } else {
                g = g + V(wd) * p;
            }
            m = V(b1) * m + V(c1) * g;
            v = V(b2) * v + V(c2) * g * g;
            return p - V(step_size) * m / (xsimd::sqrt(v) * V(inv_bc2_sqrt) + V(eps));
        };

        using vec = simd::batch<T>;
        constexpr std::size_t W = vec::size;
        T* p = params_.data();
        const T* g = grads_.data();
        T* m = m_.data();
        T* v = v_.data();
        detail::update_in_parallel(ranges, [&](std::size_t tensor, std::size_t begin, std::size_t end) {
            const auto [step_size, inv_bc2_sqrt] = corrections_[tensor];
            std::size_t i = begin;
            for (; i + W <= end; i += W) {
                vec mv = vec::load_unaligned(m + i), vv = vec::load_unaligned(v + i);
                const vec pv = update(vec::load_unaligned(p + i), vec::load_unaligned(g + i), mv, vv, step_size,
                                      inv_bc2_sqrt);
                pv.store_unaligned(p + i);
                mv.store_unaligned(m + i);
                vv.store_unaligned(v + i);
            }
            for (; i < end; ++i) p[i] = update(p[i], g[i], m[i], v[i], step_size, inv_bc2_sqrt);
        });
    }

    double learning_rate() const noexcept { return options_.lr; }
    void set_learning_rate(double lr) noexcept { options_.lr = lr; }
    const AdamOptions& options() const noexcept { return options_; }
    /// Calls of `step()`.
    std::int64_t steps() const noexcept { return steps_; }

    /// Calls f(name, values) for each state buffer, with `torch.optim.Adam`'s
    /// names ("exp_avg", "exp_avg_sq"), laid out like the parameters (for checkpoints).
    template <class F>
    void for_each_state(F&& f)
    {
        f("exp_avg", std::span<T>(m_));
        f("exp_avg_sq", std::span<T>(v_));
    }
    /// The steps each parameter tensor has taken (PyTorch's per-parameter
    /// "step"), in the order of the network's parameters; writable, for checkpoints.
    std::span<std::int64_t> tensor_steps() noexcept { return tensor_steps_; }
    /// Restores the count of `step()` calls of a saved state.
    void set_steps(std::int64_t steps) noexcept { steps_ = steps; }

private:
    std::span<T> params_;
    std::span<const T> grads_;
    AdamOptions options_;
    update_ranges ranges_;
    storage<T> m_, v_;
    std::vector<std::int64_t> tensor_steps_;
    std::vector<std::pair<T, T>> corrections_;  ///< per tensor: lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t)
    std::int64_t steps_ = 0;
};

} // namespace detail

/// Adam (Kingma & Ba) with L2 weight decay added to the gradient, as `torch.optim.Adam`.
template <class T>
class Adam : public detail::adam_base<T, false> {
public:
    using detail::adam_base<T, false>::adam_base;
    /// Optimises `net`'s trainable (not frozen) parameters.
    template <class Net>
    explicit Adam(Net& net, AdamOptions options = {})
        : Adam(net.parameters(), net.gradients(), options, &net.parameter_ranges())
    {
    }
};

/// AdamW (Loshchilov & Hutter): decoupled weight decay, as `torch.optim.AdamW`
/// (whose default weight_decay is 0.01; pass it explicitly).
template <class T>
class AdamW : public detail::adam_base<T, true> {
public:
    using detail::adam_base<T, true>::adam_base;
    /// Optimises `net`'s trainable (not frozen) parameters.
    template <class Net>
    explicit AdamW(Net& net, AdamOptions options = {})
        : AdamW(net.parameters(), net.gradients(), options, &net.parameter_ranges())
    {
    }
};

/// Deduces the scalar type from the network.
template <class Net>
Adam(Net&, AdamOptions = {}) -> Adam<typename Net::value_type>;
/// Deduces the scalar type from the network.
template <class Net>
AdamW(Net&, AdamOptions = {}) -> AdamW<typename Net::value_type>;

} // namespace lepton
