#pragma once
/// \file
/// A chain of layers: specs bound one after another, each to the output shape
/// of the one before, run forward in order and backward in reverse. A
/// network's layers are one chain, and so are the layers of a `Block`.
///
/// The chain lays its layers' parameters out one after another in one slice
/// of the network's flat buffer (each layer's part starting on a 64-byte
/// boundary), likewise their gradients and their buffers (BatchNorm's running
/// statistics), and names everything the way PyTorch names an `nn.Sequential`:
/// the layer's position, or the name a `Named<"conv1", ...>` spec gives it,
/// then the layer's own names ("0.weight", "conv1.weight", "3.0.running_mean").

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/shape.hpp"
#include "../graph/sparse_matrix.hpp"
#include "../layers/layer.hpp"
#include "gradient_hook.hpp"
#include "named.hpp"
#include "summary.hpp"

namespace lepton {
namespace detail {

/// Layers that take a `sparse_matrix<T>` input (Dropout, Dense, the graph layers).
template <class Layer>
concept accepts_sparse = requires { Layer::accepts_sparse_input; } && Layer::accepts_sparse_input;

/// A layer whose backward can return dL/dx plus an addend shaped like its
/// input in the same pass (`backward(x, dy, true, addend)`), as a Winograd
/// Conv2D can: a residual sum then costs no pass over memory of its own.
template <class Layer>
concept adds_to_input_grad =
    requires(Layer& layer, const typename Layer::input_type& x, const typename Layer::output_type& dy) {
        layer.backward(x, dy, true, x);
    };

/// A layer whose forward can add an addend shaped like its output, then
/// apply ReLU when asked, in the pass that writes the output
/// (`forward(x, ctx, addend, relu)`), as BatchNorm can: a residual sum and
/// the ReLU after it then cost no pass over memory of their own.
template <class Layer>
concept adds_to_output = requires(Layer& layer, const typename Layer::input_type& x, context& ctx,
                                  const typename Layer::output_type& y) { layer.forward(x, ctx, y, true); };

/// A chain of layers over input shape `In`.
template <class T, class Backend, class In, class... Specs>
class layer_chain {
    using binder = bind_chain<T, Backend, In, 0, Specs...>;

public:
    /// The bound layers, in order.
    using layers_tuple = typename binder::type;
    /// Shape of one input sample.
    using input_shape = In;
    /// Shape of one output sample.
    using output_shape = typename binder::output_shape;
    /// A batch of inputs.
    using input_type = tensor<T, In::rank + 1>;
    /// A batch of outputs.
    using output_type = tensor<T, output_shape::rank + 1>;
    /// Layer `I`.
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, layers_tuple>;
    /// Number of layers.
    static constexpr std::size_t size = sizeof...(Specs);

    /// Trainable parameters of all layers.
    static constexpr std::size_t parameter_count = []<std::size_t... I>(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + layer_type<I>::parameter_count);
    }(std::make_index_sequence<size>{});

private:
    /// Start of each layer's part of the parameter, buffer and counter storage; the totals last.
    struct offsets_t {
        std::array<std::size_t, size + 1> params{}, buffers{}, counters{};
    };
    static constexpr offsets_t offsets = []<std::size_t... I>(std::index_sequence<I...>) {
        offsets_t o{};
        std::size_t p = 0, b = 0, c = 0, i = 0;
        ((o.params[i] = p, o.buffers[i] = b, o.counters[i] = c, ++i, p += parameter_storage_of<layer_type<I>, T>(),
          b += buffer_count_of<layer_type<I>>(), c += counter_count_of<layer_type<I>>()),
         ...);
        o.params[size] = p, o.buffers[size] = b, o.counters[size] = c;
        return o;
    }(std::make_index_sequence<size>{});

public:
    /// Elements of the parameter (and gradient) buffer the chain takes.
    static constexpr std::size_t parameter_storage = offsets.params[size];
    /// Elements of buffer storage the chain's layers keep.
    static constexpr std::size_t buffer_count = offsets.buffers[size];
    /// Counters the chain's layers keep.
    static constexpr std::size_t counter_count = offsets.counters[size];

    /// The name of layer `I` in parameter names: its `Named` name, else its position.
    static std::string child_name(std::size_t i)
    {
        static const std::array<std::string, size> names = [] {
            std::array<std::string, size> n;
            std::size_t i = 0;
            ((n[i] = layer_name<Specs>(std::to_string(i)), ++i), ...);
            return n;
        }();
        return names[i];
    }

