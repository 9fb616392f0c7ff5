#pragma once
/// \file
/// In-memory data sets (samples with a class label each, or with a target
/// tensor each: regression, multi-label, autoencoders) and a seeded, shuffling
/// batch loader.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <locale>
#include <numeric>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../tensor/tensor.hpp"
#include "sharding.hpp"

namespace lepton::data {

/// Samples [N, sample dims...] with a target each: an integer class label
/// when `TargetRank` is 0 (the default), otherwise a tensor of rank
/// `TargetRank` (a vector of regression values or of multi-label 0/1 targets
/// for 1, an image for an autoencoder for 3), all targets in one tensor
/// `targets` [N, target dims...]:
///
///     data::Dataset<float, 3> images;        // .features [N, 1, 28, 28], .labels
///     data::Dataset<float, 1, 1> table;      // .features [N, 8], .targets [N, 1]
template <class T, std::size_t SampleRank, std::size_t TargetRank = 0>
struct Dataset {
    /// Samples [N, sample dims...].
    tensor<T, SampleRank + 1> features;
    /// One target per sample [N, target dims...].
    tensor<T, TargetRank + 1> targets;

    /// Number of samples.
    std::size_t size() const noexcept { return targets.shape()[0]; }
};

/// Samples [N, sample dims...] with one integer class label each.
template <class T, std::size_t SampleRank>
struct Dataset<T, SampleRank, 0> {
    /// Samples [N, sample dims...].
    tensor<T, SampleRank + 1> features;
    /// One class label per sample.
    std::vector<std::int32_t> labels;

    /// Number of samples.
    std::size_t size() const noexcept { return labels.size(); }
};

namespace detail {

/// Checks that a data set has as many targets as samples (a mismatch would read past one of them).
template <class T, std::size_t SampleRank, std::size_t TargetRank>
void check_sample_count(const char* who, const Dataset<T, SampleRank, TargetRank>& data)
{
    const std::size_t samples = data.features.shape()[0];
    if (samples != data.size())
        throw shape_error(std::string("lepton: ") + who + ": the data set has " + std::to_string(samples) +
                          " samples but " + std::to_string(data.size()) + (TargetRank == 0 ? " labels" : " targets"));
}

/// A batch of a class data set.
template <class Features>
struct labelled_batch {
    /// The batch features (a buffer the loader reuses).
    const Features& features;
    /// The labels of the batch samples.
    std::span<const std::int32_t> labels;
};

/// A batch of a data set with target tensors.
template <class Features, class Targets>
struct target_batch {
    /// The batch features (a buffer the loader reuses).
    const Features& features;
    /// The batch targets [batch, target dims...] (a buffer the loader reuses).
    const Targets& targets;
};

} // namespace detail

/// Standardises every feature in place: (x - mean) / stddev, one xtensor expression.
template <class T, std::size_t SampleRank, std::size_t TargetRank>
void standardize(Dataset<T, SampleRank, TargetRank>& data, T mean, T stddev)
{
    data.features = (data.features - mean) / stddev;
}

/// Fashion-MNIST's pixel mean and standard deviation over the training set (pixels in [0, 1]).
inline constexpr float fashion_mnist_mean = 0.2860f;
/// See `fashion_mnist_mean`.
inline constexpr float fashion_mnist_stddev = 0.3530f;

/// Hands out batches of a data set in a seeded random order (or in order).
/// The batch buffers are reused: the loader allocates only when the batch size changes.
template <class T, std::size_t SampleRank, std::size_t TargetRank = 0>
class BatchLoader {
public:
    /// Features of one batch [batch, sample dims...].
    using batch_type = tensor<T, SampleRank + 1>;
    /// One batch: features and their labels (class data sets) or targets (the others).
    using batch = std::conditional_t<TargetRank == 0, detail::labelled_batch<batch_type>,
                                     detail::target_batch<batch_type, tensor<T, TargetRank + 1>>>;
    /// The rank of one sample (for `fit`).
    static constexpr std::size_t sample_rank = SampleRank;
    /// The rank of one target: 0 for class labels (for `fit`).
    static constexpr std::size_t target_rank = TargetRank;

    /// `shuffle` reorders the samples at every `start_epoch()` from a generator seeded with `seed`.
    BatchLoader(const Dataset<T, SampleRank, TargetRank>& data, std::size_t batch_size, bool shuffle = true,
                std::uint64_t seed = 0)
        : data_(&data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), rng_(seed), order_(data.size())
    {
        if (batch_size == 0) throw std::invalid_argument("lepton: BatchLoader: batch size must be positive");
        detail::check_sample_count("BatchLoader", data);
        std::iota(order_.begin(), order_.end(), std::size_t{0});
    }

    /// Number of batches per epoch (the last one may be smaller).
    std::size_t batches() const noexcept { return sharding_.batches(order_.size(), batch_size_); }

    /// Data-parallel training: makes this loader hand out rank `rank`'s share
    /// of batches of `ranks` x batch size samples (PyTorch's DistributedSampler).
    /// Every rank's loader, built with the same seed, draws the same order each
    /// epoch, and batch `b` of rank `r` is the r-th of `ranks` consecutive
    /// pieces of the b-th batch one process with `ranks` times the batch size
    /// would see; the last, smaller batch as `data::sharding` says. A
    /// transform draws from a generator of the rank's own, seeded by (seed,
    /// rank, epoch, batch), so that the shared order stays shared and a
    /// checkpoint written by one rank resumes the augmentations of all.
    void shard(std::size_t rank, std::size_t ranks, bool every_rank_gets_samples = true)
    {
        const sharding s{rank, ranks, every_rank_gets_samples};
        s.check("BatchLoader");
        sharding_ = s;
    }
    /// Samples in batch `b` over all ranks (the global batch).
    std::size_t global_batch_samples(std::size_t b) const noexcept
    {
        return sharding_.global_samples(b, order_.size(), batch_size_);
    }
    /// Number of samples in the data set.
    std::size_t samples() const noexcept { return order_.size(); }

