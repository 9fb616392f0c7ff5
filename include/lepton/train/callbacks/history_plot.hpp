#pragma once
/// \file
/// Training curves as pictures: `plot_history` draws a History's losses (or
/// any of its series) as a PNG line chart, and the `HistoryPlot` callback
/// redraws it after every epoch so a long run can be watched.

#include <algorithm>
#include <string>
#include <vector>

#include "../../io/plot.hpp"
#include "../callback.hpp"
#include "../history.hpp"

namespace lepton {

/// Draws the series of `history` named in `names` (every series but "lr" when
/// empty) as one line chart at `path`.
inline void plot_history(const std::string& path, const History& history, const std::vector<std::string>& names = {},
                         const std::string& title = "training")
{
    std::vector<io::curve> curves;
    for (const auto& [name, values] : history.series()) {
        const bool wanted = names.empty() ? name != "lr" : std::find(names.begin(), names.end(), name) != names.end();
        if (wanted) curves.push_back({name, values});
    }
    io::plot_curves(path, title, curves);
}

/// Rewrites a `plot_history` picture of the named series at the end of every epoch.
template <class T = float>
class HistoryPlot : public Callback<T> {
public:
    /// Plots `names` (everything but "lr" when empty) to `path`.
    explicit HistoryPlot(std::string path, std::vector<std::string> names = {}, std::string title = "training")
        : path_(std::move(path)), names_(std::move(names)), title_(std::move(title))
    {
    }
    /// Redraws the picture with the epochs so far.
    void on_epoch_end(training_context<T>& ctx, int, const logs&) override
    {
        if (ctx.history && ctx.rank == 0) plot_history(path_, *ctx.history, names_, title_);
    }

private:
    std::string path_;
    std::vector<std::string> names_;
    std::string title_;
};

} // namespace lepton
