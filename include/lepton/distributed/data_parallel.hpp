#pragma once
/// \file
/// `distributed::DataParallel`: one replica of a network per process, kept
/// equal by averaging gradients over a `process_group` (PyTorch's
/// DistributedDataParallel, for any Lepton network).
///
/// At construction every rank checks that all ranks built the same network
/// type (a clear error on every rank instead of a hang) and takes rank 0's
/// parameters and buffers. `backward` then runs the network's backward pass
/// and averages the gradients in buckets: contiguous slices of the flat
/// gradient buffer, from the last layer's parameters to the first's, each
/// about `bucket_bytes` long. A bucket's non-blocking all-reduce starts as
/// soon as backward has passed the layers it covers, while the earlier layers'
/// gradients are still being computed, and MPI is given a chance to move data
/// after every layer (Open MPI has no progress thread); `backward` returns
/// when every bucket has arrived, so the optimizer step that follows sees the
/// average on every rank. Frozen parameters are left out.
///
/// While it lives, the network's `SyncBatchNorm` layers reduce their batch
/// statistics over the group.
///
/// No MPI here: the group does the communication (`distributed/mpi.hpp`).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "../nn/gradient_hook.hpp"
#include "../tensor/tensor.hpp"
#include "../optim/parameter_ranges.hpp"
#include "process_group.hpp"

namespace lepton::distributed {

/// How `DataParallel` groups gradients into all-reduce calls (PyTorch's defaults).
struct data_parallel_options {
    /// Bytes per bucket (PyTorch's `bucket_cap_mb` = 25); 0 makes one bucket of all gradients.
    std::size_t bucket_bytes = std::size_t{25} << 20;
    /// Bytes of the first bucket, the last layers' gradients, kept small so that
    /// communication starts early (PyTorch's 1 MiB).
    std::size_t first_bucket_bytes = std::size_t{1} << 20;
};

/// The ranks built different networks (or networks of different sizes).
class replica_mismatch : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A slice [begin, end) of the gradient buffer reduced by one all-reduce.
struct gradient_bucket {
    std::size_t begin;  ///< first element
    std::size_t end;    ///< one past the last
};

/// The buckets for a network's parameter tensors, last tensor first: each a run
/// of adjacent trainable tensors (with the padding between them) of about
/// `bucket_bytes`, never spanning a frozen tensor.
inline std::vector<gradient_bucket> make_buckets(std::span<const parameter_range> tensors, std::size_t element_bytes,
                                                 const data_parallel_options& options)
{
    std::vector<gradient_bucket> buckets;
    bool open = false;
    for (std::size_t i = tensors.size(); i-- > 0;) {
        const parameter_range& t = tensors[i];
        if (t.frozen || t.begin == t.end) {
            open = open && !t.frozen;
            continue;
        }
        // The bucket being filled is the first while there is one bucket.
        const std::size_t cap = buckets.size() == 1 ? options.first_bucket_bytes : options.bucket_bytes;
        if (open && (options.bucket_bytes == 0 || (buckets.back().end - buckets.back().begin) * element_bytes < cap))
            buckets.back().begin = t.begin;  // the gap between tensors is padding, zero in every gradient
        else
            buckets.push_back({t.begin, t.end});
        open = true;
    }
    return buckets;
}

namespace detail {

/// FNV-1a over `bytes`, continuing from `h`.
inline std::uint64_t hash_bytes(std::span<const std::byte> bytes, std::uint64_t h = 1469598103934665603ull)
{
    for (const std::byte b : bytes) h = (h ^ std::uint64_t(b)) * 1099511628211ull;
    return h;
}

} // namespace detail

/// Whether `net`'s parameters are bitwise equal on every rank of `group` (a
/// collective: every rank must call it; every rank gets the answer).
template <class Net>
bool parameters_agree(const Net& net, process_group& group)
{
    const std::uint64_t h = detail::hash_bytes(std::as_bytes(net.parameters()));
    std::uint64_t root = h;
    group.broadcast(std::as_writable_bytes(std::span<std::uint64_t>(&root, 1)), 0);
    double differs = root != h ? 1.0 : 0.0;
    group.all_reduce_sum(std::span<double>(&differs, 1));
    return differs == 0.0;
}

/// Data-parallel training of `net` over `group`: see the file's description.
/// The network must outlive this object; one `DataParallel` per network.
template <class Net>
class DataParallel {
public:
    /// Scalar type of the network.
    using value_type = typename Net::value_type;

