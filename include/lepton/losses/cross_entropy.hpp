#pragma once
/// \file
/// Softmax cross-entropy over integer class labels, `torch.nn.CrossEntropyLoss()`
/// (mean reduction), fused with the softmax: the network outputs raw logits.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

/// `Rank` is the rank of the logits including the batch: 2 for [N, classes], 3
/// for per-step classes of a sequence [N, T, classes] (one label per step, in
/// the same order, as PyTorch does after flattening N and T).
template <class T = float, std::size_t Rank = 2>
class CrossEntropyLoss {
public:
    /// Mean over all rows of -log softmax(logits)[label]; stores dL/dlogits.
    /// Throws `value_error` for a label outside [0, classes).
    T operator()(const tensor<T, Rank>& logits, std::span<const std::int32_t> labels)
    {
        const std::size_t classes = logits.shape()[Rank - 1], n = logits.size() / classes;
        if (labels.size() != n)
            throw shape_error("lepton: CrossEntropyLoss got " + std::to_string(n) + " rows of logits but " +
                              std::to_string(labels.size()) + " labels");
        ensure_shape(grad_, logits.shape());
        const T inv_n = T(1) / T(n);
        double total = 0;
        for (std::size_t r = 0; r < n; ++r) total += row_loss(logits, r, labels[r], inv_n);
        return static_cast<T>(total / double(n));
    }

    /// Mean over the rows listed in `rows` only (e.g. the training nodes of a
    /// graph, as `cross_entropy(out[train_mask], y[train_mask])`); `labels`
    /// has one entry per row of `logits`. Other rows get a zero gradient.
    T operator()(const tensor<T, Rank>& logits, std::span<const std::int32_t> labels,
                 std::span<const std::size_t> rows)
    {
        const std::size_t classes = logits.shape()[Rank - 1], n = logits.size() / classes;
        if (labels.size() != n)
            throw shape_error("lepton: CrossEntropyLoss got " + std::to_string(n) + " rows of logits but " +
                              std::to_string(labels.size()) + " labels");
        if (rows.empty()) throw value_error("lepton: CrossEntropyLoss: no rows selected");
        ensure_shape(grad_, logits.shape());
        std::fill(grad_.begin(), grad_.end(), T(0));
        const T inv_n = T(1) / T(rows.size());
        double total = 0;
        for (std::size_t r : rows) {
            if (r >= n)
                throw value_error("lepton: CrossEntropyLoss: row " + std::to_string(r) + " is outside the " +
                                  std::to_string(n) + " rows of logits");
            total += row_loss(logits, r, labels[r], inv_n);
        }
        return static_cast<T>(total / double(rows.size()));
    }

    /// dL/dlogits of the last call, shaped like the logits.
    const tensor<T, Rank>& gradient() const noexcept { return grad_; }

private:
    /// -log softmax(row r)[label]; writes inv_n * (softmax - onehot) into the gradient's row.
    double row_loss(const tensor<T, Rank>& logits, std::size_t r, std::int32_t label, T inv_n)
    {
        const std::size_t classes = logits.shape()[Rank - 1];
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
        const double loss = double(std::log(s) + (m - z[label]));  // m - z first: exact for huge logits
        const T scale = inv_n / s;
        kernels::map(classes, g, g, [scale](auto p) { return p * decltype(p)(scale); });
        g[label] -= inv_n;
        return loss;
    }

    tensor<T, Rank> grad_;
};

namespace detail {
template <class T>
inline bool argmax_is(const T* z, std::size_t classes, std::int32_t label) noexcept
{
    std::size_t best = 0;
    for (std::size_t c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
    return static_cast<std::int32_t>(best) == label;
}
} // namespace detail

/// Number of rows (of the last dimension) whose largest logit is at the label's index.
template <class T, std::size_t Rank>
inline std::size_t count_correct(const tensor<T, Rank>& logits, std::span<const std::int32_t> labels)
{
    const std::size_t classes = logits.shape()[Rank - 1], n = logits.size() / classes;
    std::size_t correct = 0;
    for (std::size_t r = 0; r < n; ++r) correct += detail::argmax_is(logits.data() + r * classes, classes, labels[r]);
    return correct;
}

/// The same over the rows listed in `rows` (`labels` has one entry per row of `logits`).
template <class T, std::size_t Rank>
inline std::size_t count_correct(const tensor<T, Rank>& logits, std::span<const std::int32_t> labels,
                                 std::span<const std::size_t> rows)
{
    const std::size_t classes = logits.shape()[Rank - 1];
    std::size_t correct = 0;
    for (std::size_t r : rows) correct += detail::argmax_is(logits.data() + r * classes, classes, labels[r]);
    return correct;
}

} // namespace lepton
