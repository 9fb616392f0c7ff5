#pragma once
/// \file
/// EarlyStopping, as Keras': stop when the monitored quantity has not improved
/// by more than `min_delta` for `patience` epochs, optionally restoring the
/// weights of the best epoch.

#include <string>
#include <vector>

#include "../callback.hpp"
#include "monitor.hpp"

namespace lepton {

/// EarlyStopping's settings (Keras' defaults, except the monitor's name).
struct EarlyStoppingOptions {
    std::string monitor = "val_loss";                ///< logged quantity to watch
    int patience = 0;                                ///< epochs without improvement before stopping
    double min_delta = 0.0;                          ///< smaller changes do not count as improvement
    monitor_mode mode = monitor_mode::automatic;     ///< whether smaller or larger is better
    bool restore_best_weights = false;               ///< put back the best epoch's weights when stopping
};

/// Stops training when the monitored quantity stops improving.
template <class T = float>
class EarlyStopping : public Callback<T> {
public:
    /// Watches `options.monitor`.
    explicit EarlyStopping(EarlyStoppingOptions options = {})
        : options_(options), monitor_(options.monitor, options.mode, options.min_delta)
    {
    }

    /// Resets the count and the best value.
    void on_train_begin(training_context<T>&) override
    {
        monitor_.reset();
        wait_ = 0;
        stopped_epoch_ = -1;
        best_epoch_ = -1;
        best_weights_.clear();
    }

    /// Counts epochs without improvement; stops after `patience` of them.
    void on_epoch_end(training_context<T>& ctx, int epoch, const logs& l) override
    {
        if (monitor_.improved(l)) {
            wait_ = 0;
            best_epoch_ = epoch;
            if (options_.restore_best_weights) best_weights_ = ctx.snapshot();
            return;
        }
        if (++wait_ >= options_.patience) {  // Keras: stop once `patience` epochs have not improved
            stopped_epoch_ = epoch;
            ctx.stop_training = true;
            if (options_.restore_best_weights && !best_weights_.empty()) {
                ctx.restore(best_weights_);
                if (ctx.message)
                    ctx.message("EarlyStopping: restoring the weights of epoch " + std::to_string(best_epoch_ + 1));
            }
        }
    }

    /// The epoch (0-based) training stopped after, or -1 when it ran to the end.
    int stopped_epoch() const noexcept { return stopped_epoch_; }
    /// The epoch (0-based) with the best monitored value, or -1.
    int best_epoch() const noexcept { return best_epoch_; }

private:
    EarlyStoppingOptions options_;
    detail::monitor monitor_;
    int wait_ = 0, stopped_epoch_ = -1, best_epoch_ = -1;
    std::vector<T> best_weights_;
};

} // namespace lepton
