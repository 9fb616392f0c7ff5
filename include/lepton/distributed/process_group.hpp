#pragma once
/// \file
/// `distributed::process_group`: the collective operations data-parallel
/// training needs from the processes that train together. The interface has no
/// MPI in it, so `fit`, `evaluate` and `DataParallel` compile without MPI;
/// `distributed/mpi.hpp` implements it on an MPI communicator.

#include <cstddef>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// Thrown on the ranks that succeeded when another rank failed in a step that
/// all ranks take together (`share_failure`); the failed rank reports its own error.
class rank_failure : public std::runtime_error {
public:
    /// `ranks` failed in `what`.
    rank_failure(std::vector<int> ranks, std::string_view what)
        : std::runtime_error(message(ranks, what)), ranks_(std::move(ranks))
    {
    }
    /// The ranks that failed, in increasing order.
    const std::vector<int>& failed_ranks() const noexcept { return ranks_; }

private:
    static std::string message(const std::vector<int>& ranks, std::string_view what)
    {
        std::string text = "lepton: rank";
        if (ranks.size() > 1) text += "s";
        for (std::size_t i = 0; i < ranks.size(); ++i) text += (i ? ", " : " ") + std::to_string(ranks[i]);
        return text + " failed in " + std::string(what) + " (its own error says why); this rank stops with it";
    }
    std::vector<int> ranks_;
};

/// Runs `f` and returns what it threw (null when it returned), for `share_failure`.
template <class F>
std::exception_ptr failure_of(F&& f) noexcept
{
    try {
        f();
        return nullptr;
    } catch (...) {
        return std::current_exception();
    }
}

/// Every rank of `group` calls this together with its outcome of a step
/// (`failure` null when it succeeded). Returns when no rank failed; otherwise
/// every rank throws: a failed one its own error, the others `rank_failure`.
/// Without it, one rank's error (rank 0 failing to write a checkpoint, say)
/// leaves the others waiting in their next collective for ever.
inline void share_failure(process_group& group, const std::exception_ptr& failure, std::string_view what)
{
    std::vector<double> failed(std::size_t(group.size()), 0.0);
    failed[std::size_t(group.rank())] = failure ? 1.0 : 0.0;
    group.all_reduce_sum(failed);
    if (failure) std::rethrow_exception(failure);
    std::vector<int> ranks;
    for (std::size_t r = 0; r < failed.size(); ++r)
        if (failed[r] != 0) ranks.push_back(int(r));
    if (!ranks.empty()) throw rank_failure(std::move(ranks), what);
}

} // namespace lepton::distributed
