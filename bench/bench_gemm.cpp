// SGEMM and Dense layers: Lepton beside OpenBLAS (when installed) in one run.
//   ./bench_gemm                                  OpenBLAS picks its kernels itself
//   OPENBLAS_CORETYPE=SkylakeX ./bench_gemm       OpenBLAS forced to its AVX-512 kernels
#include "peak.hpp"

#include <lepton/lepton.hpp>

#include <cstdlib>
#include <vector>

#ifdef LEPTON_BENCH_OPENBLAS
#include <cblas.h>
#endif

using namespace lepton;
using lepton_bench::report_flops;

namespace {

std::vector<float, aligned_allocator<float>> random_matrix(std::size_t n, std::uint64_t seed)
{
    std::vector<float, aligned_allocator<float>> m(n);
    random_engine rng(seed);
    for (auto& v : m) v = float(rng.uniform(-1, 1));
    return m;
}

void BM_PeakFMA(benchmark::State& state)
{
    for (auto _ : state) benchmark::DoNotOptimize(lepton_bench::fma_gflops(1'000'000));
    state.counters["GFLOPS"] = lepton_bench::peak_gflops();
    state.counters["width"] = double(xsimd::batch<float>::size);
}

void BM_LeptonSgemm(benchmark::State& state)
{
    const auto n = std::size_t(state.range(0));
    set_num_threads(int(state.range(1)));
    auto a = random_matrix(n * n, 1), b = random_matrix(n * n, 2), c = random_matrix(n * n, 3);
    for (auto _ : state) {
        kernels::gemm(kernels::transpose::no, kernels::transpose::no, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                      c.data(), n);
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * double(n) * double(n) * double(n));
}

#ifdef LEPTON_BENCH_OPENBLAS
void BM_OpenBlasSgemm(benchmark::State& state)
{
    const auto n = int(state.range(0));
    openblas_set_num_threads(int(state.range(1)));
    auto a = random_matrix(std::size_t(n) * n, 1), b = random_matrix(std::size_t(n) * n, 2),
         c = random_matrix(std::size_t(n) * n, 3);
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(),
                    n);
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * double(n) * double(n) * double(n));
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    state.SetLabel(std::string("coretype=") + (core ? core : "auto"));
}
#endif

using DenseNet = Sequential<Input<784>, Dense<256>>;

template <std::size_t Units>
void BM_LeptonDenseForward(benchmark::State& state)
{
    const auto batch = std::size_t(state.range(0));
    set_num_threads(int(state.range(1)));
    Sequential<Input<784>, Dense<Units>> net;
    tensor<float, 2> x({batch, 784});
    for (auto& v : x) v = 0.5f;
    for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
    report_flops(state, 2.0 * double(batch) * 784 * Units);
}

void BM_LeptonDenseForwardBackward(benchmark::State& state)
{
    const auto batch = std::size_t(state.range(0));
    set_num_threads(int(state.range(1)));
    DenseNet net;
    tensor<float, 2> x({batch, 784}), dy({batch, 256});
    for (auto& v : x) v = 0.5f;
    for (auto& v : dy) v = 0.01f;
    for (auto _ : state) {
        net.forward(x);
        benchmark::DoNotOptimize(net.backward(dy, true).data());
    }
    // forward, weight gradient and input gradient: three products of the same size
    report_flops(state, 3 * 2.0 * double(batch) * 784 * 256);
}

#ifdef LEPTON_BENCH_OPENBLAS
void BM_OpenBlasDenseForward(benchmark::State& state)
{
    const int batch = int(state.range(0));
    openblas_set_num_threads(int(state.range(1)));
    auto x = random_matrix(std::size_t(batch) * 784, 1), w = random_matrix(256 * 784, 2),
         y = random_matrix(std::size_t(batch) * 256, 3), b = random_matrix(256, 4);
    for (auto _ : state) {
        // y = x W^T + b, the way a BLAS-backed framework computes a Linear layer
        for (int r = 0; r < batch; ++r) std::copy(b.begin(), b.end(), y.begin() + r * 256);
        if (batch == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, 256, 784, 1.0f, w.data(), 784, x.data(), 1, 1.0f, y.data(), 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, 256, 784, 1.0f, x.data(), 784, w.data(), 784,
                        1.0f, y.data(), 256);
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * double(batch) * 784 * 256);
}
#endif

} // namespace

BENCHMARK(BM_PeakFMA)->Iterations(3);
BENCHMARK(BM_LeptonSgemm)->ArgsProduct({{128, 256, 512, 1024}, {1}})->ArgNames({"n", "threads"});
BENCHMARK(BM_LeptonSgemm)->Args({1024, 2})->ArgNames({"n", "threads"})->UseRealTime();
#ifdef LEPTON_BENCH_OPENBLAS
BENCHMARK(BM_OpenBlasSgemm)->ArgsProduct({{128, 256, 512, 1024}, {1}})->ArgNames({"n", "threads"});
BENCHMARK(BM_OpenBlasSgemm)->Args({1024, 2})->ArgNames({"n", "threads"})->UseRealTime();
#endif
BENCHMARK(BM_LeptonDenseForward<256>)->ArgsProduct({{1, 256}, {1, 2}})->ArgNames({"batch", "threads"});
// 784 -> 128: weights of 401 KB, which fit a 512 KB L2 (784 -> 256's 803 KB do not on Zen 3).
BENCHMARK(BM_LeptonDenseForward<128>)->Args({1, 1})->ArgNames({"batch", "threads"});
BENCHMARK(BM_LeptonDenseForwardBackward)->Args({256, 1})->ArgNames({"batch", "threads"});
#ifdef LEPTON_BENCH_OPENBLAS
BENCHMARK(BM_OpenBlasDenseForward)->ArgsProduct({{1, 256}, {1}})->ArgNames({"batch", "threads"});
#endif

LEPTON_BENCHMARK_MAIN()
