#pragma once
/// \file
/// The hooks `fit` calls, and what a callback may look at and change while
/// training runs: the weights (to snapshot or restore), the learning rate,
/// and a flag that stops training.

#include <cstddef>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "history.hpp"

namespace lepton {

/// What `fit` shares with its callbacks (type-erased, so callbacks do not
/// depend on the network's type).
template <class T>
struct training_context {
    std::span<T> parameters;                          ///< the network's flat parameter buffer
    std::function<std::vector<T>()> snapshot;         ///< copies the weights (and layer buffers such as running statistics)
    std::function<void(const std::vector<T>&)> restore;  ///< puts a snapshot back
    std::function<double()> learning_rate;            ///< the optimizer's learning rate
    std::function<void(double)> set_learning_rate;    ///< changes it
    std::function<void(const std::string&)> message;  ///< prints a line between progress updates
    const History* history = nullptr;                 ///< the epochs so far
    int epochs = 0;                                   ///< epochs requested
    bool stop_training = false;                       ///< set to end training after the current epoch (at once on a non-finite loss)
    /// Data-parallel training: this process's rank and the number of ranks.
    /// Every rank runs every callback with the same logs (losses and metrics
    /// are reduced over ranks first), so decisions agree; callbacks that write
    /// files write on rank 0 only.
    int rank = 0;
    int ranks = 1;                                    ///< see `rank`
    std::function<void()> barrier;                    ///< waits for every rank (empty in one process)
    /// Every rank calls it together with its outcome of a step (null: it
    /// succeeded); returns when all succeeded, otherwise throws on every rank
    /// (`distributed::share_failure`). Empty in one process.
    std::function<void(const std::exception_ptr&, std::string_view)> share_failure;
};

/// Base of every callback; override what you need. Epochs count from 0.
template <class T = float>
class Callback {
public:
    virtual ~Callback() = default;
    /// Before the first epoch.
    virtual void on_train_begin(training_context<T>&) {}
    /// Before each epoch.
    virtual void on_epoch_begin(training_context<T>&, int /*epoch*/) {}
    /// After each batch, with the batch's "loss" (no optimizer step is taken when it is not finite).
    virtual void on_batch_end(training_context<T>&, std::size_t /*batch*/, const logs&) {}
    /// After each epoch (and its validation), with the epoch's logs.
    virtual void on_epoch_end(training_context<T>&, int /*epoch*/, const logs&) {}
    /// After the last epoch, or when training stopped.
    virtual void on_train_end(training_context<T>&) {}
};

/// A callback from plain functions (Keras' LambdaCallback).
template <class T = float>
class LambdaCallback : public Callback<T> {
public:
    std::function<void(training_context<T>&, int, const logs&)> epoch_end;        ///< called by on_epoch_end
    std::function<void(training_context<T>&, std::size_t, const logs&)> batch_end;  ///< called by on_batch_end

    /// Calls `epoch_end` when set.
    void on_epoch_end(training_context<T>& ctx, int epoch, const logs& l) override
    {
        if (epoch_end) epoch_end(ctx, epoch, l);
    }
    /// Calls `batch_end` when set.
    void on_batch_end(training_context<T>& ctx, std::size_t batch, const logs& l) override
    {
        if (batch_end) batch_end(ctx, batch, l);
    }
};

} // namespace lepton
