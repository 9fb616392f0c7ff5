#pragma once
/// \file
/// Moving weights between networks of different types (fine-tuning): a
/// pretrained body into a network with a new head.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../layers/layer.hpp"
#include "parameters.hpp"

namespace lepton {

/// Copies every parameter of `from` into the parameter of `to` with the same
/// name and shape ("0.weight", ...), and every buffer (BatchNorm's running
/// statistics and `num_batches_tracked`) into the buffer of the same name and
/// shape, for which `take(name)` is true (all by default). Returns the names
/// copied, parameters first; tensors of `to` without a match keep their
/// values, so a new head stays as initialised.
template <class From, class To>
std::vector<std::string> transfer_parameters(From& from, To& to,
                                             const std::function<bool(const std::string&)>& take = {})
{
    struct source {
        std::string name;
        parameter_shape shape;
        std::vector<double> values;         // parameters and floating-point buffers
        std::vector<std::int64_t> counts;   // counters
        bool counter = false;
    };
    std::vector<source> parameters, buffers;
    from.for_each_parameter([&](const std::string& name, auto* data, auto*, const parameter_shape& shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        parameters.push_back({name, shape, std::vector<double>(data, data + n), {}, false});
    });
    from.for_each_buffer([&](const std::string& name, auto values, const parameter_shape& shape) {
        using V = std::remove_cv_t<typename decltype(values)::element_type>;
        if constexpr (std::is_integral_v<V>)
            buffers.push_back({name, shape, {}, std::vector<std::int64_t>(values.begin(), values.end()), true});
        else
            buffers.push_back({name, shape, std::vector<double>(values.begin(), values.end()), {}, false});
    });
    auto match = [](const std::vector<source>& sources, const std::string& name, const parameter_shape& shape,
                    bool counter) -> const source* {
        for (const auto& s : sources)
            if (s.name == name && s.shape == shape && s.counter == counter) return &s;
        return nullptr;
    };
    std::vector<std::string> copied;
    to.for_each_parameter([&](const std::string& name, auto* data, auto*, const parameter_shape& shape) {
        if (take && !take(name)) return;
        const source* s = match(parameters, name, shape, false);
        if (!s) return;
        using V = std::remove_pointer_t<decltype(data)>;
        std::transform(s->values.begin(), s->values.end(), data, [](double v) { return V(v); });
        copied.push_back(name);
    });
    to.for_each_buffer([&](const std::string& name, auto values, const parameter_shape& shape) {
        if (take && !take(name)) return;
        using V = std::remove_cv_t<typename decltype(values)::element_type>;
        const source* s = match(buffers, name, shape, std::is_integral_v<V>);
        if (!s || (s->counter ? s->counts.size() : s->values.size()) != values.size()) return;
        if constexpr (std::is_integral_v<V>)
            std::copy(s->counts.begin(), s->counts.end(), values.begin());
        else
            std::transform(s->values.begin(), s->values.end(), values.begin(), [](double v) { return V(v); });
        copied.push_back(name);
    });
    return copied;
}

/// A `transfer_parameters` filter that takes every tensor except those named
/// by one of `prefixes` or under it: `all_except({"9"})` leaves out "9.weight"
/// and "9.bias", a pretrained network without its head.
inline std::function<bool(const std::string&)> all_except(std::initializer_list<std::string> prefixes)
{
    return [left_out = std::vector<std::string>(prefixes)](const std::string& name) {
        return std::none_of(left_out.begin(), left_out.end(),
                            [&](const std::string& p) { return detail::names_or_under(name, p); });
    };
}

} // namespace lepton
