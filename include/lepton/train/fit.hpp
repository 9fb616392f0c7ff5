#pragma once
/// \file
/// `fit`, `evaluate` and `predict`, Keras' training workflow for any network:
///
///     auto history = lepton::fit(net, optimizer, loss, train,
///                                {.epochs = 3, .batch_size = 64, .validation = &test,
///                                 .metrics = {std::make_shared<metrics::accuracy<float>>()}});
///
/// `fit` switches the network to training mode for its steps and to evaluation
/// mode for validation (Dropout, BatchNorm; a frozen BatchNorm stays in
/// evaluation mode, see `frozen_batchnorm`), shows a progress bar, calls the
/// callbacks, and returns the per-epoch History. A batch whose loss is not
/// finite stops training and restores the last good weights (TerminateOnNaN,
/// on by default).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../data/dataset.hpp"
#include "../distributed/data_parallel.hpp"
#include "../distributed/process_group.hpp"
#include "../metrics/metric.hpp"
#include "../optim/clip.hpp"
#include "callback.hpp"
#include "callbacks/terminate_on_nan.hpp"
#include "history.hpp"
#include "progress.hpp"

namespace lepton {

/// The metric type `fit` and `evaluate` take for data sets of target rank
/// `TargetRank`: `metrics::metric` for class labels, `metrics::target_metric` for target tensors.
template <class T, std::size_t TargetRank>
using metric_for = std::conditional_t<TargetRank == 0, metrics::metric<T>, metrics::target_metric<T>>;

/// What `fit` does besides the epochs and batches (Keras' `fit` arguments).
template <class T, std::size_t SampleRank, std::size_t TargetRank = 0>
struct fit_options {
    int epochs = 1;                     ///< epochs to train
    std::size_t batch_size = 32;        ///< samples per optimizer step
    bool shuffle = true;                ///< reshuffle the training set every epoch
    std::uint64_t seed = 0;             ///< seeds the shuffling
    /// Evaluated after every epoch; its results are logged as "val_loss", "val_<metric>".
    const data::Dataset<T, SampleRank, TargetRank>* validation = nullptr;
    std::size_t validation_batch_size = 1000;  ///< samples per validation forward pass
    std::vector<std::shared_ptr<metric_for<T, TargetRank>>> metrics{};  ///< computed on training and validation data
    std::vector<std::shared_ptr<Callback<T>>> callbacks{};       ///< called in this order
    /// Per-batch transform of the training features (augmentation), e.g. `data::random_horizontal_flip`.
    std::function<void(tensor<T, SampleRank + 1>&, random_engine&)> transform{};
    double clip_grad_norm = 0;          ///< clip the global gradient norm to this (0: off)
    bool terminate_on_nan = true;       ///< add a TerminateOnNaN callback
    int initial_epoch = 0;              ///< epoch to start from (resuming)
    verbosity verbose = verbosity::automatic;  ///< progress display
    std::FILE* out = stdout;            ///< where progress goes
    /// Data-parallel training over a group of processes (`distributed/mpi.hpp`):
    /// every rank calls `fit` with the same options, trains on its shard of
    /// every batch (`batch_size` samples per rank; see `BatchLoader::shard`)
    /// and averages gradients through `distributed::DataParallel`; losses,
    /// metrics and validation are reduced over all ranks, progress shows on
    /// rank 0 only, and callbacks that write files write on rank 0.
    distributed::process_group* process_group = nullptr;
    distributed::data_parallel_options data_parallel{};  ///< gradient buckets
};

/// What `evaluate` does.
template <class T, std::size_t TargetRank = 0>
struct evaluate_options {
    std::size_t batch_size = 1000;                                       ///< samples per forward pass
    std::vector<std::shared_ptr<metric_for<T, TargetRank>>> metrics{};  ///< computed over the whole set
    /// Splits the set between these processes and reduces the results (every rank gets them).
    distributed::process_group* process_group = nullptr;
};

namespace detail {

/// Class metrics take [N, classes] outputs; networks with other output ranks get none.
template <class T, class Output>
void update_metrics(const std::vector<std::shared_ptr<metrics::metric<T>>>& ms, const Output& outputs,
                    std::span<const std::int32_t> labels)
{
    if constexpr (Output::rank == 2)
        for (const auto& m : ms) m->update(outputs, labels);
}

/// Target metrics take outputs and targets of one shape, [N, values per sample...].
template <class T, class Output, class Targets>
void update_metrics(const std::vector<std::shared_ptr<metrics::target_metric<T>>>& ms, const Output& outputs,
                    const Targets& targets)
{
    if (ms.empty()) return;
    if (!std::equal(outputs.shape().begin(), outputs.shape().end(), targets.shape().begin()))
        throw shape_error("lepton: metrics: outputs " + shape_string(outputs.shape()) + " but targets " +
                          shape_string(targets.shape()));
    const std::size_t rows = outputs.shape()[0], columns = rows ? outputs.size() / rows : 0;
    for (const auto& m : ms)
        m->update(std::span<const T>(outputs.data(), outputs.size()), std::span<const T>(targets.data(), targets.size()),
                  columns);
}

/// What a batch holds for the loss: its labels or its targets.
template <class Batch>
const auto& targets_of(const Batch& batch)
{
    if constexpr (requires { batch.labels; })
        return batch.labels;
    else
        return batch.targets;
}

/// Wiring check for `fit` and `evaluate` on target tensors: the network's
/// outputs must have the targets' rank ([N, values...] against [N, values...]).
template <class Net, std::size_t TargetRank>
constexpr void check_target_rank()
{
    static_assert(TargetRank == 0 || Net::output_shape::rank == TargetRank,
                  "Lepton: the data set's targets have another rank than the network's outputs");
}

/// The weights and, when the network has them, its layers' buffers (BatchNorm's
/// running statistics), as one array: what EarlyStopping and TerminateOnNaN restore.
template <class Net>
std::vector<typename Net::value_type> snapshot(Net& net)
{
    std::vector<typename Net::value_type> s(net.parameters().begin(), net.parameters().end());
    if constexpr (requires { net.for_each_buffer([](const auto&, auto, const auto&) {}); })
        net.for_each_buffer([&](const auto&, auto values, const auto&) { s.insert(s.end(), values.begin(), values.end()); });
    return s;
}

template <class Net>
void restore(Net& net, const std::vector<typename Net::value_type>& s)
{
    auto at = s.begin();
    std::copy(at, at + std::ptrdiff_t(net.parameters().size()), net.parameters().begin());
    at += std::ptrdiff_t(net.parameters().size());
    if constexpr (requires { net.for_each_buffer([](const auto&, auto, const auto&) {}); })
        net.for_each_buffer([&](const auto&, auto values, const auto&) {
            std::copy(at, at + std::ptrdiff_t(values.size()), values.begin());
            at += std::ptrdiff_t(values.size());
        });
}

/// Adds every metric's counts over the ranks of `group`; throws `value_error`
/// on every rank for a metric that cannot be combined so.
template <class Metrics>
void reduce_metrics(const Metrics& ms, distributed::process_group& group)
{
    if (ms.empty()) return;
    std::vector<double> all;
    std::string unusable;  // a metric without counts on this rank
    for (const auto& m : ms) {
        const std::vector<double> c = m->counts();
        if (c.empty() && unusable.empty()) unusable = m->name();
        all.insert(all.end(), c.begin(), c.end());
    }
    // Ranks with metrics of other sizes would add unrelated numbers, and a rank that
    // throws alone would leave the others waiting: check first, together.
    double sizes[3] = {double(all.size()), double(all.size()) * double(all.size()), unusable.empty() ? 0.0 : 1.0};
    group.all_reduce_sum(std::span<double>(sizes));
    if (sizes[2] != 0)
        throw value_error("lepton: " + (unusable.empty() ? std::string("a metric of another rank") : "the metric '" + unusable + "'") +
                          " cannot be combined over data-parallel ranks (a metric without counts(), or one that "
                          "saw no sample on some rank)");
    if (sizes[0] * sizes[0] != sizes[1] * double(group.size()))
        throw value_error("lepton: the ranks have different metrics");
    group.all_reduce_sum(all);
    std::size_t at = 0;
    for (const auto& m : ms) {
        const std::size_t k = m->counts().size();
        m->set_counts(std::span<const double>(all.data() + at, k));
        at += k;
    }
}

/// Loss and metrics over a data set in evaluation mode; keys prefixed with
/// `prefix`. With a group, every rank evaluates its share and gets the whole set's results.
template <class Net, class Loss, std::size_t SampleRank, std::size_t TargetRank>
logs evaluate_into(Net& net, Loss& loss, const data::Dataset<typename Net::value_type, SampleRank, TargetRank>& data,
                   std::size_t batch_size,
                   const std::vector<std::shared_ptr<metric_for<typename Net::value_type, TargetRank>>>& ms,
                   const std::string& prefix, distributed::process_group* group = nullptr)
{
    check_target_rank<Net, TargetRank>();
    // Back in its mode on every way out, an error included.
    struct mode_restorer {
        Net& net;
        bool was_training;
        ~mode_restorer() { net.train(was_training); }
    } const restore_mode{net, net.is_training()};
    net.eval();
    for (const auto& m : ms) m->reset();
    data::BatchLoader loader(data, batch_size, /*shuffle=*/false);
    if (group) loader.shard(std::size_t(group->rank()), std::size_t(group->size()), /*every_rank_gets_samples=*/false);
    double sums[2] = {0, 0};  // loss over the samples, samples
    auto evaluate_share = [&] {
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            auto batch = loader[b];
            const std::size_t n = batch.features.shape()[0];
            if (n == 0) continue;  // this rank's share of a last, small batch
            const auto& out = net.forward(batch.features);
            sums[0] += double(loss(out, targets_of(batch))) * double(n);
            sums[1] += double(n);
            update_metrics(ms, out, targets_of(batch));
        }
    };
    if (!group) {
        evaluate_share();
    } else {
        // A bad label in one rank's share must stop every rank, not leave the others in the reduction.
        distributed::share_failure(*group, distributed::failure_of(evaluate_share), "evaluating its share of the data");
        group->all_reduce_sum(std::span<double>(sums));
        reduce_metrics(ms, *group);
    }
    logs l;
    l.set(prefix + "loss", sums[0] / sums[1]);
    for (const auto& m : ms) l.set(prefix + m->name(), m->result());
    return l;
}

/// `fit`'s epochs over any loader with `start_epoch()`, `batches()` and `operator[]`.
template <class Net, class Optimizer, class Loss, class Loader, std::size_t SampleRank, std::size_t TargetRank>
History fit_batches(Net& net, Optimizer& optimizer, Loss& loss, Loader& loader,
                    const fit_options<typename Net::value_type, SampleRank, TargetRank>& options)
{
    using T = typename Net::value_type;
    check_target_rank<Net, TargetRank>();
    History history;
    distributed::process_group* const group = options.process_group;
    detail::progress progress(options.out, group && group->rank() != 0 ? verbosity::silent : options.verbose);

    std::vector<std::shared_ptr<Callback<T>>> callbacks = options.callbacks;
    if (options.terminate_on_nan) callbacks.insert(callbacks.begin(), std::make_shared<TerminateOnNaN<T>>());

    std::optional<distributed::DataParallel<Net>> replicas;  // checks the ranks agree and takes rank 0's weights
    if (group) {
        if constexpr (requires { loader.shard(std::size_t{0}, std::size_t{1}); }) {
            loader.shard(std::size_t(group->rank()), std::size_t(group->size()));
            replicas.emplace(net, *group, options.data_parallel);
        } else {
            throw value_error("lepton: fit: data-parallel training needs a loader that shards its batches "
                              "(data::BatchLoader, data::ImageLoader)");
        }
    }

    training_context<T> ctx;
    if (group) {
        ctx.rank = group->rank();
        ctx.ranks = group->size();
        ctx.barrier = [group] { group->barrier(); };
        ctx.share_failure = [group](const std::exception_ptr& failure, std::string_view what) {
            distributed::share_failure(*group, failure, what);
        };
    }
    // Callbacks run on every rank; one that throws on some ranks only (a file rank 0
    // cannot write) must stop all of them, not leave the others in their next collective.
    auto on_every_rank = [&](std::string_view what, auto&& call) {
        if (!group) return call();
        distributed::share_failure(*group, distributed::failure_of(call), what);
    };
    ctx.parameters = net.parameters();
    ctx.snapshot = [&] { return snapshot(net); };
    ctx.restore = [&](const std::vector<T>& s) { restore(net, s); };
    ctx.learning_rate = [&] { return optimizer.learning_rate(); };
    ctx.set_learning_rate = [&](double lr) { optimizer.set_learning_rate(lr); };
    ctx.message = [&](const std::string& text) { progress.message(text); };
    ctx.history = &history;
    ctx.epochs = options.epochs;

    on_every_rank("a callback's on_train_begin", [&] {
        for (auto& cb : callbacks) cb->on_train_begin(ctx);
    });

    for (int epoch = options.initial_epoch; epoch < options.epochs && !ctx.stop_training; ++epoch) {
        on_every_rank("a callback's on_epoch_begin", [&] {
            for (auto& cb : callbacks) cb->on_epoch_begin(ctx, epoch);
        });
        progress.epoch_begin(epoch, options.epochs, loader.batches());
        for (const auto& m : options.metrics) m->reset();
        net.train();
        loader.start_epoch();
        double loss_sum = 0;
        std::size_t seen = 0;
        bool completed = true;
        // A batch callback's error on this rank; the next batch's loss reduction tells the others.
        std::exception_ptr batch_failure;
        constexpr std::string_view batch_callbacks = "a callback's on_batch_end";
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            net.zero_grad();
            std::size_t n = 0;
            double batch_loss = 0;
            std::optional<std::remove_cvref_t<decltype(loader[b])>> batch;  // read again by backward
            auto load_forward_and_loss = [&] {
                batch.emplace(loader[b]);
                n = batch->features.shape()[0];
                if (n == 0 && group) return;  // a data-parallel rank's share of a last batch may be empty
                const auto& out = net.forward(batch->features);
                batch_loss = double(loss(out, targets_of(*batch)));
                update_metrics(options.metrics, out, targets_of(*batch));
            };
            // A data-parallel rank's error here (an image it cannot decode, a bad label in its share) is told
            // to the others below.
            std::exception_ptr step_failure;
            if (!group)
                load_forward_and_loss();
            else
                step_failure = distributed::failure_of(load_forward_and_loss);
            std::size_t batch_samples = n;
            if (group) {
                // The global batch's loss, so that every rank decides alike whether to step.
                double sums[4] = {batch_loss * double(n), double(n), batch_failure ? 1.0 : 0.0,
                                  step_failure ? 1.0 : 0.0};
                group->all_reduce_sum(std::span<double>(sums));
                if (sums[2] != 0) distributed::share_failure(*group, batch_failure, batch_callbacks);
                if (sums[3] != 0)
                    distributed::share_failure(*group, step_failure, "loading a batch or its forward pass and loss");
                batch_loss = sums[0] / sums[1];
                batch_samples = std::size_t(sums[1]);
            }
            if (std::isfinite(batch_loss)) {
                if (!group)
                    net.backward(loss.gradient());
                else if (n > 0)
                    replicas->backward(loss.gradient(), false, double(n) / double(batch_samples));
                else
                    replicas->synchronize(0.0);
                if (options.clip_grad_norm > 0) clip_grad_norm(net.gradients(), options.clip_grad_norm);
                optimizer.step();
                if (group) replicas->broadcast_buffers();  // BatchNorm statistics follow rank 0's, as PyTorch's DDP
            }
            loss_sum += batch_loss * double(batch_samples);
            seen += batch_samples;

            logs batch_logs;
            batch_logs.set("loss", batch_loss);
            auto batch_end = [&] {
                for (auto& cb : callbacks) cb->on_batch_end(ctx, b, batch_logs);
            };
            if (!group)
                batch_end();
            else
                batch_failure = distributed::failure_of(batch_end);  // a pending one was shared above
            if (ctx.stop_training && !std::isfinite(batch_loss)) {
                completed = false;  // a diverged epoch is not logged
                break;
            }
            logs running;
            running.set("loss", loss_sum / double(seen));
            for (const auto& m : options.metrics) running.set(m->name(), m->result());
            progress.update(b + 1, running, seen);
        }
        if (group) distributed::share_failure(*group, batch_failure, batch_callbacks);  // after the last batch
        if (!completed) break;

        logs epoch_logs;
        epoch_logs.set("loss", loss_sum / double(seen));
        if (group) reduce_metrics(options.metrics, *group);
        for (const auto& m : options.metrics) epoch_logs.set(m->name(), m->result());
        if (options.validation) {
            const logs v = evaluate_into(net, loss, *options.validation, options.validation_batch_size,
                                         options.metrics, "val_", group);
            for (const auto& [name, value] : v.items()) epoch_logs.set(name, value);
        }
        epoch_logs.set("lr", optimizer.learning_rate());
        progress.epoch_end(epoch_logs, seen);
        history.append(epoch_logs);
        on_every_rank("a callback's on_epoch_end", [&] {
            for (auto& cb : callbacks) cb->on_epoch_end(ctx, epoch, epoch_logs);
        });
    }
    on_every_rank("a callback's on_train_end", [&] {
        for (auto& cb : callbacks) cb->on_train_end(ctx);
    });
    return history;
}

} // namespace detail

