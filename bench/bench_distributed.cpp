// Data-parallel training of the Fashion-MNIST CNN over MPI: samples/s of the
// training step for 1 process x 1 thread, 1 process x 2 threads and 2
// processes x 1 thread in one run, the time the 2-process step waits for
// communication after its last backward layer, and a bucket-size sweep.
// Run under mpirun with 2 ranks (bench/README.md):
//   mpirun -np 2 --bind-to none bench/bench_distributed [steps]
// (not bound to one core each: the single-process rows run rank 0 on 2 threads).
// While one rank measures alone, the other sleeps (MPI's blocking calls would
// spin on its core), so the single-process rows have the whole machine.
// Google Benchmark's adaptive iteration counts cannot keep collective calls in
// step between ranks, so this program times a fixed number of steps itself.
#include <lepton/distributed/data_parallel.hpp>
#include <lepton/distributed/mpi.hpp>
#include <lepton/kernels/parallel.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/network.hpp>

#include "training_step.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <mpi.h>
#include <vector>

using namespace lepton;
namespace dist = lepton::distributed;

namespace {

using CNN = Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;

/// Arithmetic of one training step on `batch` samples (as bench_conv's cnn_step_flops for 64).
double step_flops(std::size_t batch)
{
    const double b = double(batch);
    const double conv1 = 2.0 * b * 32 * 9 * 784, conv2 = 2.0 * b * 64 * 32 * 9 * 196;
    return 2 * conv1 + 3 * conv2 + 3 * 2.0 * b * (3136.0 * 128 + 128 * 10);
}

struct result {
    double seconds_per_step = 0;  ///< median over the repetitions
    double wait_per_step = 0;     ///< mean wait after the last backward layer (data-parallel only)
};

/// `steps` training steps of batch `batch`, through `replicas` when given;
/// the median of 3 repetitions after one warm-up repetition.
result time_steps(std::size_t batch, int steps, dist::DataParallel<CNN>* replicas, CNN& net)
{
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    const auto x = lepton_bench::filled_input<CNN>(batch);
    std::vector<std::int32_t> labels(batch);
    for (std::size_t i = 0; i < batch; ++i) labels[i] = std::int32_t(i % 10);
    std::vector<double> times, waits;
    for (int rep = 0; rep < 4; ++rep) {
        const double waited = replicas ? replicas->total_wait_seconds() : 0;
        const auto start = std::chrono::steady_clock::now();
        for (int s = 0; s < steps; ++s) {
            net.zero_grad();
            loss(net.forward(x), labels);
            if (replicas)
                replicas->backward(loss.gradient());
            else
                net.backward(loss.gradient());
            optimizer.step();
        }
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (rep == 0) continue;  // warm-up
        times.push_back(t / steps);
        waits.push_back(replicas ? (replicas->total_wait_seconds() - waited) / steps : 0);
    }
    std::sort(times.begin(), times.end());
    double wait = 0;
    for (const double w : waits) wait += w / double(waits.size());
    return {times[1], wait};
}

/// Rank 0 runs `work` while the others sleep in a non-blocking barrier.
template <class Work>
void rank0_alone(dist::mpi::group& world, Work&& work)
{
    if (world.rank() == 0) work();
    MPI_Request done;
    MPI_Ibarrier(world.communicator(), &done);
    for (int flag = 0; !flag;) {
        MPI_Test(&done, &flag, MPI_STATUS_IGNORE);
        if (!flag) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

void row(const char* what, std::size_t samples_per_step, const result& r, int cores, double peak)
{
    const double flops = step_flops(samples_per_step);
    std::printf("%-44s %9.2f ms %9.0f samples/s %7.1f GFLOP/s %5.1f%% of peak", what, r.seconds_per_step * 1e3,
                double(samples_per_step) / r.seconds_per_step, flops / r.seconds_per_step * 1e-9,
                flops / r.seconds_per_step * 1e-9 / (peak * cores) * 100);
    if (r.wait_per_step > 0)
        std::printf("  wait %.3f ms (%.1f%%)", r.wait_per_step * 1e3, r.wait_per_step / r.seconds_per_step * 100);
    std::printf("\n");
}

} // namespace

int main(int argc, char** argv)
{
    dist::mpi::environment mpi(argc, argv);
    dist::mpi::group world;
    const int steps = argc > 1 ? std::atoi(argv[1]) : 40;
    const bool root = world.rank() == 0;
    if (world.size() != 2) {
        if (root) std::fprintf(stderr, "bench_distributed: run it with 2 ranks (mpirun -np 2)\n");
        return 2;
    }
    double peak = 0;
    rank0_alone(world, [&] { peak = lepton_bench::peak_gflops(); });
    // The same FMA loop on both cores at once: what the machine itself allows two ranks
    // (virtual cores may share a physical core's units with their neighbour).
    world.barrier();
    double together = 0;
    for (int r = 0; r < 10; ++r) together = std::max(together, lepton_bench::fma_gflops(30'000'000));
    double slowest = together;
    MPI_Allreduce(&together, &slowest, 1, MPI_DOUBLE, MPI_MIN, world.communicator());
    if (root)
        std::printf("cpu: %s\nfma_peak_gflops_1core: %.1f alone, %.1f per core with both cores busy (%.1f%%)\n"
                    "CNN training step (Adam), %d steps per repetition, median of 3; GFLOP/s count the convolutions "
                    "as direct ones (Winograd does fewer), so they are effective rates\n",
                    lepton_bench::cpu_description().c_str(), peak, slowest, slowest / peak * 100, steps);

    result one, two_threads, two_threads_128;
    rank0_alone(world, [&] {
        set_num_threads(1);
        CNN net(1);
        one = time_steps(64, steps, nullptr, net);
        set_num_threads(2);
        CNN wide(1);
        two_threads = time_steps(64, steps, nullptr, wide);
        two_threads_128 = time_steps(128, steps, nullptr, wide);
        set_num_threads(1);
    });
    if (root) {
        row("1 process x 1 thread, batch 64", 64, one, 1, peak);
        row("1 process x 2 threads, batch 64", 64, two_threads, 2, peak);
        row("1 process x 2 threads, batch 128", 128, two_threads_128, 2, peak);
    }

    // Both ranks train a network each at once, without communicating: what sharing
    // the machine's caches and memory costs before any message is sent.
    set_num_threads(1);
    {
        CNN net(1);
        world.barrier();
        const result r = time_steps(64, steps, nullptr, net);
        double mine = r.seconds_per_step, slowest = mine;
        MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, world.communicator());
        if (root) row("2 processes x 1 thread, each alone (no comm.)", 128, {slowest, 0}, 2, peak);
    }
    struct sweep_case {
        const char* name;
        dist::data_parallel_options options;
    };
    const sweep_case sweep[] = {
        {"2 processes x 1 thread, 64 each, 25 MiB", {}},
        {"  buckets of 4 MiB (first 1 MiB)", {.bucket_bytes = 4u << 20}},
        {"  buckets of 1 MiB", {.bucket_bytes = 1u << 20, .first_bucket_bytes = 1u << 20}},
        {"  buckets of 256 KiB", {.bucket_bytes = 256u << 10, .first_bucket_bytes = 256u << 10}},
        {"  buckets of 64 KiB", {.bucket_bytes = 64u << 10, .first_bucket_bytes = 64u << 10}},
        {"  one bucket", {.bucket_bytes = 0}},
    };
    for (const auto& c : sweep) {
        CNN net(1);
        dist::DataParallel replicas(net, world, c.options);
        const result r = time_steps(64, steps, &replicas, net);
        // The slower rank sets the pace: report the larger time and wait.
        double both[2] = {r.seconds_per_step, r.wait_per_step}, worst[2];
        MPI_Allreduce(both, worst, 2, MPI_DOUBLE, MPI_MAX, world.communicator());
        const result slow{worst[0], worst[1]};
        if (root) {
            row(c.name, 128, slow, 2, peak);
            std::printf("%-44s %zu of %zu buckets started before the first layer's backward\n", "",
                        replicas.overlapped_buckets(), replicas.buckets().size());
            if (&c == &sweep[0])
                std::printf("%-44s %.1f%% weak-scaling efficiency (per-rank samples/s vs 1 x 1), %.2fx 1 x 2 threads at "
                            "batch 128\n",
                            "", one.seconds_per_step / slow.seconds_per_step * 100,
                            two_threads_128.seconds_per_step / slow.seconds_per_step);
        }
    }
    return 0;
}