    /// Checks that every rank has a network of this type and takes rank 0's
    /// parameters and buffers; every rank must construct it at the same point.
    /// Throws `replica_mismatch` on every rank when they disagree.
    DataParallel(Net& net, process_group& group, data_parallel_options options = {})
        : net_(&net), group_(&group), options_(options)
    {
        check_replicas();
        broadcast_parameters();
        broadcast_buffers();
        if constexpr (requires { net.set_process_group(&group); }) net.set_process_group(&group);
    }
    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;
    /// Detaches the network's `SyncBatchNorm` layers from the group.
    ~DataParallel()
    {
        if constexpr (requires { net_->set_process_group(nullptr); }) net_->set_process_group(nullptr);
    }

    /// The group.
    process_group& group() const noexcept { return *group_; }
    /// The network.
    Net& network() const noexcept { return *net_; }

    /// Copies rank 0's parameters to every rank.
    void broadcast_parameters()
    {
        auto p = net_->parameters();
        group_->broadcast(std::as_writable_bytes(p), 0);
    }
    /// Copies rank 0's buffers (BatchNorm's running statistics and counters) to every rank.
    void broadcast_buffers()
    {
        if constexpr (requires { net_->for_each_buffer([](const auto&, auto, const auto&) {}); })
            net_->for_each_buffer(
                [&](const auto&, auto values, const auto&) { group_->broadcast(std::as_writable_bytes(values), 0); });
    }

    /// Runs `net.backward(dy, input_grad)` and leaves in `gradients()` the
    /// weighted sum over ranks of every rank's gradients: `weight` is this
    /// rank's share (its samples over the global batch's; by default
    /// 1 / size(), the average, as PyTorch). The pass runs on `weight` x dy,
    /// which weights its parameter gradients at no extra pass over them.
    /// Inside `no_sync()` it only accumulates (weighted alike), and the first
    /// backward after it reduces everything accumulated. Returns this rank's
    /// input gradient, as `Network::backward` does (scaled back, so equal to
    /// rounding).
    const typename Net::input_type& backward(const typename Net::output_type& dy, bool input_grad = false,
                                             double weight = -1)
    {
        // Gradients are linear in dy: scaling it by this rank's weight weights every
        // parameter gradient of this pass, without a pass over the gradient buffer.
        const value_type w = value_type(weight < 0 ? 1.0 / double(group_->size()) : weight);
        ensure_shape(scaled_dy_, dy.shape());
        xt::noalias(scaled_dy_) = dy * w;
        const gradient_hook hook{[](void* self, std::size_t from) { static_cast<DataParallel*>(self)->ready(from); },
                                 this};
        if (!syncing_off_) begin_reduction();
        const auto& dx = net_->backward(scaled_dy_, input_grad, syncing_off_ ? nullptr : &hook);
        if (!syncing_off_) finish_reduction();
        if (input_grad && w != value_type(0)) rescale_input_gradient(dx, w);
        return dx;
    }

    /// Reduces the gradients accumulated so far without a backward pass, with
    /// this rank's `weight` (0 for a rank that had no samples in a batch: it
    /// must still take part while the others reduce).
    void synchronize(double weight = -1)
    {
        const value_type w = value_type(weight < 0 ? 1.0 / double(group_->size()) : weight);
        for (value_type& g : net_->gradients()) g *= w;
        begin_reduction();
        ready(0);
        finish_reduction();
    }

    /// While the returned guard lives, `backward` accumulates gradients
    /// without communicating (PyTorch's `no_sync`, for gradient accumulation).
    class [[nodiscard]] no_sync_guard {
    public:
        /// Turns synchronisation back on.
        ~no_sync_guard() { owner_->syncing_off_ = false; }
        no_sync_guard(const no_sync_guard&) = delete;
        no_sync_guard& operator=(const no_sync_guard&) = delete;

