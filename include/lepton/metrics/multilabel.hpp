#pragma once
/// \file
/// Multi-label precision, recall and F1 on logits (the outputs a network
/// trained with BCEWithLogitsLoss gives): label j of a sample is predicted when
/// sigmoid(logit) > threshold and present when its target is >= 0.5. The
/// counts run over every (sample, label) pair, micro-averaged as Keras'
/// `Precision` / `Recall` and scikit-learn's `average="micro"`; a zero
/// denominator gives 0, scikit-learn's default.

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "metric.hpp"

namespace lepton::metrics {

namespace detail {

/// True and false positives and false negatives over every (sample, label) pair.
template <class T>
class multilabel_counts : public target_metric<T> {
public:
    /// `threshold` in (0, 1) on the sigmoid of the logits; throws `value_error` otherwise.
    explicit multilabel_counts(const char* who, double threshold) : who_(who)
    {
        if (!(threshold > 0.0 && threshold < 1.0))
            throw value_error(std::string("lepton: ") + who + ": threshold " + std::to_string(threshold) +
                              " is outside (0, 1)");
        logit_threshold_ = std::log(threshold / (1.0 - threshold));  // sigmoid(z) > t  <=>  z > logit(t)
    }
    void reset() override { true_positive_ = false_positive_ = false_negative_ = 0; }
    void update(std::span<const T> outputs, std::span<const T> targets, std::size_t columns) override
    {
        check_targets(who_, outputs.size(), targets.size(), columns);
        std::size_t true_positive = 0, false_positive = 0, false_negative = 0;
        for (std::size_t i = 0; i < outputs.size(); ++i) {
            const bool predicted = double(outputs[i]) > logit_threshold_, present = targets[i] >= T(0.5);
            if (predicted)
                ++(present ? true_positive : false_positive);
            else if (present)
                ++false_negative;
        }
        true_positive_ += true_positive;
        false_positive_ += false_positive;
        false_negative_ += false_negative;
    }

protected:
    static double ratio(std::size_t a, std::size_t b) { return b ? double(a) / double(b) : 0.0; }
    double precision() const { return ratio(true_positive_, true_positive_ + false_positive_); }
    double recall() const { return ratio(true_positive_, true_positive_ + false_negative_); }

    /// {true positives, false positives, false negatives}, for data-parallel training.
    std::vector<double> counts() const override
    {
        return {double(true_positive_), double(false_positive_), double(false_negative_)};
    }
    /// Sets the three counts.
    void set_counts(std::span<const double> c) override
    {
        if (c.size() == 3)
            true_positive_ = std::size_t(c[0]), false_positive_ = std::size_t(c[1]), false_negative_ = std::size_t(c[2]);
    }
private:
    const char* who_;
    double logit_threshold_ = 0;
    std::size_t true_positive_ = 0, false_positive_ = 0, false_negative_ = 0;
};

} // namespace detail

/// Multi-label precision, "precision": predicted labels that are present, over predicted labels.
template <class T = float>
class multilabel_precision : public detail::multilabel_counts<T> {
public:
    /// `threshold` in (0, 1) on the sigmoid of the logits; throws `value_error` otherwise.
    explicit multilabel_precision(double threshold = 0.5) : detail::multilabel_counts<T>("precision", threshold) {}
    std::string name() const override { return "precision"; }
    double result() const override { return this->precision(); }
};

/// Multi-label recall, "recall": present labels that are predicted, over present labels.
template <class T = float>
class multilabel_recall : public detail::multilabel_counts<T> {
public:
    /// `threshold` in (0, 1) on the sigmoid of the logits; throws `value_error` otherwise.
    explicit multilabel_recall(double threshold = 0.5) : detail::multilabel_counts<T>("recall", threshold) {}
    std::string name() const override { return "recall"; }
    double result() const override { return this->recall(); }
};

/// Multi-label F1, "f1": the harmonic mean of the micro precision and recall.
template <class T = float>
class multilabel_f1 : public detail::multilabel_counts<T> {
public:
    /// `threshold` in (0, 1) on the sigmoid of the logits; throws `value_error` otherwise.
    explicit multilabel_f1(double threshold = 0.5) : detail::multilabel_counts<T>("f1", threshold) {}
    std::string name() const override { return "f1"; }
    double result() const override
    {
        const double p = this->precision(), r = this->recall();
        return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
};

} // namespace lepton::metrics
