#pragma once
/// \file
/// Gated recurrent unit, `torch.nn.GRU(batch_first=True)` with one layer:
/// gates in PyTorch's order (reset, update, new), weights weight_ih_l0 [3H, F],
/// weight_hh_l0 [3H, H] and separate biases.
///
///   r = s(W_ir x + b_ir + W_hr h + b_hr)    z = s(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r (W_hn h + b_hn))
///   h' = (1 - z) n + z h
///
/// The recurrent product h W_hh^T + b_hh is kept apart from the input
/// projection because r multiplies only its "new" block.

#include <algorithm>
#include <cstddef>
#include <string>

#include "../core/error.hpp"

#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../core/real.hpp"
#include "recurrent.hpp"
#include "recurrent_stack.hpp"

namespace lepton {

/// What `GRU` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Hidden, bool ReturnSequences,
          std::size_t Layer = 0>
class gru_layer : public detail::recurrent_base<T, In, Hidden, 3, ReturnSequences, Layer> {
    static_assert(recurrent_input_must_be_time_by_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: GRU needs an input [time, features]");
    using base = detail::recurrent_base<T, In, Hidden, 3, ReturnSequences, Layer>;
    using base::F, base::H, base::G;
    using base::p_, base::n_, base::steps_;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "GRU";

    /// Starts the following forward passes from this hidden state ([N, Hidden])
    /// instead of zeros, for stateful use.
    void set_initial_state(const tensor<T, 2>& h0)
    {
        if (h0.shape()[1] != H)
            throw shape_error("lepton: GRU initial state must be [N, " + std::to_string(H) + "], got " +
                              shape_string(h0.shape()));
        h0_ = h0;
    }
    /// Starts from zeros again.
    void clear_initial_state() { h0_.resize({0, H}); }
    /// Hidden state after the last step of the last forward pass, [N, Hidden].
    tensor<T, 2> final_hidden() const
    {
        tensor<T, 2> out({n_, H});
        std::copy_n(h_.data() + steps_ * n_ * H, n_ * H, out.data());
        return out;
    }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = x.shape()[0], steps = x.shape()[1];
        if (h0_.size() != 0 && h0_.shape()[0] != n)
            throw shape_error("lepton: GRU initial state has " + std::to_string(h0_.shape()[0]) +
                              " rows but the batch has " + std::to_string(n));
        n_ = n, steps_ = steps;
        const std::array<std::size_t, 3> gate_shape{steps, n, G};
        ensure_shape(x_tm_, std::array<std::size_t, 3>{steps, n, F});
        ensure_shape(xp_, gate_shape);
        ensure_shape(hp_, gate_shape);
        ensure_shape(h_, std::array<std::size_t, 3>{steps + 1, n, H});
        detail::swap_batch_and_time(x.data(), x_tm_.data(), n, steps, F);

        // Input projections of all steps: xp = x W_ih^T + b_ih.
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, steps * n, G, F, T(1), x_tm_.data(), F,
                         p_.w_ih, F, T(0), xp_.data(), G);
        kernels::add_row_vector(steps * n, G, p_.b_ih, xp_.data());

        if (h0_.size() != 0)
            std::copy(h0_.begin(), h0_.end(), h_.begin());
        else
            std::fill_n(h_.data(), n * H, T(0));
        T* whh_t = packed_.get(kernels::packed_b_size<T>(H, G));
        kernels::pack_b_full(kernels::transpose::yes, H, G, p_.w_hh, H, whh_t);
        for (std::size_t t = 0; t < steps; ++t) {
            T* xt = xp_.data() + t * n * G;  // becomes the gate activations r, z, n
            T* ht = hp_.data() + t * n * G;  // h W_hh^T + b_hh, kept for backward
            const T* h_prev = h_.data() + t * n * H;
            T* h_next = h_.data() + (t + 1) * n * H;
            kernels::gemm_prepacked_b(n, G, H, h_prev, H, whh_t, T(0), ht, G);
            kernels::add_row_vector(n, G, p_.b_hh, ht);
            for (std::size_t b = 0; b < n; ++b) {
                T* xb = xt + b * G;
                const T* hb = ht + b * G;
                detail::for_each_lane<T>(H, [&](std::size_t j, auto tag) {
                    using V = decltype(tag);
                    const V r = detail::sigmoid(detail::load<V>(xb + j) + detail::load<V>(hb + j));
                    const V z = detail::sigmoid(detail::load<V>(xb + H + j) + detail::load<V>(hb + H + j));
                    const V nn = xsimd::tanh(detail::load<V>(xb + 2 * H + j) + r * detail::load<V>(hb + 2 * H + j));
                    const V hp = detail::load<V>(h_prev + b * H + j);
                    detail::store(xb + j, r);
                    detail::store(xb + H + j, z);
                    detail::store(xb + 2 * H + j, nn);
                    detail::store(h_next + b * H + j, (V(1) - z) * nn + z * hp);
                });
            }
        }
        return detail::write_recurrent_output<ReturnSequences>(h_.data(), n, steps, H, this->y_);
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = n_, steps = steps_;
        const std::array<std::size_t, 3> gate_shape{steps, n, G};
        ensure_shape(dxp_, gate_shape);
        ensure_shape(dhp_, gate_shape);
        ensure_shape(dh_, std::array<std::size_t, 2>{n, H});
        std::fill(dh_.begin(), dh_.end(), T(0));
        T* dh = dh_.data();
        T* whh = packed_.get(kernels::packed_b_size<T>(G, H));
        kernels::pack_b_full(kernels::transpose::no, G, H, p_.w_hh, H, whh);

