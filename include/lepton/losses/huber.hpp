#pragma once
/// \file
/// The losses that are quadratic near zero and linear beyond, PyTorch's two
/// spellings of them: `torch.nn.HuberLoss(delta)` and `torch.nn.SmoothL1Loss(beta)`.
/// With d = p - t:
///     Huber:     0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta)
///     SmoothL1:  0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta  (L1 for beta = 0)
/// so SmoothL1 is Huber divided by beta. Both default to 1 and to the mean.

#include <cmath>
#include <cstddef>
#include <string>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"
#include "reduction.hpp"

namespace lepton {

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class HuberLoss {
public:
    /// `delta` > 0 is where the loss turns linear; throws `value_error` otherwise.
    explicit HuberLoss(double delta = 1.0, reduction r = reduction::mean) : delta_(delta), reduction_(r)
    {
        if (!(delta > 0)) throw value_error("lepton: HuberLoss: delta must be positive, got " + std::to_string(delta));
    }

    /// The Huber losses of `prediction` against `target` (same shape; `shape_error` otherwise), reduced.
    T operator()(const tensor<T, Rank>& prediction, const tensor<T, Rank>& target)
    {
        const double delta = delta_;
        return detail::elementwise_loss(
            "HuberLoss", prediction, target, reduction_, grad_,
            [delta](double d) { return std::abs(d) <= delta ? 0.5 * d * d : delta * (std::abs(d) - 0.5 * delta); },
            [delta](auto d) {
                using V = decltype(d);
                return xsimd::min(xsimd::max(d, V(T(-delta))), V(T(delta)));
            });
    }

    /// dL/dprediction of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    double delta_;
    reduction reduction_;
    tensor<T, Rank> grad_;
};

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class SmoothL1Loss {
public:
    /// `beta` >= 0 is where the loss turns linear (0 gives L1Loss); throws `value_error` when negative.
    explicit SmoothL1Loss(double beta = 1.0, reduction r = reduction::mean) : beta_(beta), reduction_(r)
    {
        if (!(beta >= 0)) throw value_error("lepton: SmoothL1Loss: beta must not be negative, got " + std::to_string(beta));
    }

    /// The smooth L1 losses of `prediction` against `target` (same shape; `shape_error` otherwise), reduced.
    T operator()(const tensor<T, Rank>& prediction, const tensor<T, Rank>& target)
    {
        const double beta = beta_;
        if (beta == 0)
            return detail::elementwise_loss(
                "SmoothL1Loss", prediction, target, reduction_, grad_, [](double d) { return std::abs(d); },
                [](auto d) { return detail::sign_of(d); });
        return detail::elementwise_loss(
            "SmoothL1Loss", prediction, target, reduction_, grad_,
            [beta](double d) { return std::abs(d) < beta ? 0.5 * d * d / beta : std::abs(d) - 0.5 * beta; },
            [beta](auto d) {
                using V = decltype(d);
                return xsimd::min(xsimd::max(d * V(T(1 / beta)), V(-1)), V(1));
            });
    }

    /// dL/dprediction of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    double beta_;
    reduction reduction_;
    tensor<T, Rank> grad_;
};

} // namespace lepton