    /// Starts a new epoch: a fresh permutation when shuffling (Fisher-Yates).
    void start_epoch()
    {
        ++epochs_started_;
        if (!shuffle_) return;
        for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.below(i)]);
    }

    /// The generator, the current sample order and the epochs started as text,
    /// for checkpoints: each epoch's permutation builds on the last, so resuming
    /// needs both, and a sharded loader's augmentations follow the epoch.
    std::string state() const
    {
        std::string s = rng_.state() + '/' + std::to_string(order_.size());
        for (const std::size_t i : order_) s += ' ' + std::to_string(i);
        return s + " epochs " + std::to_string(epochs_started_);
    }

    /// Restores a `state()` of a loader over a data set of the same size;
    /// throws `value_error` (leaving the loader as it was) otherwise.
    void set_state(const std::string& text)
    {
        const auto slash = text.find('/');
        if (slash == std::string::npos) throw value_error("lepton: BatchLoader: not a loader state");
        random_engine rng;
        rng.set_state(text.substr(0, slash));
        std::istringstream in(text.substr(slash + 1));
        in.imbue(std::locale::classic());
        std::size_t n = 0;
        if (!(in >> n) || n != order_.size())
            throw value_error("lepton: BatchLoader: the state is for " + std::to_string(n) + " samples, the data set has " +
                              std::to_string(order_.size()));
        std::vector<std::size_t> order(n);
        std::vector<bool> seen(n, false);
        for (auto& i : order) {
            // Every index once: operator[] reads samples through this order.
            if (!(in >> i) || i >= n || seen[i]) throw value_error("lepton: BatchLoader: the state's order is not a permutation");
            seen[i] = true;
        }
        std::uint64_t epochs = 0;  // states written before the count was kept have none
        if (std::string word; in >> word && (word != "epochs" || !(in >> epochs)))
            throw value_error("lepton: BatchLoader: unexpected '" + word + "' after the order in the state");
        if (!(in >> std::ws).eof()) throw value_error("lepton: BatchLoader: trailing data in the state");
        rng_ = rng;
        order_ = std::move(order);
        epochs_started_ = epochs;
    }

    /// A transform applied to every batch after it is gathered (augmentation):
    /// f(features, generator). The generator is the loader's own, so runs repeat.
    using transform_type = std::function<void(batch_type&, random_engine&)>;
    /// Sets the per-batch transform (an empty function removes it).
    void set_transform(transform_type f) { transform_ = std::move(f); }

    /// Batch `b` of the current epoch (valid until the next call).
    batch operator[](std::size_t b)
    {
        const auto [begin, n] = sharding_.piece_of(b, order_.size(), batch_size_);  // this rank's piece
        const std::size_t sample = data_->features.size() / std::max<std::size_t>(data_->size(), 1);
        auto shape = data_->features.shape();
        std::array<std::size_t, SampleRank + 1> bs;
        std::copy(shape.begin(), shape.end(), bs.begin());
        bs[0] = n;
        ensure_shape(x_, bs);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t src = order_[begin + i];
            std::copy_n(data_->features.data() + src * sample, sample, x_.data() + i * sample);
        }
        if constexpr (TargetRank == 0) {
            labels_.resize(n);
            for (std::size_t i = 0; i < n; ++i) labels_[i] = data_->labels[order_[begin + i]];
        } else {
            const std::size_t per_target = data_->targets.size() / std::max<std::size_t>(data_->size(), 1);
            auto ts = data_->targets.shape();
            std::array<std::size_t, TargetRank + 1> shape_of_targets;
            std::copy(ts.begin(), ts.end(), shape_of_targets.begin());
            shape_of_targets[0] = n;
            ensure_shape(targets_, shape_of_targets);
            for (std::size_t i = 0; i < n; ++i)
                std::copy_n(data_->targets.data() + order_[begin + i] * per_target, per_target,
                            targets_.data() + i * per_target);
        }
        if (transform_) {
            if (sharding_.ranks == 1) {
                transform_(x_, rng_);
            } else {
                random_engine augment(mix_seed(mix_seed(mix_seed(mix_seed(seed_) ^ sharding_.rank) ^ epochs_started_) ^
                                               std::uint64_t(b)));
                transform_(x_, augment);
            }
        }
        if constexpr (TargetRank == 0)
            return {x_, labels_};
        else
            return {x_, targets_};
    }

private:
    const Dataset<T, SampleRank, TargetRank>* data_;
    std::size_t batch_size_;
    bool shuffle_;
    std::uint64_t seed_;
    random_engine rng_;
    std::vector<std::size_t> order_;
    sharding sharding_;
    std::uint64_t epochs_started_ = 0;
    batch_type x_;
    std::vector<std::int32_t> labels_;
    tensor<T, TargetRank + 1> targets_;
    transform_type transform_;
};


/// Mirrors each image of a [N, C, H, W] batch left-right with probability 1/2.
template <class T>
void random_horizontal_flip(tensor<T, 4>& images, random_engine& rng)
{
    const std::size_t n = images.shape()[0], planes = images.shape()[1], h = images.shape()[2], w = images.shape()[3];
    for (std::size_t i = 0; i < n; ++i) {
        if (rng.uniform() < 0.5) continue;
        T* image = images.data() + i * planes * h * w;
        for (std::size_t r = 0; r < planes * h; ++r) std::reverse(image + r * w, image + (r + 1) * w);
    }
}

} // namespace lepton::data
