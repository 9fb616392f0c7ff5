#pragma once
/// \file
/// Stacked recurrent layers, as `torch.nn.LSTM(..., num_layers=L, dropout=p)`:
/// layer k reads the sequence of hidden states of layer k - 1, with dropout
/// (probability p, training only) on the output of every layer but the last.
/// Each layer keeps PyTorch's own names (`weight_ih_l0`, `weight_ih_l1`, ...,
/// `weight_ih_l1_reverse` when bidirectional) in PyTorch's order, so a
/// `state_dict` of the stacked PyTorch module loads as it is.
///
/// `LSTM<H, ReturnSequences, Layers, Dropout>`, `GRU<...>` and
/// `Bidirectional<LSTM<...>>` bind to this when `Layers` > 1; one layer
/// binds to the plain layer.

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/real.hpp"
#include "../kernels/elementwise.hpp"
#include "layer.hpp"

namespace lepton {

/// What a stacked recurrent spec binds to: the layers of `Specs` one after
/// another, with dropout `Dropout` between them.
template <class T, class Backend, class In, std::size_t Index, real Dropout, class... Specs>
class recurrent_stack
    : public detail::layer_base<T, In, typename detail::bind_chain<T, Backend, In, 0, Specs...>::output_shape> {
    using stack = detail::bind_chain<T, Backend, In, 0, Specs...>;
    using layers_tuple = typename stack::type;
    static constexpr std::size_t depth = sizeof...(Specs);
    static_assert(depth > 1, "a recurrent stack has at least two layers");
    static_assert(Dropout >= 0.0 && Dropout < 1.0, "Lepton wiring error: dropout between recurrent layers must be in [0, 1)");
    using base = typename recurrent_stack::layer_base;

    template <std::size_t K>
    using layer_t = std::tuple_element_t<K, layers_tuple>;
    /// Where layer K's parameters start in the stack's slice.
    template <std::size_t K>
    static constexpr std::size_t offset = []<std::size_t... I>(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + layer_t<I>::parameter_count);
    }(std::make_index_sequence<K>{});

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages: the layers' own.
    static constexpr const char* kind = layer_t<0>::kind;
    /// Number of learnable parameters of all layers.
    static constexpr std::size_t parameter_count = offset<depth>;
    /// Number of stacked layers.
    static constexpr std::size_t layers = depth;

    /// Layer `K` of the stack (0-based), e.g. for its initial state.
    template <std::size_t K>
    layer_t<K>& layer() noexcept
    {
        return std::get<K>(layers_);
    }

    /// Points each layer at its part of the stack's slice.
    void bind(T* p, T* g) noexcept
    {
        for_each_layer([&]<std::size_t K>(auto& l) { l.bind(p + offset<K>, g + offset<K>); });
    }
    /// Initialises every layer, in order.
    void initialize(random_engine& rng)
    {
        for_each_layer([&]<std::size_t>(auto& l) { l.initialize(rng); });
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor, layer by
    /// layer, with each layer's PyTorch name ("weight_ih_l1").
    template <class Fn>
    void for_each_parameter(Fn&& f)
    {
        for_each_layer([&]<std::size_t>(auto& l) { l.for_each_parameter(f); });
    }

    /// The output of the last forward call (the last layer's).
    const output_type& output() const noexcept { return std::get<depth - 1>(layers_).output(); }

    /// Forward pass on a batch; returns the last layer's output buffer.
    const output_type& forward(const input_type& x, context& ctx)
    {
        dropping_ = ctx.training && Dropout > 0.0;
        return forward_from<0>(x, ctx);
    }

    /// Backward pass: accumulates every layer's parameter gradients and, when
    /// `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        return backward_from<depth - 1>(x, dy, input_grad);
    }

private:
    template <class F>
    void for_each_layer(F&& f)
    {
        [&]<std::size_t... K>(std::index_sequence<K...>) { (f.template operator()<K>(std::get<K>(layers_)), ...); }(
            std::make_index_sequence<depth>{});
    }

    /// The input of layer K > 0: layer K - 1's output, dropped out in training.
    template <std::size_t K>
    const typename layer_t<K>::input_type& input_of() const
    {
        if (dropping_) return std::get<K - 1>(dropped_);
        return std::get<K - 1>(layers_).output();
    }

    template <std::size_t K, class X>
    const output_type& forward_from(const X& x, context& ctx)
    {
        const auto& y = std::get<K>(layers_).forward(x, ctx);
        if constexpr (K + 1 == depth) {
            return y;
        } else {
            if (dropping_) {
                auto& mask = std::get<K>(masks_);
                auto& dropped = std::get<K>(dropped_);
                ensure_shape(mask, y.shape());
                ensure_shape(dropped, y.shape());
                const T keep_scale = T(1.0 / (1.0 - Dropout));
                for (auto& m : mask) m = ctx.rng->uniform() < Dropout ? T(0) : keep_scale;
                kernels::map(y.size(), y.data(), mask.data(), dropped.data(), [](auto a, auto m) { return a * m; });
            }
            return forward_from<K + 1>(input_of<K + 1>(), ctx);
        }
    }