        for (std::size_t t = steps; t-- > 0;) {
            detail::add_step_output_gradient<ReturnSequences>(dh, dy.data(), t, n, steps, H);
            const T* act = xp_.data() + t * n * G;
            const T* hpt = hp_.data() + t * n * G;
            const T* h_prev = h_.data() + t * n * H;
            T* dxt = dxp_.data() + t * n * G;
            T* dht = dhp_.data() + t * n * G;
            for (std::size_t b = 0; b < n; ++b) {
                const T* ab = act + b * G;
                const T* hb = hpt + b * G;
                detail::for_each_lane<T>(H, [&](std::size_t j, auto tag) {
                    using V = decltype(tag);
                    const V r = detail::load<V>(ab + j), z = detail::load<V>(ab + H + j),
                            nn = detail::load<V>(ab + 2 * H + j);
                    const V dhv = detail::load<V>(dh + b * H + j);
                    const V hp = detail::load<V>(h_prev + b * H + j);
                    const V dan = dhv * (V(1) - z) * (V(1) - nn * nn);
                    const V daz = dhv * (hp - nn) * z * (V(1) - z);
                    const V dar = dan * detail::load<V>(hb + 2 * H + j) * r * (V(1) - r);
                    detail::store(dxt + b * G + j, dar);
                    detail::store(dxt + b * G + H + j, daz);
                    detail::store(dxt + b * G + 2 * H + j, dan);
                    detail::store(dht + b * G + j, dar);
                    detail::store(dht + b * G + H + j, daz);
                    detail::store(dht + b * G + 2 * H + j, dan * r);
                    detail::store(dh + b * H + j, dhv * z);  // the direct path; the product below adds the rest
                });
            }
            // dL/dh_{t-1} += dhp_t W_hh
            kernels::gemm_prepacked_b(n, H, G, dht, G, whh, T(1), dh, H);
        }

        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, G, H, steps * n, T(1), dhp_.data(), G,
                         h_.data(), H, T(1), p_.g_w_hh, H);
        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, G, F, steps * n, T(1), dxp_.data(), G,
                         x_tm_.data(), F, T(1), p_.g_w_ih, F);
        kernels::accumulate_column_sums(steps * n, G, dxp_.data(), p_.g_b_ih);
        kernels::accumulate_column_sums(steps * n, G, dhp_.data(), p_.g_b_hh);
        if (!input_grad) return this->dx_;
        ensure_shape(dx_tm_, std::array<std::size_t, 3>{steps, n, F});
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::no, steps * n, F, G, T(1), dxp_.data(), G, p_.w_ih,
                         F, T(0), dx_tm_.data(), F);
        input_type& dx = this->input_grad_like(x);
        detail::swap_batch_and_time(dx_tm_.data(), dx.data(), steps, n, F);
        return dx;
    }

private:
    tensor<T, 3> x_tm_, xp_, hp_, h_, dxp_, dhp_, dx_tm_;
    tensor<T, 2> dh_, h0_;
    scratch<T> packed_;
};

/// `GRU<Hidden, ReturnSequences = false, Layers = 1, Dropout = 0>` over
/// [time, features]: the last hidden state [Hidden], or every step's [time,
/// Hidden], of the last of `Layers` stacked layers, with dropout `Dropout`
/// (training only) between them, as `torch.nn.GRU(num_layers=Layers,
/// dropout=Dropout, batch_first=True)` with its parameter names.
template <std::size_t Hidden, bool ReturnSequences = false, std::size_t Layers = 1, real Dropout = 0.0>
struct GRU : detail::recurrent_spec<gru_layer, Hidden, ReturnSequences, Layers, Dropout> {
    static_assert(Hidden > 0, "Lepton wiring error: GRU needs at least one hidden unit");
    static_assert(Layers > 0, "Lepton wiring error: GRU needs at least one layer");
    static_assert(Dropout >= 0.0 && Dropout < 1.0, "Lepton wiring error: GRU dropout must be in [0, 1)");
};

} // namespace lepton
