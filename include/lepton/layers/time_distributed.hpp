#pragma once
/// \file
/// `TimeDistributed<Layer>`: applies a layer of one-dimensional input (Dense,
/// an activation, ...) to every step of a [time, features] sequence, with the
/// same weights at every step, like Keras' TimeDistributed or a PyTorch Linear
/// applied to [N, T, F]. Steps are folded into the batch, so the inner layer
/// runs once on [N * T, F].

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "layer.hpp"

namespace lepton {

template <class Where, class Got>
struct time_distributed_input_must_be_time_by_features {
    static constexpr bool value = is_invalid_shape<Got> || (Got::rank == 2 && Got::dims[1] != dynamic);
};

template <class T, class Backend, class In, std::size_t Index, class Spec>
class time_distributed_layer;

namespace detail {
template <class T, class Backend, class In, std::size_t Index, class Spec>
struct time_distributed_types {
    static constexpr bool ok = time_distributed_input_must_be_time_by_features<layer_index<Index>, In>::value &&
                               !is_invalid_shape<In>;
    using step_shape = std::conditional_t<ok, Shape<(In::rank == 2 ? In::dims[In::rank - 1] : 1)>, Shape<1>>;
    using inner = typename Spec::template bind<T, Backend, step_shape, Index>;
    using output = std::conditional_t<ok, Shape<In::dims[0], inner::output_shape::dims[0]>, invalid_shape>;
};
} // namespace detail

/// What `TimeDistributed` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, class Spec>
class time_distributed_layer
    : public detail::layer_base<T, In, typename detail::time_distributed_types<T, Backend, In, Index, Spec>::output> {
    static_assert(time_distributed_input_must_be_time_by_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: TimeDistributed needs an input [time, features]");
    using types = detail::time_distributed_types<T, Backend, In, Index, Spec>;
    using inner_type = typename types::inner;
    static_assert(inner_type::output_shape::rank == 1,
                  "Lepton wiring error: TimeDistributed wraps a layer with a flat output [features]");
    using base = typename time_distributed_layer::layer_base;
    static constexpr std::size_t F = types::step_shape::dims[0];
    static constexpr std::size_t U = inner_type::output_shape::dims[0];

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = inner_type::kind;
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = inner_type::parameter_count;
    /// Elements the wrapped layer takes in the parameter buffer (a block pads each of its layers).
    static constexpr std::size_t parameter_storage = detail::parameter_storage_of<inner_type, T>();

    /// Buffers of the wrapped layer (BatchNorm1D: running statistics), in the network's storage.
    static constexpr std::size_t buffer_count = detail::buffer_count_of<inner_type>();
    /// Counters of the wrapped layer.
    static constexpr std::size_t counter_count = detail::counter_count_of<inner_type>();

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* p, T* g) noexcept { inner_.bind(p, g); }
    /// Points the wrapped layer at its buffers.
    void bind_buffers(T* values, std::int64_t* counters) noexcept
    {
        if constexpr (requires { inner_.bind_buffers(values, counters); }) inner_.bind_buffers(values, counters);
    }
    /// Initialises the parameters.
    void initialize(random_engine& rng) { inner_.initialize(rng); }
    /// Initialises the wrapped layer with `Policy`.
    template <class Policy>
    void initialize(random_engine& rng, Policy policy)
        requires requires(inner_type& l) { l.initialize(rng, policy); }
    {
        inner_.initialize(rng, policy);
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class Fn>
    void for_each_parameter(Fn&& f)
    {
        inner_.for_each_parameter(f);
    }
    /// Calls `f(name, values, shape)` for each buffer of the wrapped layer (if it has any).
    template <class Fn>
    void for_each_buffer(Fn&& f)
    {
        if constexpr (requires { inner_.for_each_buffer(f); }) inner_.for_each_buffer(f);
    }
    /// The wrapped layer, shared by all time steps.
    inner_type& inner() noexcept { return inner_; }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context& ctx)
    {
        const std::size_t n = x.shape()[0], steps = x.shape()[1];
        ensure_shape(flat_x_, std::array<std::size_t, 2>{n * steps, F});
        std::copy(x.begin(), x.end(), flat_x_.begin());
        const auto& y = inner_.forward(flat_x_, ctx);
        ensure_shape(this->y_, std::array<std::size_t, 3>{n, steps, U});
        std::copy(y.begin(), y.end(), this->y_.begin());
        return this->y_;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        ensure_shape(flat_dy_, std::array<std::size_t, 2>{dy.shape()[0] * dy.shape()[1], U});
        std::copy(dy.begin(), dy.end(), flat_dy_.begin());
        const auto& dx = inner_.backward(flat_x_, flat_dy_, input_grad);
        if (!input_grad) return this->dx_;
        input_type& out = this->input_grad_like(x);
        std::copy(dx.begin(), dx.end(), out.begin());
        return out;
    }

private:
    inner_type inner_;
    tensor<T, 2> flat_x_, flat_dy_;
};

/// `TimeDistributed<Dense<V>>`: the same Dense applied at every step.
template <class Spec>
struct TimeDistributed {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = time_distributed_layer<T, Backend, In, Index, Spec>;
};

} // namespace lepton
