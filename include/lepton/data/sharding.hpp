#pragma once
/// \file
/// `data::sharding`: which samples of an epoch's order make rank r's piece of
/// each batch in data-parallel training. Shared by `BatchLoader` and `ImageLoader`.

#include <algorithm>
#include <cstddef>
#include <string>

#include "../core/error.hpp"

namespace lepton::data {

/// Rank `rank` of `ranks` takes the r-th of `ranks` consecutive pieces of every
/// global batch of `ranks` x batch size samples (PyTorch's DistributedSampler
/// without its padding). The last, smaller global batch is split as evenly as
/// possible (the first ranks take one sample more); with
/// `every_rank_gets_samples` it is left out when it has fewer samples than
/// there are ranks (synchronised BatchNorm needs a sample on every rank),
/// otherwise a rank's piece of it may be empty (evaluation).
struct sharding {
    std::size_t rank = 0;                ///< this process's rank
    std::size_t ranks = 1;               ///< processes that share the batches
    bool every_rank_gets_samples = true; ///< see above

    /// Checks rank < ranks; `who` names the loader in the error.
    void check(const char* who) const
    {
        if (ranks == 0 || rank >= ranks)
            throw value_error(std::string("lepton: ") + who + "::shard: rank " + std::to_string(rank) + " of " +
                              std::to_string(ranks) + " ranks");
    }
    /// Batches per epoch over `samples` samples, `batch_size` per rank.
    std::size_t batches(std::size_t samples, std::size_t batch_size) const noexcept
    {
        const std::size_t global = batch_size * ranks, full = samples / global, rest = samples % global;
        return full + (rest > 0 && (!every_rank_gets_samples || rest >= ranks) ? 1 : 0);
    }
    /// Samples in global batch `b` (all ranks together).
    std::size_t global_samples(std::size_t b, std::size_t samples, std::size_t batch_size) const noexcept
    {
        const std::size_t global = batch_size * ranks, begin = b * global;
        return begin >= samples ? 0 : std::min(global, samples - begin);
    }
    /// This rank's piece of global batch `b`: positions [begin, begin + size) of the epoch's order.
    struct piece {
        std::size_t begin = 0; ///< first position in the order
        std::size_t size = 0;  ///< samples in the piece
    };
    /// See `piece`.
    piece piece_of(std::size_t b, std::size_t samples, std::size_t batch_size) const noexcept
    {
        const std::size_t global = global_samples(b, samples, batch_size), base = global / ranks, extra = global % ranks;
        return {b * batch_size * ranks + rank * base + std::min(rank, extra), base + (rank < extra ? 1 : 0)};
    }
};

} // namespace lepton::data
