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
