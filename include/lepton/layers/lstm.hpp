#pragma once
/// \file
/// Long short-term memory, `torch.nn.LSTM(batch_first=True)` with one layer:
/// gates in PyTorch's order (input, forget, cell, output), weights
/// weight_ih_l0 [4H, F], weight_hh_l0 [4H, H] and separate biases, so weights
/// move between the two unchanged.
///
///   i = s(W_ii x + b_ii + W_hi h + b_hi)   f = s(W_if x + b_if + W_hf h + b_hf)
///   g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = s(W_io x + b_io + W_ho h + b_ho)
///   c' = f c + i g                          h' = o tanh(c')
///
/// The input projection of all steps is one GEMM; each step adds h W_hh^T with
/// one more and applies the gates in one vectorised pass. Back-propagation
/// through time runs one [N, 4H] x [4H, H] product per step; the weight
/// gradients are two GEMMs over all steps at the end.

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

/// What `LSTM` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Hidden, bool ReturnSequences,
          std::size_t Layer = 0>
class lstm_layer : public detail::recurrent_base<T, In, Hidden, 4, ReturnSequences, Layer> {
    static_assert(recurrent_input_must_be_time_by_features<layer_index<Index>, In>::value,
                  "Lepton wiring error: LSTM needs an input [time, features]");
    using base = detail::recurrent_base<T, In, Hidden, 4, ReturnSequences, Layer>;
    using base::F, base::H, base::G;
    using base::p_, base::n_, base::steps_;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "LSTM";

    /// Starts the following forward passes from these states ([N, Hidden] each)
    /// instead of zeros, for stateful use such as generating one step at a time.
    void set_initial_state(const tensor<T, 2>& h0, const tensor<T, 2>& c0)
    {
        if (h0.shape() != c0.shape() || h0.shape()[1] != H)
            throw shape_error("lepton: LSTM initial state must be two [N, " + std::to_string(H) + "] tensors, got " +
                              shape_string(h0.shape()) + " and " + shape_string(c0.shape()));
        h0_ = h0;
        c0_ = c0;
    }
    /// Starts from zeros again.
    void clear_initial_state()
    {
        h0_.resize({0, H});
        c0_.resize({0, H});
    }
    /// Hidden and cell state after the last step of the last forward pass, [N, Hidden].
    tensor<T, 2> final_hidden() const { return state_at(h_, steps_); }
    /// See `final_hidden()`.
    tensor<T, 2> final_cell() const { return state_at(c_, steps_); }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = x.shape()[0], steps = x.shape()[1];
        if (h0_.size() != 0 && h0_.shape()[0] != n)
            throw shape_error("lepton: LSTM initial state has " + std::to_string(h0_.shape()[0]) +
                              " rows but the batch has " + std::to_string(n));
        n_ = n, steps_ = steps;
        ensure_shape(x_tm_, std::array<std::size_t, 3>{steps, n, F});
        ensure_shape(gates_, std::array<std::size_t, 3>{steps, n, G});
        ensure_shape(h_, std::array<std::size_t, 3>{steps + 1, n, H});
        ensure_shape(c_, std::array<std::size_t, 3>{steps + 1, n, H});
        ensure_shape(tanh_c_, std::array<std::size_t, 3>{steps, n, H});
        detail::swap_batch_and_time(x.data(), x_tm_.data(), n, steps, F);

