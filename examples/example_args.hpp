// Command-line arguments the examples share: positional values, and `--short`,
// the quick run CI uses to check that each example still runs and writes what
// its README says (one short epoch, or a few hundred steps, on a subset).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lepton/data/subset.hpp>

class example_args {
public:
    example_args(int argc, char** argv)
    {
        for (int i = 1; i < argc; ++i) {
            if (std::string_view(argv[i]) == "--short")
                short_run_ = true;
            else
                positional_.emplace_back(argv[i]);
        }
    }

    /// Whether `--short` was given.
    bool short_run() const noexcept { return short_run_; }

    /// Positional argument `i` (0-based, flags not counted), or `fallback` when absent.
    std::string text(std::size_t i, std::string fallback) const
    {
        return i < positional_.size() ? positional_[i] : fallback;
    }
    long long integer(std::size_t i, long long fallback) const
    {
        return i < positional_.size() ? std::strtoll(positional_[i].c_str(), nullptr, 10) : fallback;
    }
    double number(std::size_t i, double fallback) const
    {
        return i < positional_.size() ? std::strtod(positional_[i].c_str(), nullptr) : fallback;
    }

private:
    bool short_run_ = false;
    std::vector<std::string> positional_;
};

/// The first `n` samples of `data` (all of them when it has fewer).
template <class Dataset>
Dataset first_samples(const Dataset& data, std::size_t n)
{
    std::vector<std::size_t> indices(std::min(n, data.size()));
    std::iota(indices.begin(), indices.end(), std::size_t{0});
    return lepton::data::select(data, std::span<const std::size_t>(indices));
}
