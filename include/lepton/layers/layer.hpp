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
///     template <class F> void for_each_buffer(F&&);      // optional: f(name, span, shape), e.g. running statistics
///     const output_type& forward(const input_type& x, context&);
///     const input_type& backward(const input_type& x, const output_type& dy, bool input_grad);
///
/// `forward` returns a reference to a buffer the layer owns; `backward`
/// accumulates parameter gradients and, when asked, returns dL/dx in another.
/// Buffers are sized on the first call for a batch size and reused afterwards.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

class Graph;

/// Per-call state a network hands to its layers.
struct context {
    /// Training mode: Dropout drops, BatchNorm uses batch statistics.
    bool training = false;
    /// The network's generator (Dropout's masks).
    random_engine* rng = nullptr;
    const Graph* graph = nullptr;  ///< the graph node features belong to (graph layers only)
};

/// Shape of one parameter tensor, for enumeration and checkpoints.
using parameter_shape = std::vector<std::size_t>;

namespace detail {

/// Parameter slices start on 64-byte boundaries so that SIMD loads of a row start aligned.
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

/// Points `layer` at its storage: parameters and gradients always, buffers when it keeps some.
template <class Layer, class T>
void bind_layer(Layer& layer, const layer_storage<T>& at)
{
    layer.bind(at.params, at.grads);
    if constexpr (requires { layer.bind_buffers(at.buffers, at.counters); }) layer.bind_buffers(at.buffers, at.counters);
}

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

} // namespace detail
} // namespace lepton