    /// Layer `I`.
    template <std::size_t I>
    layer_type<I>& layer() noexcept
    {
        return std::get<I>(layers_);
    }
    /// Layer `I`, read-only.
    template <std::size_t I>
    const layer_type<I>& layer() const noexcept
    {
        return std::get<I>(layers_);
    }

    /// Calls f(layer, index) for every layer in order.
    template <class F>
    void for_each_layer(F&& f)
    {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(layers_), I), ...); }(
            std::make_index_sequence<size>{});
    }

    /// Points every layer at its part of the storage starting at `at`, then fuses ReLUs with their neighbours.
    void bind(const layer_storage<T>& at)
    {
        for_each_layer([&](auto& layer, std::size_t i) {
            bind_layer(layer, at.advanced(offsets.params[i], offsets.buffers[i], offsets.counters[i]));
        });
        [&]<std::size_t... I>(std::index_sequence<I...>) { (fuse_activation<I>(), ...); }(
            std::make_index_sequence<(size > 0 ? size - 1 : 0)>{});
    }

    /// Initialises every layer in order from `rng`.
    void initialize(random_engine& rng)
    {
        for_each_layer([&](auto& layer, std::size_t) { layer.initialize(rng); });
    }
    /// As above, layers that accept an initialiser policy (Dense, Conv2D, blocks of them) with `policy`.
    template <class Policy>
    void initialize(random_engine& rng, Policy policy)
    {
        for_each_layer([&](auto& layer, std::size_t) { initialize_layer(layer, rng, policy); });
    }

    /// Calls f(name, data, grad, shape, index) for every parameter tensor, named
    /// "<child>.<local>" (the child's position or `Named` name); `index` is the layer's position.
    template <class F>
    void for_each_parameter(F&& f)
    {
        for_each_layer([&](auto& layer, std::size_t i) {
            const std::string child = child_name(i) + ".";
            layer.for_each_parameter([&](const char* local, T* data, T* grad, const parameter_shape& shape) {
                f(child + local, data, grad, shape, i);
            });
        });
    }

    /// Calls f(name, values, shape) for every buffer, named like the parameters.
    template <class F>
    void for_each_buffer(F&& f)
    {
        for_each_layer([&](auto& layer, std::size_t i) {
            const std::string child = child_name(i) + ".";
            auto named = [&](const char* local, auto values, const parameter_shape& shape) {
                f(child + local, values, shape);
            };
            if constexpr (requires { layer.for_each_buffer(named); }) layer.for_each_buffer(named);
        });
    }

    /// The output of the last forward call.
    const output_type& output() const noexcept { return std::get<size - 1>(layers_).output(); }

    /// Runs every layer on `x`; returns the last layer's output buffer.
    const output_type& forward(const input_type& x, context& ctx) { return forward_from<0>(x, ctx); }

    /// As `forward`, the last layer adding `addend` to its output, then applying ReLU with `relu` (see `adds_to_output`).
    const output_type& forward(const input_type& x, context& ctx, const output_type& addend, bool relu)
        requires adds_to_output<layer_type<size - 1>>
    {
        return forward_from<0>(x, ctx, &addend, relu);
    }

    /// Back-propagates `dy` through every layer; returns dL/dx when `input_grad`
    /// (otherwise what the first layer returns, unspecified).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        return backward_from<size - 1>(x, dy, input_grad, nullptr);
    }

    /// As above, telling `hook` after each layer which gradients are final
    /// (offsets count from the start of the chain's storage).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad, const gradient_hook* hook)
    {
        return backward_from<size - 1>(x, dy, input_grad, hook);
    }

    /// As `backward`, dL/dx plus `addend` when `input_grad`, added by the first layer (see `adds_to_input_grad`).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad, const input_type& addend)
        requires adds_to_input_grad<layer_type<0>>
    {
        return backward_from<size - 1>(x, dy, input_grad, nullptr, &addend);
    }

    /// Passes sparse rows along while layers keep them sparse (Dropout); the
    /// first layer that makes them dense is remembered for backward in `consumer`.
    const output_type& forward_sparse(const sparse_matrix<T>& x, context& ctx, std::size_t& consumer)
    {
        return forward_sparse_from<0>(x, ctx, consumer);
    }

    /// Back-propagates from a sparse forward pass: layer `consumer` gets the sparse rows again (no input gradient).
    void backward_sparse(const sparse_matrix<T>& x, const output_type& dy, std::size_t consumer)
    {
        backward_sparse_from<size - 1>(x, dy, consumer);
    }

    /// The rows of a summary table for these layers, indented by `depth`, with
    /// `prefix` before every name (blocks list their own layers under their row).
    static void summary_rows(std::ostringstream& out, const std::string& prefix, int depth)
    {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (([&] {
                 using L = layer_type<I>;
                 const std::string name = std::string(std::size_t(2 * depth), ' ') + prefix + child_name(I) + " " + L::kind;
                 summary_row(out, name, batch_string<typename L::output_shape>(), grouped(L::parameter_count));
                 if constexpr (requires { L::summary_rows(out, prefix, depth); })
                     L::summary_rows(out, prefix + child_name(I) + ".", depth + 1);
             }()),
             ...);
        }(std::make_index_sequence<size>{});
    }

