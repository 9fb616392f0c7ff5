#include "training_outputs.hpp"

#include <cstdio>
#include <filesystem>

#include <lepton/io/plot.hpp>
#include <lepton/metrics/classification_report.hpp>
#include <lepton/train/callbacks/history_plot.hpp>
#include <lepton/train/history_csv.hpp>

void report_training(const std::string& dir, const std::string& prefix, const std::string& title,
                            const lepton::History& history, const lepton::metrics::confusion_matrix& confusion,
                            const std::vector<std::string>& class_names)
{
    std::printf("\n%s\n", lepton::metrics::classification_report(confusion, class_names).c_str());
    const std::filesystem::path out(dir);
    std::filesystem::create_directories(out);
    lepton::save_history_csv((out / (prefix + "_history.csv")).string(), history);
    std::string written = prefix + "_history.csv";
    if (LEPTON_HAS_PNG) {
        lepton::plot_history((out / (prefix + "_curves.png")).string(), history, {}, title);
        lepton::io::plot_heatmap((out / (prefix + "_confusion.png")).string(), title + ": test set", confusion.rows(),
                                 class_names);
        written += ", " + prefix + "_curves.png, " + prefix + "_confusion.png";
    }
    std::printf("wrote %s in %s\n", written.c_str(), dir.c_str());
}
