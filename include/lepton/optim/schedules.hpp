#pragma once
/// \file
/// Learning-rate schedules as functions of the 0-based epoch, with PyTorch's
/// formulas (StepLR, ExponentialLR) and a cosine decay after a linear warm-up.
/// Use them with the `LearningRateScheduler` callback or call them yourself.

#include <algorithm>
#include <cmath>
#include <numbers>

namespace lepton::schedules {

/// lr = base_lr * gamma^floor(epoch / step_size) (`torch.optim.lr_scheduler.StepLR`).
struct step_decay {
    double base_lr;     ///< learning rate of the first epochs
    int step_size;      ///< epochs between decays (at least 1)
    double gamma = 0.1; ///< factor applied at every decay
    /// The learning rate of `epoch`.
    double operator()(int epoch) const { return base_lr * std::pow(gamma, double(epoch / std::max(step_size, 1))); }
};

/// lr = base_lr * gamma^epoch (`torch.optim.lr_scheduler.ExponentialLR`).
struct exponential_decay {
    double base_lr;  ///< learning rate of epoch 0
    double gamma;    ///< factor per epoch
    /// The learning rate of `epoch`.
    double operator()(int epoch) const { return base_lr * std::pow(gamma, double(epoch)); }
};

/// Linear warm-up over `warmup_epochs` (base_lr * (epoch + 1) / warmup_epochs),
/// then half a cosine from base_lr at epoch `warmup_epochs` down to `min_lr`
/// at epoch `total_epochs` (`CosineAnnealingLR` with T_max = total - warm-up).
struct cosine_warmup {
    double base_lr;         ///< peak learning rate, reached when warm-up ends
    int total_epochs;       ///< epochs of the whole run
    int warmup_epochs = 0;  ///< epochs of linear warm-up
    double min_lr = 0.0;    ///< learning rate at the end
    /// The learning rate of `epoch`.
    double operator()(int epoch) const
    {
        if (epoch < warmup_epochs) return base_lr * double(epoch + 1) / double(warmup_epochs);
        const int span = total_epochs - warmup_epochs;
        if (span <= 0) return base_lr;
        const double t = std::min(1.0, double(epoch - warmup_epochs) / double(span));
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * t));
    }
};

} // namespace lepton::schedules
