// What the main example reports after training: scikit-learn's classification
// report on stdout, the training curves as CSV and PNG, and the confusion
// matrix as a PNG heat map. Built in a translation unit of its own, apart from
// the network's, so each stays quick to compile.
#pragma once

#include <string>
#include <vector>

#include <lepton/metrics/confusion_matrix.hpp>
#include <lepton/train/history.hpp>

/// Prints the classification report, then writes `<prefix>_history.csv`,
/// `<prefix>_curves.png` and `<prefix>_confusion.png` into `dir` (created if
/// missing; the PNG files only with PNG support) and says so.
void report_training(const std::string& dir, const std::string& prefix, const std::string& title,
                            const lepton::History& history, const lepton::metrics::confusion_matrix& confusion,
                            const std::vector<std::string>& class_names);
