#pragma once
/// \file
/// A weight [units, in_features] followed by an optional bias [units] in one
/// slice of the network's parameters: the parameter block of Dense and GraphConv.

#include <cstddef>

#include "../core/random.hpp"
#include "layer.hpp"

namespace lepton::detail {

template <class T, std::size_t Units, std::size_t InFeatures, bool UseBias>
struct weight_and_bias {
    static constexpr std::size_t weight_count = Units * InFeatures;
    static constexpr std::size_t parameter_count = weight_count + (UseBias ? Units : 0);

    T* w = nullptr;   ///< weight, row-major [Units, InFeatures]
    T* gw = nullptr;  ///< its gradient
    T* b = nullptr;   ///< bias [Units] (only with UseBias)
    T* gb = nullptr;  ///< its gradient

    void bind(T* params, T* grads) noexcept
    {
        w = params;
        gw = grads;
        b = params + weight_count;
        gb = grads + weight_count;
    }

    template <class Policy>
    void initialize(random_engine& rng)
    {
        Policy::weight(w, weight_count, InFeatures, Units, rng);
        if constexpr (UseBias) Policy::bias(b, Units, InFeatures, rng);
    }

    /// f(name, data, grad, shape) for the weight (named `weight_name`) and the bias.
    template <class F>
    void for_each_parameter(F&& f, const char* weight_name)
    {
        f(weight_name, w, gw, parameter_shape{Units, InFeatures});
        if constexpr (UseBias) f("bias", b, gb, parameter_shape{Units});
    }
};

} // namespace lepton::detail
