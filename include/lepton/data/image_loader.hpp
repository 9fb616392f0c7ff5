#pragma once
/// \file
/// Batches of an `ImageFolder`, decoded, augmented and normalised on a
/// background thread while the network trains on the previous ones:
///
///     data::ImageLoader loader(train, {.batch_size = 64, .seed = 1,
///                                      .augment = {data::RandomCrop{.padding = 2}, data::RandomHorizontalFlip{}}});
///     fit(net, optimizer, loss, loader, {.epochs = 10, .validation = &test});
///
/// The batches are the same, in the same order, with or without the
/// background thread (`prefetch` = 0): the sample order comes from the
/// loader's seeded generator (the same order `BatchLoader` gives a data set of
/// the same size and seed), and each batch's augmentations from a generator
/// seeded by (seed, epoch, batch), whichever thread decodes it. `shard` splits
/// every batch between data-parallel ranks as `BatchLoader::shard` does.
///
/// A loader is used from one thread (the one that calls `start_epoch` and
/// `operator[]`); its background thread reads the ImageFolder, which must
/// outlive the loader, and runs the augmentations, which must not share
/// mutable state with other threads (Lepton's keep none).

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../tensor/tensor.hpp"
#include "dataset.hpp"
#include "image_folder.hpp"
#include "image_transforms.hpp"
#include "sharding.hpp"

namespace lepton::data {

/// How an `ImageLoader` batches.
template <class T = float>
struct image_loader_options {
    std::size_t batch_size = 32;   ///< samples per batch (the last one may be smaller)
    bool shuffle = true;           ///< a new sample order at every `start_epoch()`
    std::uint64_t seed = 0;        ///< seeds the order and the augmentations
    std::vector<image_transform<T>> augment{};  ///< applied to each image in [0, 1], in this order, before normalising
    /// Batches decoded ahead on a background thread (0: each batch is decoded
    /// on the calling thread when it is asked for).
    std::size_t prefetch = 2;
};

/// Batches of images [batch, channels, height, width] with their labels.
template <class T = float>
class ImageLoader {
public:
    /// Features of one batch [batch, channels, height, width].
    using batch_type = tensor<T, 4>;
    /// One batch: features and labels (valid until the next `operator[]` or `start_epoch`).
    using batch = detail::labelled_batch<batch_type>;
    /// The rank of one sample (for `fit`).
    static constexpr std::size_t sample_rank = 3;
    /// Class labels, not target tensors (for `fit`).
    static constexpr std::size_t target_rank = 0;

    /// A loader over `images` (which must outlive it).
    ImageLoader(const ImageFolder& images, image_loader_options<T> options = {})
        : images_(&images), options_(std::move(options)), rng_(options_.seed), order_(images.size()),
          slots_(options_.prefetch + 1)
    {
        if (options_.batch_size == 0) throw std::invalid_argument("lepton: ImageLoader: batch size must be positive");
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (options_.prefetch > 0) worker_ = std::thread([this] { work(); });
    }

    ImageLoader(const ImageLoader&) = delete;
    ImageLoader& operator=(const ImageLoader&) = delete;

    ~ImageLoader()
    {
        if (!worker_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        work_ready_.notify_all();
        worker_.join();
    }

    /// Number of batches per epoch.
    std::size_t batches() const noexcept { return sharding_.batches(order_.size(), options_.batch_size); }

    /// Data-parallel training: makes this loader decode rank `rank`'s piece of
    /// batches of `ranks` x batch size samples, as `BatchLoader::shard` (same
    /// order for the same seed, the last batch as `data::sharding` says); each
    /// rank's augmentations are its own, seeded by (seed, rank, epoch, batch).
    void shard(std::size_t rank, std::size_t ranks, bool every_rank_gets_samples = true)
    {
        const sharding s{rank, ranks, every_rank_gets_samples};
        s.check("ImageLoader");
        std::unique_lock lock(mutex_);
        pause(lock);  // batches decoded ahead belong to the old split
        sharding_ = s;
        if (worker_.joinable()) resume_from(0, lock);
    }
    /// Samples in batch `b` over all ranks (the global batch).
    std::size_t global_batch_samples(std::size_t b) const noexcept
    {
        return sharding_.global_samples(b, order_.size(), options_.batch_size);
    }
    /// Number of samples.
    std::size_t samples() const noexcept { return order_.size(); }

    /// Starts a new epoch: a fresh permutation when shuffling (Fisher-Yates,
    /// as `BatchLoader`), fresh augmentations, and the background thread set to
    /// decode the first batches.
    void start_epoch()
    {
        std::unique_lock lock(mutex_);
        pause(lock);
        ++epoch_;
        if (options_.shuffle)
            for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.below(i)]);
        if (worker_.joinable()) resume_from(0, lock);
    }