    private:
        friend class DataParallel;
        explicit no_sync_guard(DataParallel& owner) : owner_(&owner) { owner_->syncing_off_ = true; }
        DataParallel* owner_;
    };
    /// See `no_sync_guard`.
    no_sync_guard no_sync() { return no_sync_guard(*this); }

    /// The buckets of the last reduction, in the order they were started.
    const std::vector<gradient_bucket>& buckets() const noexcept { return buckets_; }
    /// How many buckets of the last `backward` started before its last layer
    /// (the first) had run: the ones whose communication overlapped computation.
    std::size_t overlapped_buckets() const noexcept { return overlapped_; }
    /// Seconds the last `backward` waited for communication after its last layer.
    double last_wait_seconds() const noexcept { return last_wait_; }
    /// Seconds waited in all `backward` calls so far.
    double total_wait_seconds() const noexcept { return total_wait_; }

    /// Whether every rank's parameters are bitwise those of rank 0 (a
    /// collective: every rank must call it).
    bool parameters_agree() const { return distributed::parameters_agree(*net_, *group_); }

private:

    /// Every rank compares a hash of its network type and sizes with rank 0's,
    /// and all ranks learn whether any differs, so all throw together.
    void check_replicas()
    {
        const std::string_view type = typeid(Net).name();
        std::uint64_t h = detail::hash_bytes(std::as_bytes(std::span<const char>(type.data(), type.size())));
        const std::uint64_t sizes[2] = {std::uint64_t(Net::parameter_count), std::uint64_t(net_->parameters().size())};
        h = detail::hash_bytes(std::as_bytes(std::span<const std::uint64_t>(sizes)), h);
        std::uint64_t root = h;
        group_->broadcast(std::as_writable_bytes(std::span<std::uint64_t>(&root, 1)), 0);
        double mismatched[2] = {root != h ? 1.0 : 0.0, root != h ? double(group_->rank()) : 0.0};
        group_->all_reduce_sum(std::span<double>(mismatched));
        if (mismatched[0] != 0)
            throw replica_mismatch("lepton: DataParallel: the ranks built different networks (" +
                                   std::to_string(int(mismatched[0])) + " of " + std::to_string(group_->size()) +
                                   " ranks differ from rank 0's " + std::to_string(Net::parameter_count) +
                                   "-parameter network; this is rank " + std::to_string(group_->rank()) + ")");
    }

    /// The input gradient of a pass run with dy scaled by `w`, scaled back: it is this rank's own.
    static void rescale_input_gradient(const typename Net::input_type& dx, value_type w)
    {
        auto& writable = const_cast<typename Net::input_type&>(dx);  // the workspace's buffer
        writable *= value_type(1) / w;
    }

    void begin_reduction()
    {
        overlapped_ = 0;
        buckets_ = make_buckets(net_->parameter_ranges(), sizeof(value_type), options_);
        started_ = 0;
    }

    /// Gradients [from, end) are final: start every bucket inside them.
    void ready(std::size_t from)
    {
        const auto grads = net_->gradients();
        for (; started_ < buckets_.size() && buckets_[started_].begin >= from; ++started_) {
            const gradient_bucket b = buckets_[started_];
            group_->start_all_reduce_sum(grads.subspan(b.begin, b.end - b.begin));
        }
        group_->progress();
        if (from == 0)
            backward_done_ = std::chrono::steady_clock::now();
        else
            overlapped_ = started_;
    }

    void finish_reduction()
    {
        group_->wait_all();
        last_wait_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - backward_done_).count();
        total_wait_ += last_wait_;
    }

    Net* net_;
    process_group* group_;
    data_parallel_options options_;
    std::vector<gradient_bucket> buckets_;
    std::size_t started_ = 0, overlapped_ = 0;
    typename Net::output_type scaled_dy_;
    bool syncing_off_ = false;
    std::chrono::steady_clock::time_point backward_done_{};
    double last_wait_ = 0, total_wait_ = 0;
};

} // namespace lepton::distributed
