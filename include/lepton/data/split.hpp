#pragma once
/// \file
/// Seeded train / validation / test splits of a data set (scikit-learn's
/// `train_test_split`), stratified by class when asked:
///
///     auto [train, validation, test] = data::split(table, {.validation = 0.15, .test = 0.15, .seed = 7,
///                                                          .stratify = true});

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "dataset.hpp"
#include "subset.hpp"

namespace lepton::data {

/// The fractions of a split and how it is drawn.
struct split_options {
    /// Fraction of the samples for validation (rounded up, as scikit-learn does).
    double validation = 0.0;
    /// Fraction of the samples for the test set (rounded up).
    double test = 0.2;
    /// Seeds the draw: the same seed and data give the same split on every compiler.
    std::uint64_t seed = 0;
    /// Class data sets only: every class in the same proportion in each part
    /// (within one sample), as scikit-learn's `stratify=y`.
    bool stratify = false;
};

/// The three parts of a split (validation is empty when its fraction is 0);
/// each keeps the samples in their original order.
template <class T, std::size_t SampleRank, std::size_t TargetRank = 0>
struct split_parts {
    /// The samples left for training.
    Dataset<T, SampleRank, TargetRank> train;
    /// The validation samples.
    Dataset<T, SampleRank, TargetRank> validation;
    /// The test samples.
    Dataset<T, SampleRank, TargetRank> test;
};

namespace detail {

/// Shares `total` out over groups in proportion to `sizes` (largest
/// remainders first, ties to the earlier group), at most `room[g]` each.
inline std::vector<std::size_t> proportional_counts(const std::vector<std::size_t>& sizes, std::size_t total,
                                                    const std::vector<std::size_t>& room)
{
    const std::size_t all = std::accumulate(sizes.begin(), sizes.end(), std::size_t{0});
    std::vector<std::size_t> counts(sizes.size());
    std::vector<double> remainder(sizes.size());
    std::size_t given = 0;
    for (std::size_t g = 0; g < sizes.size(); ++g) {
        const double share = all ? double(sizes[g]) * double(total) / double(all) : 0.0;
        counts[g] = std::min(room[g], std::size_t(share));
        remainder[g] = share - double(counts[g]);
        given += counts[g];
    }
    std::vector<std::size_t> order(sizes.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
    for (bool progress = true; given < total && progress;) {
        progress = false;
        for (const std::size_t g : order)
            if (given < total && counts[g] < room[g]) {
                ++counts[g];
                ++given;
                progress = true;
            }
    }
    return counts;
}

/// A seeded permutation of `indices` (Fisher-Yates on Lepton's generator).
inline void shuffle_indices(std::vector<std::size_t>& indices, random_engine& rng)
{
    for (std::size_t i = indices.size(); i > 1; --i) std::swap(indices[i - 1], indices[rng.below(i)]);
}

} // namespace detail

/// Splits `data` into train, validation and test parts of the given
/// fractions (each part's size rounded up; train takes the rest). Throws
/// `value_error` for fractions outside [0, 1) that leave no training sample,
/// or for `stratify` on a data set without class labels.
template <class T, std::size_t SampleRank, std::size_t TargetRank>
split_parts<T, SampleRank, TargetRank> split(const Dataset<T, SampleRank, TargetRank>& data, const split_options& options)
{
    detail::check_sample_count("split", data);
    const std::size_t n = data.size();
    const auto part = [&](double fraction, const char* name) {
        if (!(fraction >= 0.0 && fraction < 1.0))
            throw value_error(std::string("lepton: split: the ") + name + " fraction is " + std::to_string(fraction) +
                              ", outside [0, 1)");
        return std::size_t(std::ceil(fraction * double(n) - 1e-9));
    };
    const std::size_t n_test = part(options.test, "test"), n_validation = part(options.validation, "validation");
    if (n_test + n_validation >= n)
        throw value_error("lepton: split: " + std::to_string(n_validation) + " validation and " + std::to_string(n_test) +
                          " test samples leave none of " + std::to_string(n) + " to train on");

    random_engine rng(options.seed);
    std::vector<std::size_t> test, validation, train;
    auto deal = [&](std::vector<std::size_t> group, std::size_t to_test, std::size_t to_validation) {
        detail::shuffle_indices(group, rng);
        test.insert(test.end(), group.begin(), group.begin() + std::ptrdiff_t(to_test));
        validation.insert(validation.end(), group.begin() + std::ptrdiff_t(to_test),
                          group.begin() + std::ptrdiff_t(to_test + to_validation));
        train.insert(train.end(), group.begin() + std::ptrdiff_t(to_test + to_validation), group.end());
    };
    if (!options.stratify) {
        std::vector<std::size_t> all(n);
        std::iota(all.begin(), all.end(), std::size_t{0});
        deal(std::move(all), n_test, n_validation);
    } else if constexpr (TargetRank != 0) {
        throw value_error("lepton: split: stratify needs a data set of class labels; this one has target tensors");
    } else {
        std::map<std::int32_t, std::vector<std::size_t>> classes;
        for (std::size_t i = 0; i < n; ++i) classes[data.labels[i]].push_back(i);
        std::vector<std::size_t> sizes;
        for (const auto& [label, members] : classes) sizes.push_back(members.size());
        // Test first, then validation from what each class has left.
        const auto tests = detail::proportional_counts(sizes, n_test, sizes);
        std::vector<std::size_t> left(sizes.size());
        for (std::size_t g = 0; g < sizes.size(); ++g) left[g] = sizes[g] - tests[g];
        const auto validations = detail::proportional_counts(sizes, n_validation, left);
        std::size_t g = 0;
        for (auto& [label, members] : classes) {
            deal(std::move(members), tests[g], validations[g]);
            ++g;
        }
    }
    for (auto* indices : {&train, &validation, &test}) std::sort(indices->begin(), indices->end());
    return {select(data, std::span<const std::size_t>(train)), select(data, std::span<const std::size_t>(validation)),
            select(data, std::span<const std::size_t>(test))};
}

} // namespace lepton::data
