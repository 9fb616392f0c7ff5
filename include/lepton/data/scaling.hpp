#pragma once
/// \file
/// Per-feature scaling fitted on training data and applied to the others
/// (scikit-learn's `StandardScaler` and `MinMaxScaler`): every position of a
/// sample [N, sample dims...] is a feature with its own statistics.

#include <algorithm>
#include <array>
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

/// Checks a scaler's statistics, fitted or read from a file: as many of each, at least one,
/// all finite, and `ordered(first, second)` for every feature.
template <class Ordered>
void check_statistics(const char* who, const std::vector<double>& first, const std::vector<double>& second,
                      Ordered&& ordered, const char* rule)
{
    const auto fail = [&](const std::string& what) { throw value_error(std::string("lepton: ") + who + ": " + what); };
    if (first.empty() || first.size() != second.size())
        fail("statistics of " + std::to_string(first.size()) + " and " + std::to_string(second.size()) +
             " features (they must be as many, and at least one)");
    for (std::size_t f = 0; f < first.size(); ++f)
        if (!std::isfinite(first[f]) || !std::isfinite(second[f]) || !ordered(first[f], second[f]))
            fail("feature " + std::to_string(f) + " has statistics " + std::to_string(first[f]) + " and " +
                 std::to_string(second[f]) + " (they must be finite, " + rule + ")");
}

} // namespace detail

/// (x - mean) / standard deviation per feature, with the mean and the (biased)
/// standard deviation of the training samples; a feature that does not vary
/// is only centred, as scikit-learn does.
template <class T = float>
class Standardizer {
public:
    /// Measures every feature of `x` [N, sample dims...]; throws `value_error` for an
    /// empty set or a feature that is not finite.
    template <std::size_t Rank>
    void fit(const tensor<T, Rank>& x)
    {
        const std::size_t n = x.shape()[0];
        if (n == 0) throw value_error("lepton: Standardizer: fit() needs at least one sample");
        const std::size_t features = x.size() / n;
        std::vector<double> mean(features, 0.0), spread(features, 0.0);
        // Welford's update per feature, in double.
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < features; ++f) {
                const double v = x.data()[i * features + f], delta = v - mean[f];
                mean[f] += delta / double(i + 1);
                spread[f] += delta * (v - mean[f]);
            }
        for (auto& s : spread) s = std::sqrt(s / double(n));
        set_statistics(std::move(mean), std::move(spread));
    }
    /// The names of the two statistics, as `statistics()` gives them and checkpoints save them.
    static constexpr std::array<const char*, 2> statistic_names{"mean", "stddev"};
    /// The fitted means and standard deviations (empty before `fit`).
    std::array<std::span<const double>, 2> statistics() const noexcept { return {mean_, stddev_}; }
    /// Takes statistics saved earlier (a checkpoint's); throws `value_error`, changing nothing,
    /// unless they are as many, finite, and the standard deviations >= 0.
    void set_statistics(std::vector<double> mean, std::vector<double> stddev)
    {
        detail::check_statistics("Standardizer", mean, stddev, [](double, double s) { return s >= 0; },
                                 "the standard deviation >= 0");
        std::vector<double> inverse(mean.size());
        for (std::size_t f = 0; f < mean.size(); ++f) inverse[f] = stddev[f] > 0 ? 1.0 / stddev[f] : 1.0;
        mean_ = std::move(mean);
        stddev_ = std::move(stddev);
        inverse_ = std::move(inverse);
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
    /// Measures every feature of `x` [N, sample dims...]; throws `value_error` for an
    /// empty set or a feature that is not finite.
    template <std::size_t Rank>
    void fit(const tensor<T, Rank>& x)
    {
        const std::size_t n = x.shape()[0];
        if (n == 0) throw value_error("lepton: MinMaxScaler: fit() needs at least one sample");
        const std::size_t features = x.size() / n;
        std::vector<double> min(features, std::numeric_limits<double>::infinity()),
            max(features, -std::numeric_limits<double>::infinity());
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < features; ++f) {
                const double v = x.data()[i * features + f];
                if (std::isnan(v))  // min and max would pass over it
                    throw value_error("lepton: MinMaxScaler: sample " + std::to_string(i) + " has NaN at feature " +
                                      std::to_string(f));
                min[f] = std::min(min[f], v);
                max[f] = std::max(max[f], v);
            }
        set_statistics(std::move(min), std::move(max));
    }
    /// The names of the two statistics, as `statistics()` gives them and checkpoints save them.
    static constexpr std::array<const char*, 2> statistic_names{"min", "max"};
    /// The fitted minima and maxima (empty before `fit`).
    std::array<std::span<const double>, 2> statistics() const noexcept { return {min_, max_}; }
    /// Takes statistics saved earlier (a checkpoint's); throws `value_error`, changing nothing,
    /// unless they are as many, finite, and min <= max.
    void set_statistics(std::vector<double> min, std::vector<double> max)
    {
        detail::check_statistics("MinMaxScaler", min, max, [](double lo, double hi) { return lo <= hi; },
                                 "min <= max");
        std::vector<double> factor(min.size());
        for (std::size_t f = 0; f < min.size(); ++f) factor[f] = max[f] > min[f] ? 1.0 / (max[f] - min[f]) : 1.0;
        min_ = std::move(min);
        max_ = std::move(max);
        factor_ = std::move(factor);
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