        // All steps' input projections at once, with both biases.
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, steps * n, G, F, T(1), x_tm_.data(), F,
                         p_.w_ih, F, T(0), gates_.data(), G);
        bias_.resize(G);
        for (std::size_t j = 0; j < G; ++j) bias_[j] = p_.b_ih[j] + p_.b_hh[j];
        kernels::add_row_vector(steps * n, G, bias_.data(), gates_.data());

        if (h0_.size() != 0) {
            std::copy(h0_.begin(), h0_.end(), h_.begin());
            std::copy(c0_.begin(), c0_.end(), c_.begin());
        } else {
            std::fill_n(h_.data(), n * H, T(0));
            std::fill_n(c_.data(), n * H, T(0));
        }
        // W_hh^T packed once for all steps.
        T* whh_t = packed_.get(kernels::packed_b_size<T>(H, G));
        kernels::pack_b_full(kernels::transpose::yes, H, G, p_.w_hh, H, whh_t);
        for (std::size_t t = 0; t < steps; ++t) {
            T* gt = gates_.data() + t * n * G;
            const T* h_prev = h_.data() + t * n * H;
            const T* c_prev = c_.data() + t * n * H;
            T* h_next = h_.data() + (t + 1) * n * H;
            T* c_next = c_.data() + (t + 1) * n * H;
            T* tc_next = tanh_c_.data() + t * n * H;
            kernels::gemm_prepacked_b(n, G, H, h_prev, H, whh_t, T(1), gt, G);
            for (std::size_t b = 0; b < n; ++b) {
                T* gb = gt + b * G;
                detail::for_each_lane<T>(H, [&](std::size_t j, auto tag) {
                    using V = decltype(tag);
                    const V i = detail::sigmoid(detail::load<V>(gb + j));
                    const V f = detail::sigmoid(detail::load<V>(gb + H + j));
                    const V g = xsimd::tanh(detail::load<V>(gb + 2 * H + j));
                    const V o = detail::sigmoid(detail::load<V>(gb + 3 * H + j));
                    const V c = f * detail::load<V>(c_prev + b * H + j) + i * g;
                    detail::store(gb + j, i);
                    detail::store(gb + H + j, f);
                    detail::store(gb + 2 * H + j, g);
                    detail::store(gb + 3 * H + j, o);
                    const V tc = xsimd::tanh(c);
                    detail::store(c_next + b * H + j, c);
                    detail::store(tc_next + b * H + j, tc);  // kept for backward
                    detail::store(h_next + b * H + j, o * tc);
                });
            }
        }
        return detail::write_recurrent_output<ReturnSequences>(h_.data(), n, steps, H, this->y_);
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = n_, steps = steps_;
        ensure_shape(dgates_, std::array<std::size_t, 3>{steps, n, G});
        ensure_shape(dh_, std::array<std::size_t, 2>{n, H});
        ensure_shape(dc_, std::array<std::size_t, 2>{n, H});
        std::fill(dh_.begin(), dh_.end(), T(0));
        std::fill(dc_.begin(), dc_.end(), T(0));
        T* dh = dh_.data();
        T* dc = dc_.data();
        T* whh = packed_.get(kernels::packed_b_size<T>(G, H));
        kernels::pack_b_full(kernels::transpose::no, G, H, p_.w_hh, H, whh);

        for (std::size_t t = steps; t-- > 0;) {
            // dL/dh_t from the output of this step, plus what flowed back from step t + 1.
            detail::add_step_output_gradient<ReturnSequences>(dh, dy.data(), t, n, steps, H);
            const T* gt = gates_.data() + t * n * G;
            T* dgt = dgates_.data() + t * n * G;
            const T* c_prev = c_.data() + t * n * H;
            const T* tanh_c = tanh_c_.data() + t * n * H;
            for (std::size_t b = 0; b < n; ++b) {
                const T* gb = gt + b * G;
                T* db = dgt + b * G;
                detail::for_each_lane<T>(H, [&](std::size_t j, auto tag) {
                    using V = decltype(tag);
                    const V i = detail::load<V>(gb + j), f = detail::load<V>(gb + H + j),
                            g = detail::load<V>(gb + 2 * H + j), o = detail::load<V>(gb + 3 * H + j);
                    const V tc = detail::load<V>(tanh_c + b * H + j);
                    const V dhv = detail::load<V>(dh + b * H + j);
                    const V dcv = detail::load<V>(dc + b * H + j) + dhv * o * (V(1) - tc * tc);
                    detail::store(db + j, dcv * g * i * (V(1) - i));                                 // input gate
                    detail::store(db + H + j, dcv * detail::load<V>(c_prev + b * H + j) * f * (V(1) - f));  // forget
                    detail::store(db + 2 * H + j, dcv * i * (V(1) - g * g));                        // cell
                    detail::store(db + 3 * H + j, dhv * tc * o * (V(1) - o));                        // output
                    detail::store(dc + b * H + j, dcv * f);
                });
            }
            // dL/dh_{t-1} = dgates_t W_hh
            kernels::gemm_prepacked_b(n, H, G, dgt, G, whh, T(0), dh, H);
        }

        // Weight gradients over all steps at once.
        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, G, H, steps * n, T(1), dgates_.data(), G,
                         h_.data(), H, T(1), p_.g_w_hh, H);
        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, G, F, steps * n, T(1), dgates_.data(), G,
                         x_tm_.data(), F, T(1), p_.g_w_ih, F);
        kernels::accumulate_column_sums(steps * n, G, dgates_.data(), p_.g_b_ih);
        kernels::accumulate_column_sums(steps * n, G, dgates_.data(), p_.g_b_hh);
        if (!input_grad) return this->dx_;
        ensure_shape(dx_tm_, std::array<std::size_t, 3>{steps, n, F});
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::no, steps * n, F, G, T(1), dgates_.data(), G,
                         p_.w_ih, F, T(0), dx_tm_.data(), F);
        input_type& dx = this->input_grad_like(x);
        detail::swap_batch_and_time(dx_tm_.data(), dx.data(), steps, n, F);
        return dx;
    }

private:
    static tensor<T, 2> state_at(const tensor<T, 3>& states, std::size_t t)
    {
        const std::size_t n = states.shape()[1];
        tensor<T, 2> out({n, H});
        std::copy_n(states.data() + t * n * H, n * H, out.data());
        return out;
    }

    tensor<T, 3> x_tm_, gates_, h_, c_, tanh_c_, dgates_, dx_tm_;
    tensor<T, 2> dh_, dc_;
    storage<T> bias_;
    scratch<T> packed_;
    tensor<T, 2> h0_, c0_;
};

/// `LSTM<Hidden, ReturnSequences = false, Layers = 1, Dropout = 0>` over
/// [time, features]: the last hidden state [Hidden], or every step's [time,
/// Hidden], of the last of `Layers` stacked layers, with dropout `Dropout`
/// (training only) between them, as `torch.nn.LSTM(num_layers=Layers,
/// dropout=Dropout, batch_first=True)` with its parameter names.
template <std::size_t Hidden, bool ReturnSequences = false, std::size_t Layers = 1, real Dropout = 0.0>
struct LSTM : detail::recurrent_spec<lstm_layer, Hidden, ReturnSequences, Layers, Dropout> {
    static_assert(Hidden > 0, "Lepton wiring error: LSTM needs at least one hidden unit");
    static_assert(Layers > 0, "Lepton wiring error: LSTM needs at least one layer");
    static_assert(Dropout >= 0.0 && Dropout < 1.0, "Lepton wiring error: LSTM dropout must be in [0, 1)");
};

} // namespace lepton
