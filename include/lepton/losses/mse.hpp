#pragma once
/// \file
/// Mean squared error, `torch.nn.MSELoss()`: (p - t)^2 over every element, the mean by default.

#include <cstddef>

#include "../tensor/tensor.hpp"
#include "reduction.hpp"

namespace lepton {

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class MSELoss {
public:
    /// PyTorch's `reduction` (the mean by default).
    explicit MSELoss(reduction r = reduction::mean) : reduction_(r) {}

    /// The squared errors of `prediction` against `target` (same shape; `shape_error` otherwise), reduced.
    T operator()(const tensor<T, Rank>& prediction, const tensor<T, Rank>& target)
    {
        return detail::elementwise_loss(
            "MSELoss", prediction, target, reduction_, grad_, [](double d) { return d * d; },
            [](auto d) { return decltype(d)(2) * d; });
    }

    /// dL/dprediction of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    reduction reduction_;
    tensor<T, Rank> grad_;
};

} // namespace lepton
