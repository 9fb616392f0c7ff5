#pragma once
/// \file
/// ModelCheckpoint: saves the weights after every epoch, or only when the
/// monitored quantity improves. Writes are atomic (see io/checkpoint.hpp), so
/// the previous file survives a crash during saving. This header is not part
/// of lepton.hpp: it brings in the safetensors writer (nlohmann_json).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "../../distributed/process_group.hpp"
#include "../../io/checkpoint.hpp"

#include "../callback.hpp"
#include "monitor.hpp"

namespace lepton {

/// ModelCheckpoint's settings.
struct ModelCheckpointOptions {
    /// Target file; "{epoch}" is replaced by the 1-based epoch number.
    std::string path = "checkpoint.safetensors";
    std::string monitor = "val_loss";             ///< quantity deciding "best"
    bool save_best_only = false;                  ///< save only when `monitor` improves
    monitor_mode mode = monitor_mode::automatic;  ///< whether smaller or larger is better
};

/// Saves the model's weights at the end of epochs.
template <class T = float>
class ModelCheckpoint : public Callback<T> {
public:
    /// Saves with `save(path)` (e.g. `io::save_weights` bound to a network; see
    /// `model_checkpoint`) to `options.path`.
    ModelCheckpoint(std::function<void(const std::string&)> save, ModelCheckpointOptions options)
        : save_(std::move(save)), options_(std::move(options)), monitor_(options_.monitor, options_.mode, 0.0)
    {
    }

    /// Forgets the best value of an earlier run.
    void on_train_begin(training_context<T>&) override { monitor_.reset(); }

    /// Saves when due; a non-finite monitored value never counts as best.
    /// In data-parallel training rank 0 writes and every rank waits for it, so
    /// that any rank may read the file afterwards; when rank 0 fails to write,
    /// every rank throws (rank 0 its own error), rather than the others waiting for ever.
    void on_epoch_end(training_context<T>& ctx, int epoch, const logs& l) override
    {
        if (options_.save_best_only && !monitor_.improved(l)) return;
        const std::string path = expand(epoch + 1);
        auto save = [&] {
            if (ctx.rank == 0) save_(path);
        };
        if (ctx.share_failure) {
            ctx.share_failure(distributed::failure_of(save), "writing the checkpoint " + path);
        } else {
            save();
            if (ctx.barrier) ctx.barrier();
        }
        last_saved_ = path;
    }

    /// The file written last, or empty.
    const std::string& last_saved() const noexcept { return last_saved_; }

private:
    std::string expand(int epoch) const
    {
        static constexpr std::string_view key = "{epoch}";
        const std::string_view p = options_.path;
        std::string out;
        for (std::size_t at = 0; at < p.size();) {
            if (p.substr(at, key.size()) == key) {
                out += std::to_string(epoch);
                at += key.size();
            } else {
                out += p[at++];
            }
        }
        return out;
    }

    std::function<void(const std::string&)> save_;
    ModelCheckpointOptions options_;
    detail::monitor monitor_;
    std::string last_saved_;
};

/// A ModelCheckpoint that saves `net`'s weights with `io::save_weights`.
template <class Net>
std::shared_ptr<ModelCheckpoint<typename Net::value_type>> model_checkpoint(Net& net, ModelCheckpointOptions options)
{
    return std::make_shared<ModelCheckpoint<typename Net::value_type>>(
        [&net](const std::string& path) { io::save_weights(net, path); }, std::move(options));
}

} // namespace lepton
