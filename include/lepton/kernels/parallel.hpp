#pragma once
/// \file
/// Thread control. Lepton threads with OpenMP when the consumer enables it
/// (`LEPTON_USE_OPENMP`); without it every kernel runs on the calling thread.

#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lepton {

/// Number of threads Lepton's kernels use.
inline int num_threads() noexcept
{
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// Sets the number of threads Lepton's kernels use (no effect without OpenMP).
inline void set_num_threads(int n) noexcept
{
#if defined(_OPENMP)
    omp_set_num_threads(n < 1 ? 1 : n);
#else
    (void)n;
#endif
}

namespace kernels {

/// Runs `body(thread_index, thread_count)` on `threads` threads (the caller's
/// thread alone when `threads` is 1 or OpenMP is off).
template <class Body>
inline void parallel_region(int threads, Body&& body)
{
#if defined(_OPENMP)
    if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
        body(omp_get_thread_num(), omp_get_num_threads());
        return;
    }
#endif
    (void)threads;
    body(0, 1);
}

/// Splits [0, n) into `parts` near-equal contiguous ranges; returns range `part`.
struct range {
    ///@{
    /// First index and one past the last.
    std::size_t begin, end;
    ///@}
};
/// Range `part` of [0, n) split into `parts` near-equal ranges.
inline range split_range(std::size_t n, int part, int parts) noexcept
{
    const std::size_t p = static_cast<std::size_t>(parts), i = static_cast<std::size_t>(part);
    return {n * i / p, n * (i + 1) / p};
}

/// Threads worth using for `work` units of arithmetic (flops); small jobs stay
/// on one thread because waking a team costs microseconds.
inline int threads_for(double work, double per_thread_minimum = 4.0e5) noexcept
{
    const int t = num_threads();
    if (t <= 1 || work < 2 * per_thread_minimum) return 1;
    const double useful = work / per_thread_minimum;
    return useful < t ? static_cast<int>(useful) : t;
}

/// Calls `body(i)` for every i in [0, n), in contiguous ranges spread over the
/// threads `work` (flops in all) is worth, `per_thread_minimum` each.
template <class Body>
void parallel_for_each(std::size_t n, double work, double per_thread_minimum, Body&& body)
{
    parallel_region(threads_for(work, per_thread_minimum), [&](int t, int nt) {
        const auto r = split_range(n, t, nt);
        for (std::size_t i = r.begin; i < r.end; ++i) body(i);
    });
}

} // namespace kernels
} // namespace lepton
