#pragma once
/// \file
/// Confusion matrix of a classifier and the per-class and averaged precision,
/// recall and F1 computed from it, with scikit-learn's definitions.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metric.hpp"

namespace lepton::metrics {

/// How per-class scores are combined into one number (scikit-learn's `average=`).
enum class average {
    micro,    ///< from the summed counts of all classes; precision = recall = F1 = accuracy
    macro,    ///< unweighted mean over classes
    weighted  ///< mean over classes weighted by their support (number of true samples)
};

/// Counts of (true class, predicted class) pairs for a fixed number of classes.
///
/// A score whose denominator is zero (precision of a class never predicted,
/// recall of a class with no samples) is 0, scikit-learn's default
/// (`zero_division="warn"` gives 0 and warns; nothing is printed here). Such
/// zeros take part in macro and weighted averages, as in scikit-learn.
class confusion_matrix {
public:
    /// A matrix for `classes` >= 1 classes, all counts zero.
    explicit confusion_matrix(std::size_t classes) : classes_(classes), counts_(classes * classes, 0)
    {
        if (classes == 0) throw value_error("lepton: confusion_matrix needs at least one class");
    }

    /// Number of classes.
    std::size_t classes() const noexcept { return classes_; }

    /// Sets every count to zero.
    void reset() { std::fill(counts_.begin(), counts_.end(), std::size_t(0)); }

    /// Adds one sample of class `true_label` predicted as `predicted`.
    void add(std::int32_t true_label, std::int32_t predicted)
    {
        detail::check_label("confusion_matrix", true_label, 0, classes_);
        detail::check_label("confusion_matrix (predicted)", predicted, 0, classes_);
        ++counts_[static_cast<std::size_t>(true_label) * classes_ + static_cast<std::size_t>(predicted)];
    }

    /// Adds one sample per pair of `true_labels[i]`, `predicted[i]`.
    void add(std::span<const std::int32_t> true_labels, std::span<const std::int32_t> predicted)
    {
        if (true_labels.size() != predicted.size())
            throw shape_error("lepton: confusion_matrix got " + std::to_string(true_labels.size()) +
                              " true labels but " + std::to_string(predicted.size()) + " predictions");
        for (std::size_t i = 0; i < true_labels.size(); ++i) add(true_labels[i], predicted[i]);
    }

    /// Adds a batch of network outputs: [N, classes] logits predict their arg-max
    /// (the first on ties); with two classes, [N, 1] logits predict 1 when the logit is >= 0.
    template <class T>
    void update(const tensor<T, 2>& outputs, std::span<const std::int32_t> labels)
    {
        const std::size_t columns = detail::check_batch("confusion_matrix", outputs, labels);
        const bool binary = columns == 1 && classes_ == 2;
        if (!binary && columns != classes_)
            throw shape_error("lepton: confusion_matrix of " + std::to_string(classes_) + " classes got outputs " +
                              shape_string(outputs.shape()));
        for (std::size_t r = 0; r < labels.size(); ++r) {
            detail::check_label("confusion_matrix", labels[r], r, classes_);
            const T* z = outputs.data() + r * columns;
            const std::size_t p = binary ? std::size_t(z[0] >= T(0)) : detail::argmax(z, columns);
            ++counts_[static_cast<std::size_t>(labels[r]) * classes_ + p];
        }
    }

    /// Samples of class `true_label` predicted as `predicted`.
    std::size_t count(std::size_t true_label, std::size_t predicted) const
    {
        check_class(true_label);
        check_class(predicted);
        return counts_[true_label * classes_ + predicted];
    }

    /// Sets the samples of class `true_label` predicted as `predicted` to `n`
    /// (matrices combined from several processes).
    void set_count(std::size_t true_label, std::size_t predicted, std::size_t n)
    {
        check_class(true_label);
        check_class(predicted);
        counts_[true_label * classes_ + predicted] = n;
    }

    /// The counts as rows (true class) of columns (predicted class).
    std::vector<std::vector<std::size_t>> rows() const
    {
        std::vector<std::vector<std::size_t>> m(classes_);
        for (std::size_t t = 0; t < classes_; ++t)
            m[t].assign(counts_.begin() + std::ptrdiff_t(t * classes_), counts_.begin() + std::ptrdiff_t((t + 1) * classes_));
        return m;
    }

    /// All samples added.
    std::size_t total() const noexcept
    {
        std::size_t s = 0;
        for (auto c : counts_) s += c;
        return s;
    }

    /// Samples whose true class is `c` (the row sum).
    std::size_t support(std::size_t c) const
    {
        check_class(c);
        std::size_t s = 0;
        for (std::size_t p = 0; p < classes_; ++p) s += counts_[c * classes_ + p];
        return s;
    }

