#pragma once
/// \file
/// `Bidirectional<RNN>`: runs a recurrent layer over the sequence and a second
/// copy over the reversed sequence, and concatenates their features, as
/// `torch.nn.LSTM(..., bidirectional=True)` does: [T, 2H] with every step
/// (the reverse half re-aligned to the original time order), or [2H] with the
/// last states (the reverse direction's last state is the one at t = 0). The
/// reverse copy's parameters carry PyTorch's `_reverse` suffix.

#include <algorithm>
#include <cstddef>
#include <string>

#include "layer.hpp"
#include "recurrent_stack.hpp"

namespace lepton {

template <class T, class Backend, class In, std::size_t Index, class Spec>
class bidirectional_layer;

namespace detail {
template <class T, class Backend, class In, std::size_t Index, class Spec>
struct bidirectional_types {
    using inner = typename Spec::template bind<T, Backend, In, Index>;
    using inner_out = typename inner::output_shape;
    static constexpr bool sequences = inner_out::rank == 2;
    using output = std::conditional_t<
        is_invalid_shape<inner_out>, invalid_shape,
        std::conditional_t<sequences, Shape<inner_out::dims[0], 2 * inner_out::dims[inner_out::rank - 1]>,
                           Shape<2 * inner_out::dims[inner_out::rank - 1]>>>;
};

/// dst[b][t] = src[b][steps - 1 - t] for [N, steps, F] sequences.
template <class T>
inline void reverse_time(const T* src, T* dst, std::size_t n, std::size_t steps, std::size_t f)
{
    for (std::size_t b = 0; b < n; ++b)
        for (std::size_t t = 0; t < steps; ++t)
            std::copy_n(src + (b * steps + steps - 1 - t) * f, f, dst + (b * steps + t) * f);
}
} // namespace detail

/// What `Bidirectional` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, class Spec>
class bidirectional_layer
    : public detail::layer_base<T, In, typename detail::bidirectional_types<T, Backend, In, Index, Spec>::output> {
    using types = detail::bidirectional_types<T, Backend, In, Index, Spec>;
    using inner_type = typename types::inner;
    using base = typename bidirectional_layer::layer_base;
    static constexpr bool sequences = types::sequences;
    static constexpr std::size_t H = types::inner_out::dims[types::inner_out::rank - 1];

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Bidirectional";
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = 2 * inner_type::parameter_count;

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* p, T* g) noexcept
    {
        forward_.bind(p, g);
        reverse_.bind(p + inner_type::parameter_count, g + inner_type::parameter_count);
    }
    /// Initialises the parameters.
    void initialize(random_engine& rng)
    {
        forward_.initialize(rng);
        reverse_.initialize(rng);
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class Fn>
    void for_each_parameter(Fn&& f)
    {
        forward_.for_each_parameter(f);
        reverse_.for_each_parameter([&](const char* name, T* data, T* grad, const parameter_shape& shape) {
            const std::string reversed = std::string(name) + "_reverse";
            f(reversed.c_str(), data, grad, shape);
        });
    }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context& ctx)
    {
        const std::size_t n = x.shape()[0], steps = x.shape()[1], f = x.shape()[2];
        ensure_shape(x_reversed_, x.shape());
        detail::reverse_time(x.data(), x_reversed_.data(), n, steps, f);
        const auto& a = forward_.forward(x, ctx);
        const auto& b = reverse_.forward(x_reversed_, ctx);
        if constexpr (sequences) {
            ensure_shape(this->y_, std::array<std::size_t, 3>{n, steps, 2 * H});
            for (std::size_t s = 0; s < n; ++s)
                for (std::size_t t = 0; t < steps; ++t) {
                    T* out = this->y_.data() + (s * steps + t) * 2 * H;
                    std::copy_n(a.data() + (s * steps + t) * H, H, out);
                    std::copy_n(b.data() + (s * steps + steps - 1 - t) * H, H, out + H);
                }
        } else {
            ensure_shape(this->y_, std::array<std::size_t, 2>{n, 2 * H});
            for (std::size_t s = 0; s < n; ++s) {
                std::copy_n(a.data() + s * H, H, this->y_.data() + s * 2 * H);
                std::copy_n(b.data() + s * H, H, this->y_.data() + s * 2 * H + H);
            }
        }
        return this->y_;
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = x.shape()[0], steps = x.shape()[1], f = x.shape()[2];
        using inner_output = typename inner_type::output_type;
        const auto inner_shape = forward_.output().shape();
        ensure_shape(dy_forward_, inner_shape);
        ensure_shape(dy_reverse_, inner_shape);
        const std::size_t rows = sequences ? n * steps : n;
        for (std::size_t r = 0; r < rows; ++r) {
            // With sequences, row r of the reverse half belongs to reversed step steps - 1 - t.
            const std::size_t s = sequences ? r / steps : r, t = sequences ? r % steps : 0;
            const std::size_t reverse_row = sequences ? s * steps + steps - 1 - t : r;
            std::copy_n(dy.data() + r * 2 * H, H, dy_forward_.data() + r * H);
            std::copy_n(dy.data() + r * 2 * H + H, H, dy_reverse_.data() + reverse_row * H);
        }
        const auto& dx_a = forward_.backward(x, static_cast<const inner_output&>(dy_forward_), input_grad);
        if (!input_grad) {
            reverse_.backward(x_reversed_, static_cast<const inner_output&>(dy_reverse_), false);
            return this->dx_;
        }
        input_type& dx = this->input_grad_like(x);
        std::copy(dx_a.begin(), dx_a.end(), dx.begin());
        const auto& dx_b = reverse_.backward(x_reversed_, static_cast<const inner_output&>(dy_reverse_), true);
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t t = 0; t < steps; ++t) {
                T* d = dx.data() + (s * steps + t) * f;
                const T* src = dx_b.data() + (s * steps + steps - 1 - t) * f;
                for (std::size_t k = 0; k < f; ++k) d[k] += src[k];
            }
        return dx;
    }

private:
    inner_type forward_, reverse_;
    input_type x_reversed_;
    typename inner_type::output_type dy_forward_, dy_reverse_;
};

namespace detail {
/// What `Bidirectional<Spec>` binds to: one bidirectional layer, or a stack of
/// them (`Wrap` is `Bidirectional`) when `Spec` has several layers.
template <template <class> class Wrap, class Spec, class T, class Backend, class In, std::size_t Index>
struct bidirectional_bind {
    using type = bidirectional_layer<T, Backend, In, Index, Spec>;
};
template <template <class> class Wrap, class Spec, class T, class Backend, class In, std::size_t Index>
    requires(recurrent_layers<Spec> > 1)
struct bidirectional_bind<Wrap, Spec, T, Backend, In, Index> {
    using type = typename stacked_spec<Spec::template single, Wrap, Spec::return_sequences, Spec::layers,
                                       Spec::dropout>::template bind<T, Backend, In, Index>;
};
} // namespace detail

/// `Bidirectional<LSTM<H, ReturnSequences>>` (or a GRU): both directions,
/// features concatenated. With a stacked spec (`LSTM<H, RS, Layers, Dropout>`)
/// every layer is bidirectional and reads both directions of the one before,
/// as `torch.nn.LSTM(num_layers=Layers, bidirectional=True)`.
template <class Spec>
struct Bidirectional {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename detail::bidirectional_bind<Bidirectional, Spec, T, Backend, In, Index>::type;
};

} // namespace lepton
