#pragma once
/// \file
/// scikit-learn's `classification_report` text, from a confusion matrix.

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "confusion_matrix.hpp"

namespace lepton::metrics {

namespace detail {

/// Python's "{:>{width}s}".
inline std::string right(const std::string& s, std::size_t width)
{
    return std::string(width - std::min(width, s.size()), ' ') + s;
}

/// Python's " {:>9.{digits}f}" (printf rounds the binary value as Python does).
inline std::string score_cell(double v, int digits)
{
    char buf[512];
    std::snprintf(buf, sizeof buf, " %9.*f", digits, v);
    return buf;
}

} // namespace detail

/// The text `sklearn.metrics.classification_report(y_true, y_pred,
/// labels=range(classes), target_names=class_names, digits=digits)` prints for
/// the samples counted in `m`, character for character:
///
/// \code
///               precision    recall  f1-score   support
///
///          cat     0.6667    1.0000    0.8000         2
///          dog     1.0000    0.5000    0.6667         2
///
///     accuracy                         0.7500         4
///    macro avg     0.8333    0.7500    0.7333         4
/// weighted avg     0.8333    0.7500    0.7333         4
/// \endcode
///
/// The name column is as wide as the longest class name, "weighted avg" or
/// `digits`, whichever is widest; every class is listed, also one with no
/// samples and no predictions (scikit-learn lists those only when `labels` is
/// given). Scores with a zero denominator are 0 (see `confusion_matrix`).
/// `class_names` needs one name per class, or none for "0", "1", ...
inline std::string classification_report(const confusion_matrix& m, const std::vector<std::string>& class_names = {},
                                         int digits = 4)
{
    if (digits < 0 || digits > 100) throw value_error("lepton: classification_report digits must be in [0, 100]");
    const std::vector<std::string> names = m.labels(class_names);
    std::size_t width = std::string("weighted avg").size();
    width = std::max(width, static_cast<std::size_t>(digits));
    for (const auto& n : names) width = std::max(width, n.size());

    auto row = [&](const std::string& heading, double p, double r, double f, std::size_t support) {
        char count[32];
        std::snprintf(count, sizeof count, " %9zu\n", support);
        return detail::right(heading, width) + " " + detail::score_cell(p, digits) + detail::score_cell(r, digits) +
               detail::score_cell(f, digits) + count;
    };

    std::string out = detail::right("", width) + " " + " precision" + "    recall" + "  f1-score" + "   support" + "\n\n";
    for (std::size_t c = 0; c < m.classes(); ++c) out += row(names[c], m.precision(c), m.recall(c), m.f1(c), m.support(c));
    out += "\n";
    // Single-label samples over all classes: the micro average is the accuracy, printed without precision and recall.
    char count[32];
    std::snprintf(count, sizeof count, " %9zu\n", m.total());
    out += detail::right("accuracy", width) + " " + std::string(20, ' ') + detail::score_cell(m.accuracy(), digits) + count;
    out += row("macro avg", m.precision(average::macro), m.recall(average::macro), m.f1(average::macro), m.total());
    out += row("weighted avg", m.precision(average::weighted), m.recall(average::weighted), m.f1(average::weighted),
               m.total());
    return out;
}

} // namespace lepton::metrics