/// What `fit` can take in place of a data set: a loader (`data::ImageLoader`)
/// that hands out batches of features and labels or targets, epoch by epoch.
template <class Loader>
concept batch_source = requires(Loader& loader) {
    loader.start_epoch();
    { loader.batches() } -> std::convertible_to<std::size_t>;
    loader[std::size_t{0}].features;
    Loader::sample_rank;
    Loader::target_rank;
};

/// Trains `net` on `train` with `optimizer` and `loss`. The loss is any
/// object called as `loss(outputs, labels)` (class data sets:
/// CrossEntropyLoss, BCEWithLogitsLoss) or `loss(outputs, targets)` (data sets
/// with target tensors: MSELoss, L1Loss, HuberLoss, SmoothL1Loss,
/// BCEWithLogitsLoss on multi-label targets) that returns the batch's loss and
/// then gives dL/doutputs from `gradient()`. Returns the History of every
/// logged quantity; stops early when a callback says so.
template <class Net, class Optimizer, class Loss, std::size_t SampleRank, std::size_t TargetRank>
History fit(Net& net, Optimizer& optimizer, Loss& loss,
            const data::Dataset<typename Net::value_type, SampleRank, TargetRank>& train,
            const fit_options<typename Net::value_type, SampleRank, TargetRank>& options)
{
    data::BatchLoader loader(train, options.batch_size, options.shuffle, options.seed);
    if (options.transform) loader.set_transform(options.transform);
    return detail::fit_batches(net, optimizer, loss, loader, options);
}

