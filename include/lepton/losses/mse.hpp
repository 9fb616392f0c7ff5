#pragma once
/// \file
/// Mean squared error, `torch.nn.MSELoss()` (mean over every element).

#include <cstddef>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class MSELoss {
public:
    /// Mean squared error over all elements.
    T operator()(const tensor<T, Rank>& prediction, const tensor<T, Rank>& target)
    {
        if (prediction.shape() != target.shape())
            throw shape_error("lepton: MSELoss: prediction " + shape_string(prediction.shape()) + " but target " +
                              shape_string(target.shape()));
        const std::size_t n = prediction.size();
        ensure_shape(grad_, prediction.shape());
        const T two_over_n = T(2) / T(n);
        // gradient = 2 (p - t) / n ; loss = sum((p - t)^2) / n = <gradient, p - t> / 2
        kernels::map(n, prediction.data(), target.data(), grad_.data(),
                     [two_over_n](auto p, auto t) { return (p - t) * decltype(p)(two_over_n); });
        T loss = 0;
        for (std::size_t i = 0; i < n; ++i) loss += (prediction.data()[i] - target.data()[i]) * grad_.data()[i];
        return loss / T(2);
    }

    /// dL/dprediction of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    tensor<T, Rank> grad_;
};

} // namespace lepton
