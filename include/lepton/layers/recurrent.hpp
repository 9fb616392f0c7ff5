#pragma once
/// \file
/// What LSTM and GRU share: the [time, features] input check, the output shape
/// (every step or the last), time-major scratch layout, and PyTorch's
/// parameter names and initialisation for one unidirectional layer.
///
/// Sequences are batch-first, [N, T, F], with T a run-time size (`dynamic`) or
/// fixed. Internally a layer works time-major, [T, N, .], so that the rows of
/// one step are contiguous: the input projection of all steps is one GEMM and
/// each step adds one [N, H] x [H, gates * H] product.

#include <cmath>
#include <cstddef>
#include <string>

#include "../core/compat.hpp"
#include "../kernels/elementwise.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace lepton {

/// Wiring check shown in compiler notes: a recurrent layer at `Where` got `Got`.
template <class Where, class Got>
struct recurrent_input_must_be_time_by_features {
    static constexpr bool value =
        is_invalid_shape<Got> || (Got::rank == 2 && Got::dims[Got::rank - 1] != dynamic);
};

namespace detail {

/// Output shape of a recurrent layer with `Hidden` units over input `In`.
template <class In, std::size_t Hidden, bool ReturnSequences>
using recurrent_output = std::conditional_t<
    !recurrent_input_must_be_time_by_features<void, In>::value || is_invalid_shape<In>, invalid_shape,
    std::conditional_t<ReturnSequences, Shape<(In::rank == 2 ? In::dims[0] : 1), Hidden>, Shape<Hidden>>>;

/// dst[t][n][:] = src[n][t][:] for [N, T, F] -> [T, N, F] (and back with the roles swapped).
template <class T>
inline void swap_batch_and_time(const T* src, T* dst, std::size_t n, std::size_t steps, std::size_t f)
{
    for (std::size_t b = 0; b < n; ++b)
        for (std::size_t t = 0; t < steps; ++t) std::copy_n(src + (b * steps + t) * f, f, dst + (t * n + b) * f);
}

/// The layer output from time-major hidden states h [steps + 1, N, H] (h[0] the
/// initial state): every step, [N, steps, H], or the last step, [N, H].
template <bool ReturnSequences, class T, class Y>
inline const Y& write_recurrent_output(const T* h, std::size_t n, std::size_t steps, std::size_t hidden, Y& y)
{
    if constexpr (ReturnSequences) {
        ensure_shape(y, std::array<std::size_t, 3>{n, steps, hidden});
        swap_batch_and_time(h + n * hidden, y.data(), steps, n, hidden);
    } else {
        ensure_shape(y, std::array<std::size_t, 2>{n, hidden});
        std::copy_n(h + steps * n * hidden, n * hidden, y.data());
    }
    return y;
}

/// dh [N, H] += dL/d(output of step t): from that step's slice of dy with
/// ReturnSequences, else from dy itself at the last step only.
template <bool ReturnSequences, class T>
inline void add_step_output_gradient(T* dh, const T* dy, std::size_t t, std::size_t n, std::size_t steps,
                                     std::size_t hidden)
{
    auto add = [](auto a, auto b) { return a + b; };
    if constexpr (ReturnSequences) {
        for (std::size_t b = 0; b < n; ++b)
            kernels::map(hidden, dh + b * hidden, dy + (b * steps + t) * hidden, dh + b * hidden, add);
    } else if (t + 1 == steps) {
        kernels::map(n * hidden, dh, dy, dh, add);
    }
}

/// The logistic function on a batch or a scalar.
template <class V>
inline V sigmoid(V x)
{
    return V(1) / (V(1) + xsimd::exp(-x));
}

/// Runs body(offset, V{}) over [0, n) with V = simd batch for the body and T for the tail.
template <class T, class Body>
inline void for_each_lane(std::size_t n, Body&& body)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t body_end = n - n % W;
    std::size_t j = 0;
    for (; j < body_end; j += W) body(j, vec{});
    for (; j < n; ++j) body(j, T{});
}

/// Loads/stores that work for both a batch type and a scalar.
template <class V, class T>
inline V load(const T* p)
{
    if constexpr (std::is_same_v<V, T>)
        return *p;
    else
        return V::load_unaligned(p);
}
template <class V, class T>
inline void store(T* p, const V& v)
{
    if constexpr (std::is_same_v<V, T>)
        *p = v;
    else
        v.store_unaligned(p);
}

/// Parameters of layer `Layer` of a PyTorch RNN with `Gates` gate blocks, laid
/// out weight_ih [G*H, F], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H] and
/// named with PyTorch's suffix `_l<Layer>` ("weight_ih_l0", "bias_hh_l1", ...).
template <class T, std::size_t Gates, std::size_t Features, std::size_t Hidden, std::size_t Layer>
struct recurrent_parameters {
    static constexpr std::size_t rows = Gates * Hidden;
    static constexpr std::size_t count = rows * Features + rows * Hidden + 2 * rows;

    T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr;
    T *g_w_ih = nullptr, *g_w_hh = nullptr, *g_b_ih = nullptr, *g_b_hh = nullptr;

    void bind(T* p, T* g) noexcept
    {
        w_ih = p, w_hh = p + rows * Features, b_ih = w_hh + rows * Hidden, b_hh = b_ih + rows;
        g_w_ih = g, g_w_hh = g + rows * Features, g_b_ih = g_w_hh + rows * Hidden, g_b_hh = g_b_ih + rows;
    }
    /// PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).
    void initialize(random_engine& rng)
    {
        const double bound = 1.0 / std::sqrt(double(Hidden));
        for (T* p = w_ih; p != w_ih + count; ++p) *p = T(rng.uniform(-bound, bound));
    }
    template <class F>
    void for_each(F&& f)
    {
        static const std::string suffix = "_l" + std::to_string(Layer);
        f(("weight_ih" + suffix).c_str(), w_ih, g_w_ih, parameter_shape{rows, Features});
        f(("weight_hh" + suffix).c_str(), w_hh, g_w_hh, parameter_shape{rows, Hidden});
        f(("bias_ih" + suffix).c_str(), b_ih, g_b_ih, parameter_shape{rows});
        f(("bias_hh" + suffix).c_str(), b_hh, g_b_hh, parameter_shape{rows});
    }
};

/// What LSTM and GRU layers share: sizes, the parameter block with PyTorch's
/// names (layer `Layer` of a stack), and the batch and length of the last forward pass.
template <class T, class In, std::size_t Hidden, std::size_t Gates, bool ReturnSequences, std::size_t Layer>
class recurrent_base : public layer_base<T, In, recurrent_output<In, Hidden, ReturnSequences>> {
protected:
    static constexpr std::size_t F = In::dims[In::rank - 1];
    static constexpr std::size_t H = Hidden;
    static constexpr std::size_t G = Gates * Hidden;
    using params = recurrent_parameters<T, Gates, F, Hidden, Layer>;

public:
    static constexpr std::size_t parameter_count = params::count;

    void bind(T* p, T* g) noexcept { p_.bind(p, g); }
    void initialize(random_engine& rng) { p_.initialize(rng); }
    template <class Fn>
    void for_each_parameter(Fn&& f)
    {
        p_.for_each(f);
    }

protected:
    params p_;
    std::size_t n_ = 0, steps_ = 0;
};

} // namespace detail
} // namespace lepton