private:
    /// Fuses ReLU with its neighbours, saving a pass over memory each way: a
    /// layer that can apply ReLU to its own output (Conv2D) does so and the
    /// ReLU after it passes that output on (and passes gradients on too when the
    /// layer also applies ReLU's gradient, as BatchNorm does); a layer after a
    /// ReLU that can apply ReLU's gradient (MaxPool2D) does so and the ReLU
    /// passes gradients on.
    template <std::size_t I>
    void fuse_activation()
    {
        auto& first = std::get<I>(layers_);
        auto& second = std::get<I + 1>(layers_);
        if constexpr (requires { first.fuse_relu(true); second.take_activated_input(true); }) {
            first.fuse_relu(true);
            second.take_activated_input(true);
            if constexpr (requires { requires std::remove_cvref_t<decltype(first)>::fuses_relu_gradient; })
                second.pass_gradient_through(true);
        }
        if constexpr (requires { first.pass_gradient_through(true); second.apply_relu_gradient(true); }) {
            first.pass_gradient_through(true);
            second.apply_relu_gradient(true);
        }
    }

    template <std::size_t I, class X>
    const output_type& forward_from(const X& x, context& ctx, const output_type* addend = nullptr, bool relu = false)
    {
        auto& layer = std::get<I>(layers_);
        if constexpr (I + 1 < size) {
            return forward_from<I + 1>(layer.forward(x, ctx), ctx, addend, relu);
        } else {
            if constexpr (adds_to_output<layer_type<I>>)
                if (addend) return layer.forward(x, ctx, *addend, relu);
            return layer.forward(x, ctx);
        }
    }

    template <std::size_t I, class DY>
    const input_type& backward_from(const input_type& x, const DY& dy, bool input_grad, const gradient_hook* hook,
                                    const input_type* addend = nullptr)
    {
        auto& layer = std::get<I>(layers_);
        if constexpr (I == 0) {
            const auto& dx = [&]() -> const input_type& {
                if constexpr (adds_to_input_grad<layer_type<0>>)
                    if (addend) return layer.backward(x, dy, input_grad, *addend);
                return layer.backward(x, dy, input_grad);
            }();
            if (hook) hook->ready(hook->user, 0);
            return dx;
        } else {
            const auto& dx = layer.backward(std::get<I - 1>(layers_).output(), dy, true);
            if (hook) hook->ready(hook->user, offsets.params[I]);
            return backward_from<I - 1>(x, dx, input_grad, hook, addend);
        }
    }

    template <std::size_t I>
    const output_type& forward_sparse_from(const sparse_matrix<T>& x, context& ctx, std::size_t& consumer)
    {
        using L = layer_type<I>;
        static_assert(accepts_sparse<L>,
                      "Lepton: sparse input must first reach Dropout, Dense, GraphConv, SAGEConv or GATConv");
        const auto& y = std::get<I>(layers_).forward(x, ctx);
        if constexpr (std::is_same_v<std::decay_t<decltype(y)>, sparse_matrix<T>>) {
            static_assert(I + 1 < size, "Lepton: a network cannot end while its data is still sparse");
            return forward_sparse_from<I + 1>(y, ctx, consumer);
        } else {
            consumer = I;
            if constexpr (I + 1 < size)
                return forward_from<I + 1>(y, ctx);
            else
                return y;
        }
    }

    template <std::size_t I, class DY>
    void backward_sparse_from(const sparse_matrix<T>& x, const DY& dy, std::size_t consumer)
    {
        auto& layer = std::get<I>(layers_);
        if constexpr (requires { layer.backward(x, dy, false); }) {
            if (I == consumer) {
                layer.backward(x, dy, false);  // sparse inputs have no gradient
                return;
            }
        }
        if constexpr (I > 0) {
            const auto& dx = layer.backward(std::get<I - 1>(layers_).output(), dy, true);
            backward_sparse_from<I - 1>(x, dx, consumer);
        }
    }

    layers_tuple layers_;
};

} // namespace detail
} // namespace lepton
