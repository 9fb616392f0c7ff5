#pragma once
/// \file
/// Binary cross-entropy on logits, `torch.nn.BCEWithLogitsLoss()` (mean reduction):
/// max(x, 0) - x t + log(1 + exp(-|x|)), stable for any x.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

/// `Rank` is the rank of the network output including the batch ([N, features] by default).
template <class T = float, std::size_t Rank = 2>
class BCEWithLogitsLoss {
public:
    /// Mean loss over every element; targets in [0, 1] with the logits' shape.
    T operator()(const tensor<T, Rank>& logits, const tensor<T, Rank>& targets)
    {
        if (logits.shape() != targets.shape())
            throw shape_error("lepton: BCEWithLogitsLoss: logits " + shape_string(logits.shape()) + " but targets " +
                              shape_string(targets.shape()));
        const std::size_t n = logits.size();
        ensure_shape(grad_, logits.shape());
        ensure_shape(terms_, std::array<std::size_t, 1>{n});
        const T inv_n = T(1) / T(n);
        kernels::map(n, logits.data(), targets.data(), terms_.data(), [](auto x, auto t) {
            using V = decltype(x);
            return xsimd::max(x, V(0)) - x * t + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
        });
        kernels::map(n, logits.data(), targets.data(), grad_.data(), [inv_n](auto x, auto t) {
            using V = decltype(x);
            return (V(1) / (V(1) + xsimd::exp(-x)) - t) * V(inv_n);
        });
        return kernels::sum(n, terms_.data()) * inv_n;
    }

    /// The same with integer labels 0 / 1 as targets, one per element (binary
    /// classification with one logit per sample; what `fit` passes).
    T operator()(const tensor<T, Rank>& logits, std::span<const std::int32_t> labels)
    {
        if (labels.size() != logits.size())
            throw shape_error("lepton: BCEWithLogitsLoss: " + std::to_string(logits.size()) + " logits but " +
                              std::to_string(labels.size()) + " labels");
        ensure_shape(targets_, logits.shape());
        for (std::size_t i = 0; i < labels.size(); ++i) {
            if (labels[i] != 0 && labels[i] != 1)
                throw value_error("lepton: BCEWithLogitsLoss: label " + std::to_string(labels[i]) + " at " +
                                  std::to_string(i) + " is not 0 or 1");
            targets_.data()[i] = T(labels[i]);
        }
        return (*this)(logits, targets_);
    }

    /// dL/dlogits of the last call.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    tensor<T, Rank> grad_, targets_;
    tensor<T, 1> terms_;
};

} // namespace lepton
