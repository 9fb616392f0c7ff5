#pragma once
/// \file
/// The interface every metric implements, so a training loop can hold any of
/// them (`std::shared_ptr<metrics::metric<T>>`) and log them by name.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::metrics {

/// A quantity accumulated over batches of network outputs and integer labels.
///
/// `reset()` starts over (a training loop calls it at the start of each epoch),
/// `update()` adds a batch, `result()` reads the value over everything added
/// since the last reset. `result()` is cheap enough to call after every batch.
template <class T = float>
class metric {
public:
    /// Virtual: metrics are owned and destroyed through pointers to this class.
    virtual ~metric() = default;
    /// Column name in logs: "accuracy", "top5_accuracy", "binary_accuracy", "macro_f1".
    virtual std::string name() const = 0;
    /// Forgets every batch added so far.
    virtual void reset() = 0;
    /// Adds a batch: `outputs` are [N, classes] logits, or [N, 1] logits for a
    /// binary metric; `labels` has N entries. Throws `shape_error` when the
    /// counts differ and `value_error` for a label out of range.
    virtual void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels) = 0;
    /// The value over every batch since the last reset (0 before any sample).
    virtual double result() const = 0;
    /// The sums behind `result()`, so that data-parallel training can add
    /// them over ranks and `set_counts` the totals; empty for a metric that
    /// cannot be combined that way.
    virtual std::vector<double> counts() const { return {}; }
    /// Replaces the sums with `counts` (another `counts()` of this metric, summed over ranks).
    virtual void set_counts(std::span<const double> /*counts*/) {}
};

/// A quantity accumulated over batches of network outputs and target tensors
/// (regression, multi-label): the same protocol as `metric`.
template <class T = float>
class target_metric {
public:
    /// Virtual: metrics are owned and destroyed through pointers to this class.
    virtual ~target_metric() = default;
    /// Column name in logs: "mae", "rmse", "r2".
    virtual std::string name() const = 0;
    /// Forgets every batch added so far.
    virtual void reset() = 0;
    /// Adds a batch of samples of `columns` values each: `outputs` and
    /// `targets` laid out alike, [N, columns] row by row.
    virtual void update(std::span<const T> outputs, std::span<const T> targets, std::size_t columns) = 0;
    /// The value over every batch since the last reset (0 before any sample).
    virtual double result() const = 0;
    /// The sums behind `result()`, so that data-parallel training can add
    /// them over ranks and `set_counts` the totals; empty for a metric that
    /// cannot be combined that way.
    virtual std::vector<double> counts() const { return {}; }
    /// Replaces the sums with `counts` (another `counts()` of this metric, summed over ranks).
    virtual void set_counts(std::span<const double> /*counts*/) {}
};

namespace detail {

/// Checks that outputs and targets have as many values, in whole rows of `columns`.
inline void check_targets(const char* who, std::size_t outputs, std::size_t targets, std::size_t columns)
{
    if (outputs != targets || columns == 0 || outputs % columns != 0)
        throw shape_error(std::string("lepton: ") + who + " got " + std::to_string(outputs) + " outputs and " +
                          std::to_string(targets) + " targets in rows of " + std::to_string(columns));
}

/// Checks that `outputs` has one row per label; returns the number of columns.
template <class T>
inline std::size_t check_batch(const char* who, const tensor<T, 2>& outputs, std::span<const std::int32_t> labels)
{
    if (outputs.shape()[0] != labels.size())
        throw shape_error(std::string("lepton: ") + who + " got " + std::to_string(outputs.shape()[0]) +
                          " rows of outputs but " + std::to_string(labels.size()) + " labels");
    return outputs.shape()[1];
}

[[noreturn]] inline void throw_bad_label(const char* who, std::int32_t label, std::size_t row, std::size_t classes)
{
    throw value_error(std::string("lepton: ") + who + ": label " + std::to_string(label) + " at row " +
                      std::to_string(row) + " is outside [0, " + std::to_string(classes) + ")");
}

/// Throws `value_error` unless 0 <= label < classes. The throw is out of line and
/// [[noreturn]], so callers' indexing after the check is known to be in bounds.
inline void check_label(const char* who, std::int32_t label, std::size_t row, std::size_t classes)
{
    if (label < 0 || static_cast<std::size_t>(label) >= classes) throw_bad_label(who, label, row, classes);
}

/// Index of the largest value of z[0..n); the first one on ties (as torch.argmax).
template <class T>
inline std::size_t argmax(const T* z, std::size_t n) noexcept
{
    std::size_t best = 0;
    for (std::size_t c = 1; c < n; ++c)
        if (z[c] > z[best]) best = c;
    return best;
}

} // namespace detail

} // namespace lepton::metrics
