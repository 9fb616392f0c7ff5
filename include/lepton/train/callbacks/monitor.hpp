#pragma once
/// \file
/// Watching one logged quantity for improvement, shared by EarlyStopping,
/// ModelCheckpoint and ReduceLROnPlateau.

#include <cmath>
#include <limits>
#include <string>

#include "../history.hpp"

namespace lepton {

/// Whether a smaller or a larger value of the monitored quantity is better.
enum class monitor_mode {
    automatic,  ///< larger for names containing "acc", "f1", "precision" or "recall"; smaller otherwise
    min,        ///< smaller is better (losses)
    max         ///< larger is better (accuracies)
};

namespace detail {

/// Tracks the best value of `name` seen so far.
class monitor {
public:
    monitor(std::string name, monitor_mode mode, double min_delta) : name_(std::move(name)), min_delta_(std::abs(min_delta))
    {
        if (mode == monitor_mode::automatic) {
            const bool larger = name_.find("acc") != std::string::npos || name_.find("f1") != std::string::npos ||
                                name_.find("precision") != std::string::npos || name_.find("recall") != std::string::npos;
            mode = larger ? monitor_mode::max : monitor_mode::min;
        }
        maximize_ = mode == monitor_mode::max;
        reset();
    }

    void reset() noexcept { best_ = maximize_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity(); }

    /// Whether `l`'s value improves on the best by more than min_delta; records it if so.
    /// A non-finite value never improves.
    bool improved(const logs& l)
    {
        const double v = l.get(name_);
        if (!std::isfinite(v)) return false;
        const bool better = maximize_ ? v - min_delta_ > best_ : v + min_delta_ < best_;
        if (better) best_ = v;
        return better;
    }

    double best() const noexcept { return best_; }
    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
    double min_delta_;
    bool maximize_ = false;
    double best_ = 0;
};

} // namespace detail
} // namespace lepton