    template <std::size_t K, class DY>
    const input_type& backward_from(const input_type& x, const DY& dy, bool input_grad)
    {
        auto& l = std::get<K>(layers_);
        if constexpr (K == 0) {
            return l.backward(x, dy, input_grad);
        } else {
            const auto& dx = l.backward(input_of<K>(), dy, true);
            if (!dropping_) return backward_from<K - 1>(x, dx, input_grad);
            // Through the dropout: the mask again.
            auto& grad = std::get<K - 1>(dropped_grad_);
            ensure_shape(grad, dx.shape());
            kernels::map(dx.size(), dx.data(), std::get<K - 1>(masks_).data(), grad.data(),
                         [](auto g, auto m) { return g * m; });
            return backward_from<K - 1>(x, grad, input_grad);
        }
    }

    /// Per gap between layers K and K + 1: the mask, the dropped output and its gradient.
    template <class Layers>
    struct gap_buffers;
    template <class... L>
    struct gap_buffers<std::tuple<L...>> {
        using type = std::tuple<typename L::output_type...>;
    };
    using gaps = typename gap_buffers<layers_tuple>::type;

    layers_tuple layers_;
    gaps masks_, dropped_, dropped_grad_;
    bool dropping_ = false;
};

namespace detail {

/// The stack of `Layers` layers a stacked spec describes: the single-layer
/// spec `Single<ReturnSequences, K>` for layer K (every step for all but the
/// last), each wrapped in `Wrap` (`Bidirectional`, or nothing).
template <template <bool, std::size_t> class Single, template <class> class Wrap, bool ReturnSequences,
          std::size_t Layers, real Dropout>
struct stacked_spec {
    template <std::size_t... K>
    static auto make(std::index_sequence<K...>)
    {
        return std::type_identity<
            std::tuple<Wrap<Single<(K + 1 < Layers) || ReturnSequences, K>>...>>{};
    }
    using specs = typename decltype(make(std::make_index_sequence<Layers>{}))::type;

    template <class T, class Backend, class In, std::size_t Index, class Tuple>
    struct bind_tuple;
    template <class T, class Backend, class In, std::size_t Index, class... S>
    struct bind_tuple<T, Backend, In, Index, std::tuple<S...>> {
        using type = recurrent_stack<T, Backend, In, Index, Dropout, S...>;
    };
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename bind_tuple<T, Backend, In, Index, specs>::type;
};

/// Leaves a spec as it is (a stack that is not bidirectional).
template <class Spec>
using unwrapped = Spec;

/// One layer binds to the plain (or wrapped) layer K = 0, more to a stack.
template <template <bool, std::size_t> class Single, template <class> class Wrap, bool ReturnSequences,
          std::size_t Layers, real Dropout>
struct stacked_or_single : stacked_spec<Single, Wrap, ReturnSequences, Layers, Dropout> {};
template <template <bool, std::size_t> class Single, template <class> class Wrap, bool ReturnSequences, real Dropout>
struct stacked_or_single<Single, Wrap, ReturnSequences, 1, Dropout> {
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename Wrap<Single<ReturnSequences, 0>>::template bind<T, Backend, In, Index>;
};

/// What the LSTM and GRU specs share: `Layer<T, Backend, In, Index, Hidden,
/// ReturnSequences, K>` is layer K of a stack.
template <template <class, class, class, std::size_t, std::size_t, bool, std::size_t> class Layer, std::size_t Hidden,
          bool ReturnSequences, std::size_t Layers, real Dropout>
struct recurrent_spec {
    /// Stacked layers.
    static constexpr std::size_t layers = Layers;
    /// Whether the output holds every step.
    static constexpr bool return_sequences = ReturnSequences;
    /// Dropout between stacked layers.
    static constexpr real dropout = Dropout;
    /// The spec of layer K alone, returning every step or the last (for `Bidirectional` stacks).
    template <bool Sequences, std::size_t K>
    struct single {
        /// Layer K, bound.
        template <class T, class Backend, class In, std::size_t Index>
        using bind = Layer<T, Backend, In, Index, Hidden, Sequences, K>;
    };
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename stacked_or_single<single, unwrapped, ReturnSequences, Layers, Dropout>::template bind<T, Backend,
                                                                                                            In, Index>;
};

/// Stacked layers of a recurrent spec (1 for a single-layer spec).
template <class Spec>
inline constexpr std::size_t recurrent_layers = [] {
    if constexpr (requires { Spec::layers; })
        return Spec::layers;
    else
        return std::size_t{1};
}();

} // namespace detail
} // namespace lepton
