#pragma once
/// \file
/// Regression metrics over every element of outputs and targets of one shape:
/// mean absolute error, root mean squared error, and the coefficient of
/// determination R^2 (scikit-learn's `r2_score`, averaged over the columns).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "metric.hpp"

namespace lepton::metrics {

/// Mean absolute error, "mae": the mean of |output - target|.
template <class T = float>
class mean_absolute_error : public target_metric<T> {
public:
    std::string name() const override { return "mae"; }
    void reset() override { sum_ = 0, count_ = 0; }
    /// Adds the absolute errors of a batch.
    void update(std::span<const T> outputs, std::span<const T> targets, std::size_t columns) override
    {
        detail::check_targets("mae", outputs.size(), targets.size(), columns);
        for (std::size_t i = 0; i < outputs.size(); ++i) sum_ += std::abs(double(outputs[i]) - double(targets[i]));
        count_ += outputs.size();
    }
    double result() const override { return count_ ? sum_ / double(count_) : 0.0; }

    /// {sum, count}, for data-parallel training.
    std::vector<double> counts() const override { return {sum_, double(count_)}; }
    /// Sets {sum, count}.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 2) sum_ = c[0], count_ = std::size_t(c[1]);
    }
private:
    double sum_ = 0;
    std::size_t count_ = 0;
};

/// Root mean squared error, "rmse": the square root of the mean of (output - target)^2.
template <class T = float>
class root_mean_squared_error : public target_metric<T> {
public:
    std::string name() const override { return "rmse"; }
    void reset() override { sum_ = 0, count_ = 0; }
    /// Adds the squared errors of a batch.
    void update(std::span<const T> outputs, std::span<const T> targets, std::size_t columns) override
    {
        detail::check_targets("rmse", outputs.size(), targets.size(), columns);
        for (std::size_t i = 0; i < outputs.size(); ++i) {
            const double d = double(outputs[i]) - double(targets[i]);
            sum_ += d * d;
        }
        count_ += outputs.size();
    }
    double result() const override { return count_ ? std::sqrt(sum_ / double(count_)) : 0.0; }

    /// {sum, count}, for data-parallel training.
    std::vector<double> counts() const override { return {sum_, double(count_)}; }
    /// Sets {sum, count}.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 2) sum_ = c[0], count_ = std::size_t(c[1]);
    }
private:
    double sum_ = 0;
    std::size_t count_ = 0;
};

/// Coefficient of determination, "r2": per column 1 - sum (t - o)^2 / sum (t -
/// mean t)^2 over every sample since the reset, then the mean over the
/// columns. A column whose targets do not vary counts 1 when it is predicted
/// exactly and 0 otherwise, as scikit-learn's `r2_score`.
template <class T = float>
class r2_score : public target_metric<T> {
public:
    std::string name() const override { return "r2"; }
    void reset() override { columns_.clear(), count_ = 0; }
    /// Adds a batch to each column's target spread and residuals; rows keep their width across batches.
    void update(std::span<const T> outputs, std::span<const T> targets, std::size_t columns) override
    {
        detail::check_targets("r2", outputs.size(), targets.size(), columns);
        if (count_ == 0) columns_.assign(columns, {});
        if (columns != columns_.size())
            throw shape_error("lepton: r2 got rows of " + std::to_string(columns) + " after rows of " +
                              std::to_string(columns_.size()));
        for (std::size_t row = 0; row < outputs.size() / columns; ++row) {
            ++count_;
            for (std::size_t c = 0; c < columns; ++c) {
                const double t = targets[row * columns + c], o = outputs[row * columns + c];
                auto& s = columns_[c];
                // Welford's update: the spread of the targets without E[t^2] - E[t]^2.
                const double delta = t - s.mean;
                s.mean += delta / double(count_);
                s.spread += delta * (t - s.mean);
                s.residual += (t - o) * (t - o);
            }
        }
    }
    double result() const override
    {
        if (count_ == 0) return 0.0;
        double total = 0;
        for (const auto& s : columns_) total += s.spread > 0 ? 1.0 - s.residual / s.spread : (s.residual == 0 ? 1.0 : 0.0);
        return total / double(columns_.size());
    }

    /// {samples, then per column the sum of the targets, the sum of their
    /// squares and the residual sum of squares}, for data-parallel training;
    /// empty before any sample (the column count is not known yet).
    std::vector<double> counts() const override
    {
        std::vector<double> c;
        if (count_ == 0) return c;
        c.push_back(double(count_));
        for (const auto& s : columns_) {
            const double sum = s.mean * double(count_);
            c.insert(c.end(), {sum, s.spread + sum * s.mean, s.residual});
        }
        return c;
    }
    /// Sets the sums from `counts()` added over ranks. The spread of the whole
    /// is the sum of squares less the squared sum over the count: only the
    /// combination of ranks loses Welford's protection against cancellation.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() != 1 + 3 * columns_.size() || c[0] <= 0) return;
        count_ = std::size_t(c[0]);
        for (std::size_t k = 0; k < columns_.size(); ++k) {
            const double sum = c[1 + 3 * k], squares = c[2 + 3 * k];
            auto& s = columns_[k];
            s.mean = sum / c[0];
            s.spread = std::max(0.0, squares - sum * s.mean);
            s.residual = c[3 + 3 * k];
        }
    }

private:
    struct column {
        double mean = 0, spread = 0, residual = 0;
    };
    std::vector<column> columns_;
    std::size_t count_ = 0;
};

} // namespace lepton::metrics
