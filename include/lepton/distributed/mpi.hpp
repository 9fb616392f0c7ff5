#pragma once
/// \file
/// MPI for data-parallel training: `mpi::environment` starts and ends MPI,
/// `mpi::group` is a `process_group` on an MPI communicator. Including this
/// header is what brings in MPI (`<mpi.h>`; link `lepton::mpi` in CMake, or
/// build with `mpicxx`); the rest of Lepton never needs it.
///
///     int main(int argc, char** argv) {
///         lepton::distributed::mpi::environment mpi(argc, argv);
///         lepton::distributed::mpi::group world;  // MPI_COMM_WORLD
///         lepton::fit(net, optimizer, loss, train, {.epochs = 3, .batch_size = 32, .process_group = &world});
///     }
///
/// Run with `mpirun -np 2 ./program`, with a hostfile across machines, or under Slurm's `srun`.

#ifndef OMPI_SKIP_MPICXX
/// Lepton uses MPI's C API: Open MPI's deprecated C++ bindings (and their warnings) are left out.
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
/// The same for MPICH.
#define MPICH_SKIP_MPICXX 1
#endif
#if __has_include(<mpi.h>)
#include <mpi.h>  // on the include path: lepton::mpi, mpicxx, pkg-config ompi-cxx
#elif __has_include(<mpi/mpi.h>)
#include <mpi/mpi.h>  // Debian's and Ubuntu's multiarch directory (linking still needs MPI's library)
#else
#error "lepton/distributed/mpi.hpp needs MPI's mpi.h: link lepton::mpi in CMake, build with mpicxx, or add pkg-config --cflags ompi-cxx"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "process_group.hpp"

namespace lepton::distributed::mpi {

/// An MPI call failed; the message names the call and MPI's own description.
class mpi_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

/// Throws `mpi_error` naming `call` unless `code` is MPI_SUCCESS.
inline void check(int code, const char* call)
{
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw mpi_error(std::string("lepton: ") + call + " failed: " + std::string(text, std::size_t(length)));
}

/// Open MPI's non-blocking all-reduce (its libnbc component) reduces through a
/// binomial tree whenever it runs in place or on fewer than four ranks: the
/// root adds every byte and the others wait. Asks it for the ring instead,
/// where each rank adds 1/size of the bucket (a 1.7 MB bucket on two ranks:
/// 0.46 ms against 0.19 ms, measured), through MPI's tool interface. Nothing
/// changes on an MPI without that variable, where it is no longer automatic,
/// or where `mpirun --mca` (an OMPI_MCA_ variable) set it: many ranks with
/// small buckets, where a tree takes fewer steps, can choose it back so.
inline void prefer_ring_all_reduce()
{
    constexpr const char* name = "coll_libnbc_iallreduce_algorithm";
    if (std::getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm")) return;
    int provided = 0;
    if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return;
    int index = 0, count = 0;
    MPI_T_cvar_handle handle;
    if (MPI_T_cvar_get_index(name, &index) == MPI_SUCCESS &&
        MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) == MPI_SUCCESS) {
        int algorithm = -1;
        constexpr int automatic = 0, ring = 1;
        if (count == 1 && MPI_T_cvar_read(handle, &algorithm) == MPI_SUCCESS && algorithm == automatic)
            MPI_T_cvar_write(handle, &ring);
        MPI_T_cvar_handle_free(&handle);
    }
    MPI_T_finalize();
}

} // namespace detail

/// Initialises MPI for the program's lifetime (MPI_Init_thread, with
/// MPI_THREAD_FUNNELED: only the thread that made it calls MPI; OpenMP
/// threads and loader threads never do) and finalises it when destroyed.
/// Make one at the top of `main`; if MPI is already initialised it does nothing.
class environment {
public:
    /// Starts MPI with the program's arguments (mpirun's are removed from them).
    environment(int& argc, char**& argv)
    {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) return;
        int provided = 0;
        detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owner_ = true;
    }
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;
    /// Finalises MPI if this object started it.
    ~environment()
    {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owner_ && !finalized) MPI_Finalize();
    }

private:
    bool owner_ = false;
};

/// A `process_group` over an MPI communicator (MPI_COMM_WORLD by default).
/// Errors throw `mpi_error` instead of aborting the job. On Open MPI, making
/// one selects the ring algorithm for the process's non-blocking all-reduces
/// unless one was chosen (see `detail::prefer_ring_all_reduce`).
class group final : public process_group {
public:
    /// The group of `comm`'s processes; the communicator is duplicated, so
    /// Lepton's messages never meet the program's own.
    explicit group(MPI_Comm comm = MPI_COMM_WORLD)
    {
        detail::check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
        MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
        detail::prefer_ring_all_reduce();
    }
    group(const group&) = delete;
    group& operator=(const group&) = delete;
    /// Frees the duplicated communicator (if MPI is still running).
    ~group() override
    {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized) return;
        if (!requests_.empty()) MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
        MPI_Comm_free(&comm_);
    }

    /// See `process_group`.
    int rank() const noexcept override { return rank_; }
    /// See `process_group`.
    int size() const noexcept override { return size_; }
    /// The duplicated communicator.
    MPI_Comm communicator() const noexcept { return comm_; }

    /// See `process_group`.
    void all_reduce_sum(std::span<double> values) override
    {
        detail::check(MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, comm_),
                      "MPI_Allreduce");
    }
    /// See `process_group`.
    void broadcast(std::span<std::byte> bytes, int root) override
    {
        // In pieces of at most 1 GiB: MPI counts are int.
        constexpr std::size_t piece = std::size_t{1} << 30;
        for (std::size_t at = 0; at < bytes.size(); at += piece)
            detail::check(MPI_Bcast(bytes.data() + at, int(std::min(piece, bytes.size() - at)), MPI_BYTE, root, comm_),
                          "MPI_Bcast");
    }
    /// See `process_group`.
    void barrier() override { detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }

    /// See `process_group`.
    void start_all_reduce_sum(std::span<float> values) override { start(values.data(), values.size(), MPI_FLOAT); }
    /// See `process_group`.
    void start_all_reduce_sum(std::span<double> values) override { start(values.data(), values.size(), MPI_DOUBLE); }
    /// See `process_group`: one MPI_Testall over the open requests.
    void progress() override
    {
        if (requests_.empty()) return;
        int done = 0;
        detail::check(MPI_Testall(int(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
        if (done) requests_.clear();
    }
    /// See `process_group`.
    void wait_all() override
    {
        if (requests_.empty()) return;
        const int code = MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
        requests_.clear();
        detail::check(code, "MPI_Waitall");
    }

private:
    void start(void* data, std::size_t count, MPI_Datatype type)
    {
        // Reductions larger than an int can count go in pieces.
        constexpr std::size_t piece = std::size_t{1} << 30;
        const std::size_t bytes = type == MPI_FLOAT ? sizeof(float) : sizeof(double);
        for (std::size_t at = 0; at < count; at += piece) {
            MPI_Request r;
            detail::check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + at * bytes,
                                         int(std::min(piece, count - at)), type, MPI_SUM, comm_, &r),
                          "MPI_Iallreduce");
            requests_.push_back(r);
        }
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1;
    std::vector<MPI_Request> requests_;
};

} // namespace lepton::distributed::mpi
