#pragma once
/// \file
/// TerminateOnNaN: stops training at the first batch whose loss is not finite
/// and rolls the weights back to the end of the last good epoch (or to where
/// training started), so a diverged run leaves usable weights behind.

#include <cmath>
#include <string>
#include <vector>

#include "../callback.hpp"

namespace lepton {

/// Stops on a NaN or infinite loss and restores the last good weights.
template <class T = float>
class TerminateOnNaN : public Callback<T> {
public:
    /// Takes the first snapshot.
    void on_train_begin(training_context<T>& ctx) override
    {
        good_ = ctx.snapshot();
        good_epoch_ = 0;
        terminated_ = false;
    }
    /// Checks the batch loss.
    void on_batch_end(training_context<T>& ctx, std::size_t batch, const logs& l) override
    {
        const double loss = l.get("loss");
        if (std::isfinite(loss)) return;
        ctx.restore(good_);
        ctx.stop_training = true;
        terminated_ = true;
        if (ctx.message)
            ctx.message("TerminateOnNaN: loss became " + std::to_string(loss) + " at batch " + std::to_string(batch + 1) +
                        "; training stopped and the weights from " +
                        (good_epoch_ == 0 ? std::string("before the first epoch")
                                          : "the end of epoch " + std::to_string(good_epoch_)) +
                        " were restored");
    }
    /// Remembers the weights of an epoch that ended with a finite loss.
    void on_epoch_end(training_context<T>& ctx, int epoch, const logs& l) override
    {
        if (terminated_ || !std::isfinite(l.get("loss"))) return;
        good_ = ctx.snapshot();
        good_epoch_ = epoch + 1;
    }
    /// Whether training was stopped by a non-finite loss.
    bool terminated() const noexcept { return terminated_; }

private:
    std::vector<T> good_;
    int good_epoch_ = 0;
    bool terminated_ = false;
};

} // namespace lepton
