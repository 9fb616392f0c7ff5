#pragma once
/// \file
/// Parts of a data set: the samples at given indices, or those whose label
/// passes a test (with labels renumbered, for a task on a subset of classes).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "dataset.hpp"

namespace lepton::data {

/// The samples of `data` at `indices`, in that order, with their labels or
/// targets; throws `value_error` for an index out of range.
template <class T, std::size_t SampleRank, std::size_t TargetRank>
Dataset<T, SampleRank, TargetRank> select(const Dataset<T, SampleRank, TargetRank>& data,
                                          std::span<const std::size_t> indices)
{
    detail::check_sample_count("select", data);
    // Rows of `from` at `indices` into a tensor of the same rank.
    auto rows = [&](const auto& from, auto& to) {
        const std::size_t row = data.size() ? from.size() / data.size() : 0;
        auto shape = from.shape();
        std::array<std::size_t, std::decay_t<decltype(from)>::rank> s;
        std::copy(shape.begin(), shape.end(), s.begin());
        s[0] = indices.size();
        to.resize(s);
        for (std::size_t i = 0; i < indices.size(); ++i) std::copy_n(from.data() + indices[i] * row, row, to.data() + i * row);
    };
    for (const std::size_t src : indices)
        if (src >= data.size())
            throw value_error("lepton: select: index " + std::to_string(src) + " is outside a data set of " +
                              std::to_string(data.size()) + " samples");
    Dataset<T, SampleRank, TargetRank> out;
    rows(data.features, out.features);
    if constexpr (TargetRank == 0) {
        out.labels.reserve(indices.size());
        for (const std::size_t src : indices) out.labels.push_back(data.labels[src]);
    } else {
        rows(data.targets, out.targets);
    }
    return out;
}

/// The first `limit` samples whose label is in `classes` (all of them when
/// `limit` is 0), relabelled as the position of their label in `classes`:
/// classes {5, 6, 7, 8, 9} become labels 0-4.
template <class T, std::size_t SampleRank>
Dataset<T, SampleRank> select_classes(const Dataset<T, SampleRank>& data, std::span<const std::int32_t> classes,
                                      std::size_t limit = 0)
{
    std::vector<std::size_t> indices;
    for (std::size_t i = 0; i < data.size() && (limit == 0 || indices.size() < limit); ++i)
        if (std::find(classes.begin(), classes.end(), data.labels[i]) != classes.end()) indices.push_back(i);
    Dataset<T, SampleRank> out = select(data, std::span<const std::size_t>(indices));
    for (auto& label : out.labels)
        label = static_cast<std::int32_t>(std::find(classes.begin(), classes.end(), label) - classes.begin());
    return out;
}

} // namespace lepton::data