    /// Batch `b` of the current epoch. Asked for in order (0, 1, 2, ...) it is
    /// usually decoded already; any other order works too, restarting the
    /// decoding there. Rethrows what decoding it threw (an `io_error` naming the file).
    batch operator[](std::size_t b)
    {
        if (b >= batches()) throw value_error("lepton: ImageLoader: batch " + std::to_string(b) + " of " +
                                              std::to_string(batches()));
        if (!worker_.joinable()) {
            fill(b, slots_[0]);
            return {slots_[0].features, slots_[0].labels};
        }
        std::unique_lock lock(mutex_);
        if (!running_ || (b != released_ && b != released_ + 1)) {
            pause(lock);
            resume_from(b, lock);
        }
        released_ = b;  // the batches before b are the caller's no more
        work_ready_.notify_all();
        batch_ready_.wait(lock, [&] { return ready_ > b || failed_; });
        if (ready_ <= b) {
            std::exception_ptr e = failure_;
            pause(lock);
            std::rethrow_exception(e);
        }
        slot& s = slots_[b % slots_.size()];
        return {s.features, s.labels};
    }

private:
    struct slot {
        batch_type features;
        std::vector<std::int32_t> labels;
        tensor<T, 3> image;  // one sample being augmented
    };

    /// Decodes batch `b` of the current order into `s`.
    void fill(std::size_t b, slot& s) const
    {
        const auto [begin, n] = sharding_.piece_of(b, order_.size(), options_.batch_size);
        const auto shape = images_->sample_shape();
        const std::size_t sample = shape[0] * shape[1] * shape[2];
        ensure_shape(s.features, std::array<std::size_t, 4>{n, shape[0], shape[1], shape[2]});
        s.labels.resize(n);
        random_engine rng(batch_seed(b));  // one generator per batch: the same draws on any thread
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t index = order_[begin + i];
            T* out = s.features.data() + i * sample;
            if (options_.augment.empty()) {
                images_->load(index, out);
            } else {
                ensure_shape(s.image, shape);
                images_->load(index, s.image.data());
                for (const auto& transform : options_.augment) {
                    transform(s.image, rng);
                    if (!std::equal(s.image.shape().begin(), s.image.shape().end(), shape.begin()))
                        throw shape_error("lepton: ImageLoader: an augmentation changed the image's shape from " +
                                          shape_string(shape) + " to " + shape_string(s.image.shape()));
                }
                std::copy(s.image.begin(), s.image.end(), out);
            }
            images_->normalize(out);
            s.labels[i] = images_->files()[index].label;
        }
    }

    /// The seed of batch `b`'s augmentations in the current epoch (splitmix64 of
    /// the seed, the epoch and the batch, and of the rank when sharded).
    std::uint64_t batch_seed(std::size_t b) const
    {
        const std::uint64_t seed = sharding_.ranks > 1 ? mix_seed(mix_seed(options_.seed) ^ sharding_.rank) : options_.seed;
        return mix_seed(mix_seed(mix_seed(seed) ^ std::uint64_t(epoch_)) ^ std::uint64_t(b));
    }

    /// The background thread: decodes batches `next_` onwards while there is a free slot.
    void work()
    {
        std::unique_lock lock(mutex_);
        for (;;) {
            work_ready_.wait(lock, [&] {
                return stop_ || (running_ && !failed_ && next_ < batches() && next_ < released_ + slots_.size());
            });
            if (stop_) return;
            const std::size_t b = next_;
            const std::uint64_t generation = generation_;
            busy_ = true;
            lock.unlock();
            std::exception_ptr error;
            try {
                fill(b, slots_[b % slots_.size()]);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            busy_ = false;
            if (generation == generation_) {  // not cancelled meanwhile
                if (error) {
                    failed_ = true;
                    failure_ = error;
                } else {
                    next_ = ready_ = b + 1;
                }
            }
            batch_ready_.notify_all();
        }
    }

    /// Stops the background thread between two batches (it then touches nothing).
    void pause(std::unique_lock<std::mutex>& lock)
    {
        ++generation_;
        running_ = false;
        batch_ready_.wait(lock, [&] { return !busy_; });
    }

    /// Sets the background thread to decode from batch `b`.
    void resume_from(std::size_t b, std::unique_lock<std::mutex>&)
    {
        next_ = ready_ = released_ = b;
        failed_ = false;
        failure_ = nullptr;
        running_ = true;
        work_ready_.notify_all();
    }

    const ImageFolder* images_;
    image_loader_options<T> options_;
    random_engine rng_;
    std::vector<std::size_t> order_;
    std::size_t epoch_ = 0;
    sharding sharding_;
    std::vector<slot> slots_;

    // Shared with the background thread, under mutex_.
    std::mutex mutex_;
    std::condition_variable work_ready_, batch_ready_;
    bool stop_ = false, running_ = false, busy_ = false, failed_ = false;
    std::uint64_t generation_ = 0;
    std::size_t next_ = 0, ready_ = 0, released_ = 0;
    std::exception_ptr failure_;
    std::thread worker_;
};

} // namespace lepton::data
