#pragma once
/// \file
/// Learning-rate callbacks: a schedule applied at the start of every epoch
/// (Keras' LearningRateScheduler), and ReduceLROnPlateau.

#include <algorithm>
#include <functional>
#include <string>

#include "../callback.hpp"
#include "monitor.hpp"

namespace lepton {

/// Sets the learning rate to `schedule(epoch)` before every epoch (see optim/schedules.hpp).
template <class T = float>
class LearningRateScheduler : public Callback<T> {
public:
    /// `schedule` maps the 0-based epoch to a learning rate.
    explicit LearningRateScheduler(std::function<double(int)> schedule) : schedule_(std::move(schedule)) {}
    /// Applies the schedule.
    void on_epoch_begin(training_context<T>& ctx, int epoch) override { ctx.set_learning_rate(schedule_(epoch)); }

private:
    std::function<double(int)> schedule_;
};

/// ReduceLROnPlateau's settings (Keras' and PyTorch's defaults).
struct ReduceLROnPlateauOptions {
    std::string monitor = "val_loss";             ///< quantity to watch
    double factor = 0.1;                          ///< new lr = lr * factor
    int patience = 10;                            ///< epochs without improvement before reducing
    double min_delta = 1e-4;                      ///< smaller changes do not count as improvement
    int cooldown = 0;                             ///< epochs to wait after a reduction
    double min_lr = 0.0;                          ///< lower bound
    monitor_mode mode = monitor_mode::automatic;  ///< whether smaller or larger is better
};

/// Multiplies the learning rate by `factor` when the monitored quantity stalls.
template <class T = float>
class ReduceLROnPlateau : public Callback<T> {
public:
    /// Watches `options.monitor`.
    explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {})
        : options_(options), monitor_(options.monitor, options.mode, options.min_delta)
    {
    }
    /// Resets the counters.
    void on_train_begin(training_context<T>&) override
    {
        monitor_.reset();
        wait_ = cooldown_ = 0;
    }
    /// Counts stalled epochs; reduces after `patience` of them.
    void on_epoch_end(training_context<T>& ctx, int epoch, const logs& l) override
    {
        if (cooldown_ > 0) {
            --cooldown_;
            wait_ = 0;
        }
        if (monitor_.improved(l)) {
            wait_ = 0;
            return;
        }
        if (cooldown_ > 0 || ++wait_ < options_.patience) return;
        const double old_lr = ctx.learning_rate();
        if (old_lr > options_.min_lr) {
            const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
            ctx.set_learning_rate(new_lr);
            if (ctx.message)
                ctx.message("ReduceLROnPlateau: epoch " + std::to_string(epoch + 1) + ", learning rate " +
                            std::to_string(old_lr) + " -> " + std::to_string(new_lr));
        }
        cooldown_ = options_.cooldown;
        wait_ = 0;
    }

private:
    ReduceLROnPlateauOptions options_;
    detail::monitor monitor_;
    int wait_ = 0, cooldown_ = 0;
};

} // namespace lepton
