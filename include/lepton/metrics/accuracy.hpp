#pragma once
/// \file
/// Accuracy metrics: arg-max accuracy, top-k accuracy and binary accuracy of logits.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "metric.hpp"

namespace lepton::metrics {

/// Fraction of rows whose largest logit is at the label's index. On ties the
/// first largest logit is the prediction (as `torch.argmax`), so a tie counts
/// as correct only when the label is the lowest tied index.
template <class T = float>
class accuracy : public metric<T> {
public:
    /// "accuracy".
    std::string name() const override { return "accuracy"; }
    /// Forgets every batch added so far.
    void reset() override { correct_ = total_ = 0; }
    /// Adds a batch of [N, classes] logits (classes >= 2; binary_accuracy is for [N, 1]).
    void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels) override
    {
        const std::size_t classes = detail::check_batch("accuracy", outputs, labels);
        if (classes < 2)
            throw shape_error("lepton: accuracy needs [N, classes] logits with classes >= 2, got " +
                              shape_string(outputs.shape()) + "; use binary_accuracy for one logit per row");
        for (std::size_t r = 0; r < labels.size(); ++r) {
            detail::check_label("accuracy", labels[r], r, classes);
            correct_ += detail::argmax(outputs.data() + r * classes, classes) == static_cast<std::size_t>(labels[r]);
        }
        total_ += labels.size();
    }
    /// correct / total, 0 before any sample.
    double result() const override { return total_ ? double(correct_) / double(total_) : 0.0; }
    /// Rows counted as correct since the last reset.
    std::size_t correct() const noexcept { return correct_; }
    /// Rows added since the last reset.
    std::size_t total() const noexcept { return total_; }

    /// {correct, total}, for data-parallel training.
    std::vector<double> counts() const override { return {double(correct_), double(total_)}; }
    /// Sets {correct, total}.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 2) correct_ = std::size_t(c[0]), total_ = std::size_t(c[1]);
    }
private:
    std::size_t correct_ = 0, total_ = 0;
};

/// Fraction of rows whose label's logit is among the `k` largest.
///
/// Ties go in the label's favour, as `tf.math.in_top_k`: a row is correct when
/// fewer than `k` logits are strictly larger than the label's logit, so with
/// logits {2, 2, 2, 1} every one of the first three labels is in the top 1.
/// A NaN logit at the label is never correct. `k` >= classes makes every row correct.
template <class T = float>
class top_k_accuracy : public metric<T> {
public:
    /// `k` >= 1; throws `value_error` otherwise.
    explicit top_k_accuracy(std::size_t k) : k_(k)
    {
        if (k == 0) throw value_error("lepton: top_k_accuracy needs k >= 1");
    }
    /// "top{k}_accuracy", e.g. "top5_accuracy".
    std::string name() const override { return "top" + std::to_string(k_) + "_accuracy"; }
    /// Forgets every batch added so far.
    void reset() override { correct_ = total_ = 0; }
    /// Adds a batch of [N, classes] logits.
    void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels) override
    {
        const std::size_t classes = detail::check_batch("top_k_accuracy", outputs, labels);
        for (std::size_t r = 0; r < labels.size(); ++r) {
            detail::check_label("top_k_accuracy", labels[r], r, classes);
            const T* z = outputs.data() + r * classes;
            const T target = z[labels[r]];
            if (std::isnan(target)) continue;
            std::size_t larger = 0;
            for (std::size_t c = 0; c < classes; ++c) larger += z[c] > target;
            correct_ += larger < k_;
        }
        total_ += labels.size();
    }
    /// correct / total, 0 before any sample.
    double result() const override { return total_ ? double(correct_) / double(total_) : 0.0; }
    /// The k of the constructor.
    std::size_t k() const noexcept { return k_; }
    /// Rows counted as correct since the last reset.
    std::size_t correct() const noexcept { return correct_; }
    /// Rows added since the last reset.
    std::size_t total() const noexcept { return total_; }

    /// {correct, total}, for data-parallel training.
    std::vector<double> counts() const override { return {double(correct_), double(total_)}; }
    /// Sets {correct, total}.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 2) correct_ = std::size_t(c[0]), total_ = std::size_t(c[1]);
    }
private:
    std::size_t k_, correct_ = 0, total_ = 0;
};

/// Accuracy of one logit per row against 0/1 labels, the companion of
/// `BCEWithLogitsLoss`: the prediction is 1 when sigmoid(logit) >= threshold.
///
/// The comparison is made on the logit, logit >= log(threshold / (1 - threshold)),
/// so no sigmoid is rounded: with the default 0.5 a logit of exactly 0 predicts 1.
template <class T = float>
class binary_accuracy : public metric<T> {
public:
    /// `threshold` in [0, 1]; throws `value_error` otherwise.
    explicit binary_accuracy(double threshold = 0.5) : threshold_(threshold)
    {
        if (!(threshold >= 0.0 && threshold <= 1.0))
            throw value_error("lepton: binary_accuracy threshold " + std::to_string(threshold) + " is outside [0, 1]");
        // logit(0) = -inf and logit(1) = +inf keep the rule sigmoid(z) >= threshold at the ends.
        cut_ = threshold == 0.0   ? -std::numeric_limits<double>::infinity()
               : threshold == 1.0 ? std::numeric_limits<double>::infinity()
                                  : std::log(threshold / (1.0 - threshold));
    }
    /// "binary_accuracy".
    std::string name() const override { return "binary_accuracy"; }
    /// Forgets every batch added so far.
    void reset() override { correct_ = total_ = 0; }
    /// Adds a batch of [N, 1] logits and labels that are 0 or 1.
    void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels) override
    {
        if (detail::check_batch("binary_accuracy", outputs, labels) != 1)
            throw shape_error("lepton: binary_accuracy needs [N, 1] logits, got " + shape_string(outputs.shape()));
        for (std::size_t r = 0; r < labels.size(); ++r) {
            detail::check_label("binary_accuracy", labels[r], r, 2);
            const bool positive = double(outputs.data()[r]) >= cut_;
            correct_ += positive == (labels[r] == 1);
        }
        total_ += labels.size();
    }
    /// correct / total, 0 before any sample.
    double result() const override { return total_ ? double(correct_) / double(total_) : 0.0; }
    /// The threshold on sigmoid(logit).
    double threshold() const noexcept { return threshold_; }
    /// The same threshold on the logit: log(threshold / (1 - threshold)).
    double logit_threshold() const noexcept { return cut_; }
    /// Rows counted as correct since the last reset.
    std::size_t correct() const noexcept { return correct_; }
    /// Rows added since the last reset.
    std::size_t total() const noexcept { return total_; }

    /// {correct, total}, for data-parallel training.
    std::vector<double> counts() const override { return {double(correct_), double(total_)}; }
    /// Sets {correct, total}.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 2) correct_ = std::size_t(c[0]), total_ = std::size_t(c[1]);
    }
private:
    double threshold_, cut_ = 0;
    std::size_t correct_ = 0, total_ = 0;
};

} // namespace lepton::metrics
