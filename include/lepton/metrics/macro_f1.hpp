#pragma once
/// \file
/// Macro-averaged F1 as a metric a training loop can log.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "confusion_matrix.hpp"
#include "metric.hpp"

namespace lepton::metrics {

/// Unweighted mean over classes of the per-class F1 (scikit-learn's
/// `f1_score(average="macro")`), from a confusion matrix of arg-max
/// predictions; [N, 1] logits are two classes, predicted 1 when the logit is >= 0.
template <class T = float>
class macro_f1 : public metric<T> {
public:
    /// `classes` fixes the number of classes; 0 takes it from the first batch
    /// (the number of columns, or 2 for [N, 1] outputs).
    explicit macro_f1(std::size_t classes = 0)
    {
        if (classes) matrix_.emplace(classes);
    }
    /// "macro_f1".
    std::string name() const override { return "macro_f1"; }
    /// Sets the counts to zero; the number of classes is kept.
    void reset() override
    {
        if (matrix_) matrix_->reset();
    }
    /// Adds a batch of [N, classes] or [N, 1] logits.
    void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels) override
    {
        if (!matrix_) matrix_.emplace(outputs.shape()[1] == 1 ? 2 : outputs.shape()[1]);
        matrix_->update(outputs, labels);
    }
    /// Macro F1 over everything added since the last reset; 0 before any sample.
    double result() const override { return matrix_ ? matrix_->f1(average::macro) : 0.0; }
    /// The confusion matrix's cells (row-major, true class by predicted class),
    /// for data-parallel training; empty before the number of classes is known
    /// (give it to the constructor when a rank may see no batch).
    std::vector<double> counts() const override
    {
        std::vector<double> cells;
        if (!matrix_) return cells;
        const std::size_t k = matrix_->classes();
        cells.reserve(k * k);
        for (std::size_t t = 0; t < k; ++t)
            for (std::size_t p = 0; p < k; ++p) cells.push_back(double(matrix_->count(t, p)));
        return cells;
    }
    /// Sets the cells from `counts()` summed over ranks.
    void set_counts(std::span<const double> cells) override
    {
        if (!matrix_ || cells.size() != matrix_->classes() * matrix_->classes()) return;
        const std::size_t k = matrix_->classes();
        for (std::size_t t = 0; t < k; ++t)
            for (std::size_t p = 0; p < k; ++p) matrix_->set_count(t, p, std::size_t(cells[t * k + p]));
    }
    /// The confusion matrix behind the result; throws `value_error` before the
    /// number of classes is known.
    const confusion_matrix& matrix() const
    {
        if (!matrix_) throw value_error("lepton: macro_f1 has seen no batch yet, so it has no confusion matrix");
        return *matrix_;
    }

private:
    std::optional<confusion_matrix> matrix_;
};

} // namespace lepton::metrics
