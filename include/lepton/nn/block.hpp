#pragma once
/// \file
/// `Block<Specs...>`: a sequence of layers used as one layer, as
/// `torch.nn.Sequential` inside a model. Blocks nest; parameter names nest
/// with them (`3.0.weight`, `3.1.running_mean`), and `summary()` lists a
/// block's layers under its row.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "../layers/layer.hpp"
#include "chain.hpp"

namespace lepton {

/// What `Block` binds to: a chain of layers behind the layer interface.
template <class T, class Backend, class In, std::size_t Index, class... Specs>
class block_layer : public detail::composite_storage<block_layer<T, Backend, In, Index, Specs...>, T> {
    using chain_type = detail::layer_chain<T, Backend, In, Specs...>;

public:
    using value_type = T;                                   ///< scalar type
    using input_shape = In;                                 ///< one input sample
    using output_shape = typename chain_type::output_shape; ///< one output sample
    using input_type = typename chain_type::input_type;     ///< a batch of inputs
    using output_type = typename chain_type::output_type;   ///< a batch of outputs
    /// Name shown in summaries.
    static constexpr const char* kind = "Block";
    /// Number of learnable parameters of its layers.
    static constexpr std::size_t parameter_count = chain_type::parameter_count;
    /// Elements its layers take in the flat parameter buffer (padding included).
    static constexpr std::size_t parameter_storage = chain_type::parameter_storage;
    /// Buffer elements of its layers.
    static constexpr std::size_t buffer_count = chain_type::buffer_count;
    /// Counters of its layers.
    static constexpr std::size_t counter_count = chain_type::counter_count;

    /// Layer `I` of the block.
    template <std::size_t I>
    auto& layer() noexcept
    {
        return chain_.template layer<I>();
    }

    /// Points the layers at their parts of the storage starting at `at` (see `composite_storage`).
    void rebind(const detail::layer_storage<T>& at) { chain_.bind(at); }
    /// Initialises the layers in order.
    void initialize(random_engine& rng) { chain_.initialize(rng); }
    /// Initialises the layers that take an initialiser policy with `policy`.
    template <class Policy>
    void initialize(random_engine& rng, Policy policy)
    {
        chain_.initialize(rng, policy);
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor, named "<layer>.<parameter>".
    template <class F>
    void for_each_parameter(F&& f)
    {
        chain_.for_each_parameter([&](const std::string& name, T* data, T* grad, const parameter_shape& shape,
                                      std::size_t) { f(name.c_str(), data, grad, shape); });
    }
    /// Calls `f(name, values, shape)` for each buffer of its layers.
    template <class F>
    void for_each_buffer(F&& f)
    {
        chain_.for_each_buffer([&](const std::string& name, auto values, const parameter_shape& shape) {
            f(name.c_str(), values, shape);
        });
    }

    /// The output of the last forward call.
    const output_type& output() const noexcept { return chain_.output(); }
    /// Runs the layers in order.
    const output_type& forward(const input_type& x, context& ctx) { return chain_.forward(x, ctx); }
    /// As `forward`, plus `addend`, then ReLU with `relu` (see `detail::adds_to_output`), for blocks whose last layer adds it.
    const output_type& forward(const input_type& x, context& ctx, const output_type& addend, bool relu)
        requires detail::adds_to_output<typename chain_type::template layer_type<chain_type::size - 1>>
    {
        return chain_.forward(x, ctx, addend, relu);
    }
    /// Back-propagates through the layers in reverse order.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        return chain_.backward(x, dy, input_grad);
    }
    /// As `backward`, dL/dx plus `addend` (see `detail::adds_to_input_grad`), for blocks whose first layer adds it.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad, const input_type& addend)
        requires detail::adds_to_input_grad<typename chain_type::template layer_type<0>>
    {
        return chain_.backward(x, dy, input_grad, addend);
    }

    /// Summary rows of the block's layers.
    static void summary_rows(std::ostringstream& out, const std::string& prefix, int depth)
    {
        chain_type::summary_rows(out, prefix, depth);
    }

private:
    chain_type chain_;
};

/// `Block<Conv2D<64, 3, 1, Padding::same>, BatchNorm2D<>, ReLU>`: these layers
/// in order, used as one layer (in a network, another block, a `Residual` or a
/// `Parallel` branch).
template <class... Specs>
struct Block {
    static_assert(sizeof...(Specs) > 0, "Lepton wiring error: a Block needs at least one layer");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = block_layer<T, Backend, In, Index, Specs...>;
};

/// The layer that passes its input on unchanged (a `Residual`'s default shortcut, a `Parallel` branch).
template <class T, class Backend, class In, std::size_t Index>
class identity_layer : public detail::layer_base<T, In, In> {
public:
    using typename identity_layer::layer_base::input_type;
    using typename identity_layer::layer_base::output_type;
    /// Name shown in summaries.
    static constexpr const char* kind = "Identity";
    /// Returns `x` itself (no copy).
    const output_type& forward(const input_type& x, context&)
    {
        last_ = &x;
        return x;
    }
    /// The input of the last forward call.
    const output_type& output() const noexcept { return *last_; }
    /// Returns `dy` itself.
    const input_type& backward(const input_type&, const output_type& dy, bool) { return dy; }

private:
    const input_type* last_ = nullptr;
};

/// `Identity`: y = x.
struct Identity {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = identity_layer<T, Backend, In, Index>;
};

} // namespace lepton
