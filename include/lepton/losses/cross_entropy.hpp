#pragma once
/// \file
/// Softmax cross-entropy over integer class labels, `torch.nn.CrossEntropyLoss()`
/// (mean reduction), fused with the softmax: the network outputs raw logits.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

template <class T = float>
class CrossEntropyLoss {
public:
    /// Mean over the batch of -log softmax(logits)[label]; stores dL/dlogits.
    /// Throws `value_error` for a label outside [0, classes).
    T operator()(const tensor<T, 2>& logits, std::span<const std::int32_t> labels)
    {
        const std::size_t n = logits.shape()[0], classes = logits.shape()[1];
        if (labels.size() != n)
            throw shape_error("lepton: CrossEntropyLoss got " + std::to_string(n) + " rows of logits but " +
                              std::to_string(labels.size()) + " labels");
        ensure_shape(grad_, logits.shape());
        const T inv_n = T(1) / T(n);
        double total = 0;
        for (std::size_t r = 0; r < n; ++r) {
            const auto label = labels[r];
            if (label < 0 || static_cast<std::size_t>(label) >= classes)
                throw value_error("lepton: CrossEntropyLoss: label " + std::to_string(label) + " at row " +
                                  std::to_string(r) + " is outside [0, " + std::to_string(classes) + ")");
            const T* z = logits.data() + r * classes;
            T* g = grad_.data() + r * classes;
            // log-sum-exp shifted by the row maximum: exp never overflows.
            T m = z[0];
            for (std::size_t c = 1; c < classes; ++c) m = z[c] > m ? z[c] : m;
            kernels::map(classes, z, g, [m](auto v) { return xsimd::exp(v - decltype(v)(m)); });
            const T s = kernels::sum(classes, g);
            total += double(std::log(s) + (m - z[label]));  // m - z first: exact for huge logits
            const T scale = inv_n / s;
            kernels::map(classes, g, g, [scale](auto p) { return p * decltype(p)(scale); });
            g[label] -= inv_n;
        }
        return static_cast<T>(total / double(n));
    }

    /// dL/dlogits of the last call, [N, classes].
    const tensor<T, 2>& gradient() const noexcept { return grad_; }

private:
    tensor<T, 2> grad_;
};

/// Number of rows whose largest logit is at the label's index.
template <class T>
inline std::size_t count_correct(const tensor<T, 2>& logits, std::span<const std::int32_t> labels)
{
    const std::size_t n = logits.shape()[0], classes = logits.shape()[1];
    std::size_t correct = 0;
    for (std::size_t r = 0; r < n; ++r) {
        const T* z = logits.data() + r * classes;
        std::size_t best = 0;
        for (std::size_t c = 1; c < classes; ++c)
            if (z[c] > z[best]) best = c;
        correct += static_cast<std::int32_t>(best) == labels[r];
    }
    return correct;
}

} // namespace lepton
