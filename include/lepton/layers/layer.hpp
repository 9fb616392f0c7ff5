#pragma once
/// \file
/// What every layer shares: the run-time context and the buffer-owning base.
///
/// A layer comes in two parts. The *spec* is what users write in a network
/// type (`Dense<128>`, `ReLU`); it is a tag whose nested `bind` template turns
/// it into the *layer* once the scalar type, backend, input shape and position
/// in the network are known. A layer provides:
///
///     using input_shape, output_shape;           // one sample, no batch
///     static constexpr std::size_t parameter_count;
///     static constexpr const char* kind;         // "Dense", shown in summaries and errors
///     void bind(T* params, T* grads);            // its slice of the network's flat buffers
///     void initialize(random_engine&);
///     template <class F> void for_each_parameter(F&&);   // f(name, data, grad, shape)
///     const output_type& forward(const input_type& x, context&);
///     const input_type& backward(const input_type& x, const output_type& dy, bool input_grad);
///
/// and, where it needs them (see `parameter_storage_of`, `buffer_count_of`, `counter_count_of`):
///
///     static constexpr std::size_t parameter_storage;    // elements it takes, when not padded(parameter_count)
///                                                        // (a layer of layers pads each part): a wrapper
///                                                        // must pass on its inner layer's
///     static constexpr std::size_t buffer_count, counter_count;  // model state that is not learnt
///     void bind_buffers(T* values, std::int64_t* counters);      // e.g. BatchNorm's running statistics
///     template <class F> void for_each_buffer(F&&);      // f(name, span, shape)
///
/// `forward` returns a reference to a buffer the layer owns; `backward`
/// accumulates parameter gradients and, when asked, returns dL/dx in another.
/// Buffers are sized on the first call for a batch size and reused afterwards.

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../optim/parameter_ranges.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

class Graph;
namespace distributed {
class process_group;
}

/// What a BatchNorm whose weight and bias are both frozen does in training mode.
enum class frozen_batchnorm {
    /// Keras' rule for `trainable = False` (the default): it normalises with
    /// its running statistics and leaves them as they are, as in evaluation.
    inference,
    /// PyTorch's rule for `requires_grad_(False)`: the mode alone decides, so
    /// in training mode it normalises with the batch's statistics and updates
    /// the running ones (call `eval()` on the layer's network to stop that).
    batch_statistics,
};

/// Which of a network's parameter tensors are frozen, for the layers whose
/// behaviour depends on it (BatchNorm, see `frozen_batchnorm`).
struct frozen_parameters {
    const void* base = nullptr;                             ///< the network's parameter buffer
    const std::vector<parameter_range>* tensors = nullptr;  ///< its tensors, with their frozen flags
    frozen_batchnorm batchnorm = frozen_batchnorm::inference;  ///< the network's rule for frozen BatchNorms

    /// Whether the parameter tensor starting at `p` is frozen (false for memory outside the buffer).
    template <class T>
    bool is_frozen(const T* p) const noexcept
    {
        if (!base || !tensors) return false;
        const auto from = reinterpret_cast<std::uintptr_t>(base), at = reinterpret_cast<std::uintptr_t>(p);
        if (at < from) return false;
        const std::size_t index = (at - from) / sizeof(T);
        for (const auto& r : *tensors)
            if (index >= r.begin && index < r.end) return r.frozen;
        return false;
    }
};

/// Per-call state a network hands to its layers.
struct context {
    /// Training mode: Dropout drops, BatchNorm uses batch statistics.
    bool training = false;
    /// The network's generator (Dropout's masks).
    random_engine* rng = nullptr;
    const Graph* graph = nullptr;  ///< the graph node features belong to (graph layers only)
    /// The network's frozen parameters (none outside a network).
    frozen_parameters frozen{};
    /// Data-parallel training: the ranks a synchronised BatchNorm reduces its statistics over (none otherwise).
    distributed::process_group* group = nullptr;
};

/// Shape of one parameter tensor, for enumeration and checkpoints.
using parameter_shape = std::vector<std::size_t>;

namespace detail {

/// A layer's parameter slice starts on a 64-byte boundary so that SIMD loads of a row start aligned
/// (a layer may lay out its own tensors inside its slice unpadded, as the recurrent stacks do).
template <class T>
constexpr std::size_t padded(std::size_t n)
{
    constexpr std::size_t per_line = 64 / sizeof(T);
    return (n + per_line - 1) / per_line * per_line;
}

/// The elements a layer takes in the flat parameter buffer: its own count of
/// storage when it has one (a block of several layers), else its parameters, padded.
template <class Layer, class T>
constexpr std::size_t parameter_storage_of()
{
    if constexpr (requires { Layer::parameter_storage; })
        return Layer::parameter_storage;
    else
        return padded<T>(Layer::parameter_count);
}
/// Elements of the network's buffer storage a layer keeps (BatchNorm: running mean and variance).
template <class Layer>
constexpr std::size_t buffer_count_of()
{
    if constexpr (requires { Layer::buffer_count; })
        return Layer::buffer_count;
    else
        return 0;
}
/// 64-bit counters a layer keeps in the network's storage (BatchNorm: `num_batches_tracked`).
template <class Layer>
constexpr std::size_t counter_count_of()
{
    if constexpr (requires { Layer::counter_count; })
        return Layer::counter_count;
    else
        return 0;
}

/// Where a layer's parameters, gradients, buffers and counters start.
template <class T>
struct layer_storage {
    T* params = nullptr;
    T* grads = nullptr;
    T* buffers = nullptr;
    std::int64_t* counters = nullptr;

