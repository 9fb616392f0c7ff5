#pragma once
/// \file
/// Mean absolute error, `torch.nn.L1Loss()`: |p - t| over every element, the
/// mean by default; its gradient at p = t is 0, as PyTorch's.

#include <cmath>
#include <cstddef>

#include "../tensor/tensor.hpp"
#include "reduction.hpp"

namespace lepton {

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class L1Loss {
public:
    /// PyTorch's `reduction` (the mean by default).
    explicit L1Loss(reduction r = reduction::mean) : reduction_(r) {}

    /// The absolute errors of `prediction` against `target` (same shape; `shape_error` otherwise), reduced.
    T operator()(const tensor<T, Rank>& prediction, const tensor<T, Rank>& target)
    {
        return detail::elementwise_loss(
            "L1Loss", prediction, target, reduction_, grad_, [](double d) { return std::abs(d); },
            [](auto d) { return detail::sign_of(d); });
    }

    /// dL/dprediction of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    reduction reduction_;
    tensor<T, Rank> grad_;
};

} // namespace lepton