/// Trains `net` on the batches of `loader` (a `batch_source` such as
/// `data::ImageLoader`, which decodes and augments them on a background
/// thread). The loader decides the batches: the options' `batch_size`,
/// `shuffle` and `seed` are not used, and a `transform` is refused (give the
/// loader its augmentations). Validation is on an in-memory data set.
template <class Net, class Optimizer, class Loss, batch_source Loader>
History fit(Net& net, Optimizer& optimizer, Loss& loss, Loader& loader,
            const fit_options<typename Net::value_type, Loader::sample_rank, Loader::target_rank>& options)
{
    if (options.transform)
        throw value_error("lepton: fit: a loader brings its own augmentations; fit_options::transform is for data sets");
    return detail::fit_batches(net, optimizer, loss, loader, options);
}

/// Loss and metrics of `net` on `data` in evaluation mode: "loss", then each metric's name.
template <class Net, class Loss, std::size_t SampleRank, std::size_t TargetRank>
logs evaluate(Net& net, Loss& loss, const data::Dataset<typename Net::value_type, SampleRank, TargetRank>& data,
              const evaluate_options<typename Net::value_type, TargetRank>& options = {})
{
    return detail::evaluate_into(net, loss, data, options.batch_size, options.metrics, "", options.process_group);
}

namespace detail {

/// Whether `predict` can read `E`'s elements in place: a row-major container
/// of `T` whose elements are contiguous.
template <class E, class T>
constexpr bool contiguous_rows_of()
{
    if constexpr (requires { E::static_layout; typename E::value_type; std::declval<const E&>().data(); })
        return E::static_layout == xt::layout_type::row_major && std::is_same_v<typename E::value_type, T> &&
               E::contiguous_layout;
    else
        return false;
}

} // namespace detail

