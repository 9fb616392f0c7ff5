#pragma once
/// \file
/// How the element-wise regression losses (MSELoss, L1Loss, HuberLoss,
/// SmoothL1Loss) reduce per-element losses to one number, PyTorch's
/// `reduction` argument, and the loop they share.

#include <cstddef>
#include <string>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

/// PyTorch's `reduction` ('none' is not offered: training needs one number).
enum class reduction {
    mean,  ///< the mean over every element (PyTorch's default)
    sum,   ///< the sum over every element
};

namespace detail {

/// The loss `reduce`(value(p - t)) over every element of predictions p and
/// targets t of one shape, with dL/dp = slope(p - t) (scaled by 1/n for the
/// mean) written to `grad`. `value` takes a double, `slope` a vector; `who`
/// names the loss in the shape error.
template <class T, std::size_t Rank, class Value, class Slope>
T elementwise_loss(const char* who, const tensor<T, Rank>& prediction, const tensor<T, Rank>& target, reduction r,
                   tensor<T, Rank>& grad, Value value, Slope slope)
{
    if (prediction.shape() != target.shape())
        throw shape_error(std::string("lepton: ") + who + ": prediction " + shape_string(prediction.shape()) +
                          " but target " + shape_string(target.shape()));
    const std::size_t n = prediction.size();
    ensure_shape(grad, prediction.shape());
    const T scale = r == reduction::mean && n > 0 ? T(1) / T(n) : T(1);
    kernels::map(n, prediction.data(), target.data(), grad.data(),
                 [scale, slope](auto p, auto t) { return slope(p - t) * decltype(p)(scale); });
    // The value in double: a mean of many small terms in float drifts.
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += value(double(prediction.data()[i]) - double(target.data()[i]));
    return T(total * double(scale));
}

/// sign(d) for a vector: -1, 0 or 1 (PyTorch's L1 gradient is 0 at 0).
template <class V>
V sign_of(V d)
{
    return simd::select(d > V(0), V(1), simd::select(d < V(0), V(-1), V(0)));
}

} // namespace detail

} // namespace lepton
