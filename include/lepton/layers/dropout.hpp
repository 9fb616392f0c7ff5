#pragma once
/// \file
/// Dropout, `torch.nn.Dropout(p)`: in training, zeroes each element with
/// probability p and scales the rest by 1 / (1 - p); the identity in evaluation.

#include <algorithm>
#include <cstddef>

#include "../kernels/elementwise.hpp"
#include "layer.hpp"

namespace lepton {

template <class T, class Backend, class In, std::size_t Index, double Rate>
class dropout_layer : public detail::layer_base<T, In, In> {
    using base = typename dropout_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    static constexpr const char* kind = "Dropout";

    const output_type& forward(const input_type& x, context& ctx)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        training_ = ctx.training && Rate > 0.0;
        if (!training_) {
            std::copy(x.data(), x.data() + x.size(), y.data());
            return y;
        }
        ensure_shape(mask_, batch_shape<In>(n));
        const T keep_scale = T(1.0 / (1.0 - Rate));
        T* mask = mask_.data();
        for (std::size_t i = 0; i < mask_.size(); ++i) mask[i] = ctx.rng->uniform() < Rate ? T(0) : keep_scale;
        kernels::map(x.size(), x.data(), mask, y.data(), [](auto a, auto m) { return a * m; });
        return y;
    }

    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_for(this->batch_of(x));
        if (!training_)
            std::copy(dy.data(), dy.data() + dy.size(), dx.data());
        else
            kernels::map(dy.size(), dy.data(), mask_.data(), dx.data(), [](auto g, auto m) { return g * m; });
        return dx;
    }

private:
    tensor<T, In::rank + 1> mask_;
    bool training_ = false;
};

/// `Dropout<0.5>` drops half of the activations during training.
template <double Rate>
struct Dropout {
    static_assert(Rate >= 0.0 && Rate < 1.0, "Lepton wiring error: Dropout rate must be in [0, 1)");
    template <class T, class Backend, class In, std::size_t Index>
    using bind = dropout_layer<T, Backend, In, Index, Rate>;
};

} // namespace lepton
