#pragma once
/// \file
/// Flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...], `torch.nn.Flatten()`.

#include <algorithm>
#include <cstddef>

#include "layer.hpp"

namespace lepton {

template <class Where, class Got>
struct flatten_input_must_be_static {
    static constexpr bool value = !Got::has_dynamic;
};

/// What `Flatten` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index>
class flatten_layer : public detail::layer_base<T, In, Shape<In::has_dynamic ? 1 : In::size>> {
    static_assert(flatten_input_must_be_static<layer_index<Index>, In>::value,
                  "Lepton wiring error: Flatten needs an input without run-time (dynamic) dimensions");
    using base = typename flatten_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Flatten";

    // The data is already contiguous in the right order; this copy keeps each
    // layer's output a tensor of its own rank, and is a few microseconds.
    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        output_type& y = this->output_for(this->batch_of(x));
        std::copy(x.data(), x.data() + x.size(), y.data());
        return y;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_like(x);
        std::copy(dy.data(), dy.data() + dy.size(), dx.data());
        return dx;
    }
};

/// Flattens each sample to one dimension.
struct Flatten {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = flatten_layer<T, Backend, In, Index>;
};

} // namespace lepton