    /// Samples predicted as `c` (the column sum).
    std::size_t predicted(std::size_t c) const
    {
        check_class(c);
        std::size_t s = 0;
        for (std::size_t t = 0; t < classes_; ++t) s += counts_[t * classes_ + c];
        return s;
    }

    /// Fraction of samples on the diagonal; 0 when empty.
    double accuracy() const noexcept
    {
        std::size_t diagonal = 0;
        for (std::size_t c = 0; c < classes_; ++c) diagonal += counts_[c * classes_ + c];
        return ratio(diagonal, total());
    }

    /// tp / (tp + fp) of class `c`; 0 when `c` is never predicted.
    double precision(std::size_t c) const { return ratio(count(c, c), predicted(c)); }
    /// tp / (tp + fn) of class `c`; 0 when `c` has no samples.
    double recall(std::size_t c) const { return ratio(count(c, c), support(c)); }
    /// 2 tp / (2 tp + fp + fn) of class `c` (the harmonic mean of precision and
    /// recall); 0 when `c` is neither present nor predicted.
    double f1(std::size_t c) const { return ratio(2 * count(c, c), support(c) + predicted(c)); }

    /// Precision averaged over classes.
    double precision(average a) const { return averaged(a, &confusion_matrix::precision); }
    /// Recall averaged over classes.
    double recall(average a) const { return averaged(a, &confusion_matrix::recall); }
    /// F1 averaged over classes (macro F1 is the mean of per-class F1, as scikit-learn).
    double f1(average a) const { return averaged(a, &confusion_matrix::f1); }

    /// The matrix as text: a header row of predicted classes, then one row per
    /// true class, columns right-aligned, e.g.
    /// \code
    /// true\pred  cat  dog
    ///       cat    5    1
    ///       dog    0    4
    /// \endcode
    /// `class_names` (one per class) label the rows and columns; the class
    /// indices are used when it is empty.
    std::string to_string(const std::vector<std::string>& class_names = {}) const
    {
        const std::vector<std::string> names = labels(class_names);
        const std::string corner = "true\\pred";
        std::size_t first = corner.size(), width = 1;
        for (const auto& n : names) first = std::max(first, n.size());
        for (std::size_t c = 0; c < classes_; ++c) width = std::max(width, names[c].size());
        for (auto v : counts_) width = std::max(width, std::to_string(v).size());
        auto pad = [](const std::string& s, std::size_t w) { return std::string(w - std::min(w, s.size()), ' ') + s; };
        std::string out = pad(corner, first);
        for (std::size_t c = 0; c < classes_; ++c) out += "  " + pad(names[c], width);
        out += '\n';
        for (std::size_t t = 0; t < classes_; ++t) {
            out += pad(names[t], first);
            for (std::size_t p = 0; p < classes_; ++p) out += "  " + pad(std::to_string(counts_[t * classes_ + p]), width);
            out += '\n';
        }
        return out;
    }

    /// `class_names` when it has one name per class, the indices "0", "1", ...
    /// when it is empty; throws `value_error` otherwise.
    std::vector<std::string> labels(const std::vector<std::string>& class_names) const
    {
        if (class_names.empty()) {
            std::vector<std::string> names;
            for (std::size_t c = 0; c < classes_; ++c) names.push_back(std::to_string(c));
            return names;
        }
        if (class_names.size() != classes_)
            throw value_error("lepton: " + std::to_string(class_names.size()) + " class names for a confusion matrix of " +
                              std::to_string(classes_) + " classes");
        return class_names;
    }

private:
    static double ratio(std::size_t num, std::size_t den) noexcept { return den ? double(num) / double(den) : 0.0; }

    void check_class(std::size_t c) const
    {
        if (c >= classes_)
            throw value_error("lepton: class " + std::to_string(c) + " is outside [0, " + std::to_string(classes_) + ")");
    }

    double averaged(average a, double (confusion_matrix::*score)(std::size_t) const) const
    {
        if (a == average::micro) {
            // Every sample is one tp or one (fp, fn) pair: micro P = R = F1 = accuracy.
            return accuracy();
        }
        double sum = 0;
        std::size_t weight = 0;
        for (std::size_t c = 0; c < classes_; ++c) {
            const std::size_t w = a == average::macro ? 1 : support(c);
            sum += (this->*score)(c) * double(w);
            weight += w;
        }
        return weight ? sum / double(weight) : 0.0;
    }

    std::size_t classes_;
    std::vector<std::size_t> counts_;  // row-major [true][predicted]
};

} // namespace lepton::metrics
