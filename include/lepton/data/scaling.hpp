#pragma once
/// \file
/// Per-feature scaling fitted on training data and applied to the others
/// (scikit-learn's `StandardScaler` and `MinMaxScaler`): every position of a
/// sample [N, sample dims...] is a feature with its own statistics.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::data {

namespace detail {

/// Applies x = (x - offset[f]) * factor[f] to every sample of `x`, feature by feature.
template <class T, std::size_t Rank>
void scale_features(const char* who, tensor<T, Rank>& x, const std::vector<double>& offset, const std::vector<double>& factor)
{
    if (offset.empty()) throw value_error(std::string("lepton: ") + who + ": fit() it on training data first");
    const std::size_t n = x.shape()[0], features = n ? x.size() / n : offset.size();
    if (features != offset.size())
        throw shape_error(std::string("lepton: ") + who + " was fitted on samples of " + std::to_string(offset.size()) +
                          " values, got samples of " + std::to_string(features) + " (" + shape_string(x.shape()) + ")");
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < features; ++f) {
            T& v = x.data()[i * features + f];
            v = T((double(v) - offset[f]) * factor[f]);
        }
}

} // namespace detail

/// (x - mean) / standard deviation per feature, with the mean and the (biased)
/// standard deviation of the training samples; a feature that does not vary
/// is only centred, as scikit-learn does.
template <class T = float>
class Standardizer {
public:
    /// Measures every feature of `x` [N, sample dims...]; throws `value_error` for an empty set.
    template <std::size_t Rank>
    void fit(const tensor<T, Rank>& x)
    {
        const std::size_t n = x.shape()[0];
        if (n == 0) throw value_error("lepton: Standardizer: fit() needs at least one sample");
        const std::size_t features = x.size() / n;
        mean_.assign(features, 0.0);
        std::vector<double> spread(features, 0.0);
        // Welford's update per feature, in double.
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < features; ++f) {
                const double v = x.data()[i * features + f], delta = v - mean_[f];
                mean_[f] += delta / double(i + 1);
                spread[f] += delta * (v - mean_[f]);
            }
        stddev_.resize(features);
        inverse_.resize(features);
        for (std::size_t f = 0; f < features; ++f) {
            stddev_[f] = std::sqrt(spread[f] / double(n));
            inverse_[f] = stddev_[f] > 0 ? 1.0 / stddev_[f] : 1.0;
        }
    }
    /// Scales `x` in place with the fitted statistics.
    template <std::size_t Rank>
    void transform(tensor<T, Rank>& x) const
    {
        detail::scale_features("Standardizer", x, mean_, inverse_);
    }
    /// Undoes `transform` (predictions of standardised targets back in their units).
    template <std::size_t Rank>
    void inverse_transform(tensor<T, Rank>& x) const
    {
        // x = y * s + mean = (y + mean / s) * s, with s = 1 for a feature that does not vary.
        std::vector<double> offset(mean_.size()), factor(mean_.size());
        for (std::size_t f = 0; f < mean_.size(); ++f) {
            factor[f] = stddev_[f] > 0 ? stddev_[f] : 1.0;
            offset[f] = -mean_[f] / factor[f];
        }
        detail::scale_features("Standardizer", x, offset, factor);
    }
    /// The fitted means, one per feature.
    std::span<const double> mean() const noexcept { return mean_; }
    /// The fitted standard deviations, one per feature.
    std::span<const double> stddev() const noexcept { return stddev_; }

private:
    std::vector<double> mean_, stddev_, inverse_;
};

/// (x - min) / (max - min) per feature, with the training samples' range
/// (new data may fall outside [0, 1]); a feature that does not vary maps to 0.
template <class T = float>
class MinMaxScaler {
public:
    /// Measures every feature of `x` [N, sample dims...]; throws `value_error` for an empty set.
    template <std::size_t Rank>
    void fit(const tensor<T, Rank>& x)
    {
        const std::size_t n = x.shape()[0];
        if (n == 0) throw value_error("lepton: MinMaxScaler: fit() needs at least one sample");
        const std::size_t features = x.size() / n;
        min_.assign(features, std::numeric_limits<double>::infinity());
        max_.assign(features, -std::numeric_limits<double>::infinity());
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < features; ++f) {
                const double v = x.data()[i * features + f];
                min_[f] = std::min(min_[f], v);
                max_[f] = std::max(max_[f], v);
            }
        factor_.resize(features);
        for (std::size_t f = 0; f < features; ++f) factor_[f] = max_[f] > min_[f] ? 1.0 / (max_[f] - min_[f]) : 1.0;
    }
    /// Scales `x` in place with the fitted ranges.
    template <std::size_t Rank>
    void transform(tensor<T, Rank>& x) const
    {
        detail::scale_features("MinMaxScaler", x, min_, factor_);
    }
    /// The fitted minima, one per feature.
    std::span<const double> min() const noexcept { return min_; }
    /// The fitted maxima, one per feature.
    std::span<const double> max() const noexcept { return max_; }

private:
    std::vector<double> min_, max_, factor_;
};

} // namespace lepton::data
