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
#include <vector>

#include "../core/error.hpp"
#include "dataset.hpp"

namespace lepton::data {

/// The samples of `data` at `indices`, in that order; throws `value_error` for an index out of range.
template <class T, std::size_t SampleRank>
Dataset<T, SampleRank> select(const Dataset<T, SampleRank>& data, std::span<const std::size_t> indices)
{
    const std::size_t sample = data.size() ? data.features.size() / data.size() : 0;
    auto shape = data.features.shape();
    std::array<std::size_t, SampleRank + 1> s;
    std::copy(shape.begin(), shape.end(), s.begin());
    s[0] = indices.size();
    Dataset<T, SampleRank> out;
    out.features.resize(s);
    out.labels.reserve(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) {
        const std::size_t src = indices[i];
        if (src >= data.size())
            throw value_error("lepton: select: index " + std::to_string(src) + " is outside a data set of " +
                              std::to_string(data.size()) + " samples");
        std::copy_n(data.features.data() + src * sample, sample, out.features.data() + i * sample);
        out.labels.push_back(data.labels[src]);
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