/// The outputs of `net` for every sample of `features` [N, sample dims...], in
/// evaluation mode, computed `batch_size` samples at a time in a workspace of
/// its own: the network is not changed, so threads may predict with one
/// network at once. `features` is any xtensor expression of that shape (a
/// tensor, a view, a column-major container, an expression of another scalar
/// type); one that is not a contiguous row-major container is evaluated once
/// first. A rank or sample shape other than the network's throws
/// `shape_error` naming both.
template <class Net, class E>
typename Net::output_type predict(const Net& net, const E& features, std::size_t batch_size = 1000)
{
    using T = typename Net::value_type;
    using input_type = typename Net::input_type;
    if (features.dimension() != input_type::rank)
        throw shape_error("lepton: predict expects inputs of shape [N, " + Net::input_shape::str().substr(1) +
                          " (rank " + std::to_string(input_type::rank) + "), got shape " + shape_string(features.shape()));
    if constexpr (!detail::contiguous_rows_of<E, T>()) {
        const input_type staged = features;
        return predict(net, staged, batch_size);
    } else {
        if (batch_size == 0) throw value_error("lepton: predict needs a batch size of at least 1");
        const std::size_t n = features.shape()[0];
        typename Net::workspace ws(net);
        typename Net::output_type all;
        input_type chunk;
        const std::size_t per_sample = n ? features.size() / n : 0;
        for (std::size_t start = 0; start < n; start += batch_size) {
            const std::size_t count = std::min(batch_size, n - start);
            auto shape = features.shape();
            typename input_type::shape_type s;
            std::copy(shape.begin(), shape.end(), s.begin());
            s[0] = count;
            ensure_shape(chunk, s);
            const T* from = features.data() + start * per_sample;
            std::copy(from, from + count * per_sample, chunk.data());
            const auto& out = net.forward(chunk, ws);
            if (start == 0) {
                typename Net::output_type::shape_type os;
                std::copy(out.shape().begin(), out.shape().end(), os.begin());
                os[0] = n;
                all.resize(os);
            }
            const std::size_t out_per_sample = out.size() / count;
            std::copy(out.data(), out.data() + out.size(), all.data() + start * out_per_sample);
        }
        return all;
    }
}

} // namespace lepton
