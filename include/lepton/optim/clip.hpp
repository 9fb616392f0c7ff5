#pragma once
/// \file
/// Gradient clipping by global norm, `torch.nn.utils.clip_grad_norm_`: when the
/// L2 norm of all gradients together exceeds `max_norm`, scale them all by
/// max_norm / (norm + 1e-6). Works on any model's flat gradient buffer.

#include <cmath>
#include <cstddef>
#include <span>

#include "../kernels/elementwise.hpp"

namespace lepton {

/// Clips `grads` in place; returns the norm before clipping.
template <class T>
double clip_grad_norm(std::span<T> grads, double max_norm)
{
    double sum = 0;
    for (T g : grads) sum += double(g) * double(g);
    const double norm = std::sqrt(sum);
    const double scale = max_norm / (norm + 1e-6);
    if (scale < 1.0) {
        const T s = T(scale);
        kernels::map(grads.size(), grads.data(), grads.data(), [s](auto g) { return g * decltype(g)(s); });
    }
    return norm;
}

} // namespace lepton
