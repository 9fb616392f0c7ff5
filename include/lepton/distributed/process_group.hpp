#pragma once
/// \file
/// `distributed::process_group`: the collective operations data-parallel
/// training needs from the processes that train together. The interface has no
/// MPI in it, so `fit`, `evaluate` and `DataParallel` compile without MPI;
/// `distributed/mpi.hpp` implements it on an MPI communicator.

#include <cstddef>
#include <span>

namespace lepton::distributed {

/// A fixed group of processes ("ranks") that run the same program. Every
/// collective must be called by every rank of the group, in the same order.
/// Calls come from one thread at a time.
class process_group {
public:
    /// Virtual: groups are used through references to this class.
    virtual ~process_group() = default;

    /// This process's rank, 0 .. size() - 1.
    virtual int rank() const noexcept = 0;
    /// Number of processes in the group.
    virtual int size() const noexcept = 0;

    /// Replaces `values` on every rank with their element-wise sum over all ranks (blocking).
    virtual void all_reduce_sum(std::span<double> values) = 0;
    /// Copies rank `root`'s `bytes` to every other rank (blocking).
    virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
    /// Returns when every rank has called it.
    virtual void barrier() = 0;

    /// Starts summing `values` over all ranks in place, without waiting; the
    /// span must stay valid and untouched until `wait_all()`.
    virtual void start_all_reduce_sum(std::span<float> values) = 0;
    /// As above, for double.
    virtual void start_all_reduce_sum(std::span<double> values) = 0;
    /// Lets started reductions progress (MPI libraries without a progress
    /// thread move data only inside MPI calls); returns at once.
    virtual void progress() = 0;
    /// Waits until every started reduction has finished.
    virtual void wait_all() = 0;
};

} // namespace lepton::distributed