    /// The storage `params`, `buffers` and `counters` elements further on (null stays null: a
    /// block's parameters can be bound before its buffers).
    layer_storage advanced(std::size_t params_by, std::size_t buffers_by, std::size_t counters_by) const noexcept
    {
        auto step = [](auto* p, std::size_t n) { return p ? p + n : p; };
        return {step(params, params_by), step(grads, params_by), step(buffers, buffers_by), step(counters, counters_by)};
    }
};

/// Points `layer` at its storage: parameters and gradients always, buffers when it keeps some and
/// they are bound already (a block's parameters are bound before its buffers).
template <class Layer, class T>
void bind_layer(Layer& layer, const layer_storage<T>& at)
{
    layer.bind(at.params, at.grads);
    if constexpr (requires { layer.bind_buffers(at.buffers, at.counters); })
        if (at.buffers || at.counters) layer.bind_buffers(at.buffers, at.counters);
}

/// Initialises `layer` from `rng`, with `policy` when it takes an initialiser policy (Dense, Conv2D, blocks).
template <class Layer, class Policy>
void initialize_layer(Layer& layer, random_engine& rng, Policy policy)
{
    if constexpr (requires { layer.initialize(rng, policy); })
        layer.initialize(rng, policy);
    else
        layer.initialize(rng);
}

/// Where a layer made of layers (a block, a residual block, parallel
/// branches) has its storage: `bind` and `bind_buffers` record the start of
/// its parts and call `Derived::rebind(storage)` to point the parts at them.
template <class Derived, class T>
class composite_storage {
public:
    /// Its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads)
    {
        at_.params = params;
        at_.grads = grads;
        static_cast<Derived&>(*this).rebind(at_);
    }
    /// Its part of the network's buffer and counter storage.
    void bind_buffers(T* values, std::int64_t* counters)
    {
        at_.buffers = values;
        at_.counters = counters;
        static_cast<Derived&>(*this).rebind(at_);
    }

private:
    layer_storage<T> at_;
};

/// Owns a layer's output and input-gradient buffers.
template <class T, class In, class Out>
class layer_base {
public:
    using value_type = T;
    using input_shape = In;
    using output_shape = Out;
    using input_type = tensor<T, In::rank + 1>;
    using output_type = tensor<T, Out::rank + 1>;

    /// Layers without parameters need not say so.
    static constexpr std::size_t parameter_count = 0;
    void bind(T*, T*) noexcept {}
    void initialize(random_engine&) noexcept {}
    template <class F>
    void for_each_parameter(F&&) noexcept
    {
    }

    /// The output of the last forward call.
    const output_type& output() const noexcept { return y_; }

protected:
    output_type& output_for(std::size_t batch)
    {
        ensure_shape(y_, batch_shape<Out>(batch));
        return y_;
    }
    /// The output buffer shaped like the input (element-wise layers, any shape).
    output_type& output_like(const input_type& x)
    {
        ensure_shape(y_, x.shape());
        return y_;
    }
    /// The input-gradient buffer, shaped like the input.
    input_type& input_grad_like(const input_type& x)
    {
        ensure_shape(dx_, x.shape());
        return dx_;
    }
    static std::size_t batch_of(const input_type& x) { return x.shape()[0]; }

    output_type y_;
    input_type dx_;
};

/// Stands in for the layers after a failed wiring check (see `invalid_shape`).
template <class T>
class unwired_layer : public layer_base<T, invalid_shape, invalid_shape> {
public:
    static constexpr const char* kind = "(unwired)";
    const auto& forward(const typename unwired_layer::input_type& x, context&) { return x; }
    const auto& backward(const typename unwired_layer::input_type&, const typename unwired_layer::output_type& dy,
                         bool)
    {
        return dy;
    }
};

/// Binds each spec to the output shape of the layer before it; `Index` is the
/// position within the chain (it appears in wiring errors).
template <class T, class Backend, class In, std::size_t Index, class... Specs>
struct bind_chain {
    using type = std::tuple<>;
    using output_shape = In;
};

template <class T, class Backend, class In, std::size_t Index, class Spec, class... Rest>
struct bind_chain<T, Backend, In, Index, Spec, Rest...> {
    using layer = std::conditional_t<is_invalid_shape<In>, unwired_layer<T>,
                                     typename Spec::template bind<T, Backend, In, Index>>;
    using next = bind_chain<T, Backend, typename layer::output_shape, Index + 1, Rest...>;
    using type = decltype(std::tuple_cat(std::declval<std::tuple<layer>>(), std::declval<typename next::type>()));
    using output_shape = typename next::output_shape;
};

} // namespace detail
} // namespace lepton
