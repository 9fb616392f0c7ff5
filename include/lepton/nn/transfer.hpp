#pragma once
/// \file
/// Moving weights between networks of different types (fine-tuning): a
/// pretrained body into a network with a new head.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "../layers/layer.hpp"

namespace lepton {

/// Copies every parameter of `from` into the parameter of `to` with the same
/// name and shape ("0.weight", ...), for which `take(name)` is true (all by
/// default). Returns the names copied; parameters of `to` without a match keep
/// their values, so a new head stays as initialised. Buffers (BatchNorm's
/// running statistics) are not parameters and are not copied.
template <class From, class To>
std::vector<std::string> transfer_parameters(From& from, To& to,
                                             const std::function<bool(const std::string&)>& take = {})
{
    struct source {
        std::string name;
        const typename From::value_type* data;
        parameter_shape shape;
    };
    std::vector<source> sources;
    from.for_each_parameter([&](const std::string& name, auto* data, auto*, const parameter_shape& shape) {
        sources.push_back({name, data, shape});
    });
    std::vector<std::string> copied;
    to.for_each_parameter([&](const std::string& name, auto* data, auto*, const parameter_shape& shape) {
        if (take && !take(name)) return;
        for (const auto& s : sources) {
            if (s.name != name || s.shape != shape) continue;
            std::size_t n = 1;
            for (auto d : shape) n *= d;
            std::copy(s.data, s.data + n, data);
            copied.push_back(name);
            return;
        }
    });
    return copied;
}

} // namespace lepton
