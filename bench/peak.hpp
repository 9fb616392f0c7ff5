// The measured single-core FP32 FMA peak: every benchmark reports its GFLOP/s
// also as a percentage of this, read in the same run.
#pragma once

#include <lepton/core/compat.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace lepton_bench {

/// Runs 12 independent FMA chains on vectors of type `vec`: by default the
/// widest the build targets. Never inlined: inlined into bench_distributed's
/// main, the same loop ran at a third of the rate it reaches on its own.
template <class vec = xsimd::batch<float>>
LEPTON_NOINLINE double fma_gflops(long iterations)
{
    vec acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = vec(float(i) * 1e-3f);
    const vec m(0.999f), c(1e-3f);
    const auto start = std::chrono::steady_clock::now();
    for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = xsimd::fma(acc[i], m, c);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int i = 0; i < 12; ++i) benchmark::DoNotOptimize(acc[i]);
    return 2.0 * vec::size * 12 * double(iterations) / seconds * 1e-9;
}

/// The best of several short `fma_gflops` runs (noise only ever makes a run slower).
template <class vec = xsimd::batch<float>>
double best_fma_gflops()
{
    double best = 0;
    for (int r = 0; r < 10; ++r) best = std::max(best, fma_gflops<vec>(30'000'000));
    return best;
}

/// The build's FMA peak, measured once, before any benchmark runs (see LEPTON_BENCHMARK_MAIN).
inline double peak_gflops()
{
    static const double peak = best_fma_gflops();
    return peak;
}

/// Whether the build's widest FMAs run at full width: "512-bit FMAs at 1.98x
/// the 256-bit rate (full-width units)", or the build's vector width when it
/// is narrower than 512 bits.
inline std::string fma_width_description()
{
#if defined(__AVX512F__)
    // The same chains on 256-bit vectors: 512-bit FMAs run at twice their rate
    // on full-width units (Zen 5, Intel Xeons with two FMA ports), at the same
    // rate where they are split over 256-bit halves (Zen 4) or share one port.
    const double ratio = peak_gflops() / best_fma_gflops<xsimd::batch<float, xsimd::avx2>>();
    char text[96];
    std::snprintf(text, sizeof text, "512-bit FMAs at %.2fx the 256-bit rate (%s)", ratio,
                  ratio > 1.5 ? "full-width units" : "no faster than 256-bit: split or one port");
    return text;
#else
    return std::to_string(int(xsimd::batch<float>::size) * 32) + "-bit FMAs (no AVX-512 in this build)";
#endif
}

/// The CPU the run is on, from /proc/cpuinfo: "AMD EPYC 9R14 (family 25, model 17, avx512f)".
inline std::string cpu_description()
{
    std::ifstream in("/proc/cpuinfo");
    std::string line, name = "unknown CPU", family = "?", model = "?", isa = "no avx512f";
    auto value = [&] { return line.substr(line.find(':') + 2); };
    while (std::getline(in, line) && !line.empty()) {
        if (line.starts_with("model name")) name = value();
        else if (line.starts_with("cpu family")) family = value();
        else if (line.starts_with("model\t")) model = value();
        else if (line.starts_with("flags") && line.find(" avx512f") != std::string::npos) isa = "avx512f";
    }
    return name + " (family " + family + ", model " + model + ", " + isa + ")";
}

/// Sets GFLOP/s and percent-of-peak counters for `flops` per iteration.
inline void report_flops(benchmark::State& state, double flops)
{
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["peak%"] =
        benchmark::Counter(flops * 1e-9 / peak_gflops() * 100.0, benchmark::Counter::kIsIterationInvariantRate);
}

} // namespace lepton_bench

/// BENCHMARK_MAIN that measures the FMA peak first, on a quiet machine state.
#define LEPTON_BENCHMARK_MAIN()                                                \
    int main(int argc, char** argv)                                           \
    {                                                                         \
        benchmark::Initialize(&argc, argv);                                   \
        if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;     \
        benchmark::AddCustomContext("cpu", lepton_bench::cpu_description());  \
        benchmark::AddCustomContext("fma_peak_gflops_1core",                  \
                                    std::to_string(lepton_bench::peak_gflops())); \
        benchmark::AddCustomContext("fma_width", lepton_bench::fma_width_description()); \
        benchmark::RunSpecifiedBenchmarks();                                  \
        benchmark::Shutdown();                                                \
        return 0;                                                             \
    }
