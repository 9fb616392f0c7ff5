#pragma once
/// \file
/// `Sequential<Input<...>, Layers...>`: a network whose structure is its type.
///
/// Every layer's input and output shape is computed by the compiler, so a
/// mis-wired network does not compile; the batch size is the only run-time
/// size. The network owns one contiguous parameter buffer and one gradient
/// buffer; each layer works on its slice, so an optimizer step, a gradient
/// all-reduce or a checkpoint is one loop over one array. Layers are called
/// directly (no virtual dispatch) through a tuple.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/backend.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../graph/sparse_matrix.hpp"
#include "../layers/input.hpp"
#include "../layers/layer.hpp"
#include "../optim/parameter_ranges.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

namespace detail {

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

/// Binds each spec to the output shape of the layer before it.
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

/// Layers that take a `sparse_matrix<T>` input (Dropout, Dense, the graph layers).
template <class Layer>
concept accepts_sparse = requires { Layer::accepts_sparse_input; } && Layer::accepts_sparse_input;

/// Parameter slices start on 64-byte boundaries so that SIMD loads of a row start aligned.
template <class T>
constexpr std::size_t padded(std::size_t n)
{
    constexpr std::size_t per_line = 64 / sizeof(T);
    return (n + per_line - 1) / per_line * per_line;
}

} // namespace detail

/// A feed-forward network of scalar type `T` on `Backend`, built from an
/// `Input<...>` and layer specs. Most code uses the `Sequential` alias (float, cpu).
template <class T, class Backend, class InputSpec, class... Specs>
class Network {
    static_assert(is_input<InputSpec>, "Lepton wiring error: a network starts with Input<dims...>");
    static_assert(sizeof...(Specs) > 0, "Lepton wiring error: a network needs at least one layer after Input");
    static_assert(std::is_floating_point_v<T>, "Lepton: the scalar type must be float or double");

    using chain = detail::bind_chain<T, Backend, input_shape_of<InputSpec>, 0, Specs...>;
    using layers_tuple = typename chain::type;

public:
    /// Scalar type (float or double).
    using value_type = T;
    /// Backend tag (`lepton::cpu`).
    using backend = Backend;
    /// Shape of one input sample.
    using input_shape = input_shape_of<InputSpec>;
    /// Shape of one output sample.
    using output_shape = typename chain::output_shape;
    /// A batch of inputs [N, input dims...].
    using input_type = tensor<T, input_shape::rank + 1>;
    /// A batch of outputs [N, output dims...].
    using output_type = tensor<T, output_shape::rank + 1>;

    /// The type of layer `I` (0-based, not counting Input).
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, layers_tuple>;

    /// Number of layers, not counting Input.
    static constexpr std::size_t layer_count = sizeof...(Specs);

    /// Trainable parameters, as PyTorch's `sum(p.numel() for p in net.parameters())` counts them.
    static constexpr std::size_t parameter_count = []<std::size_t... I>(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + layer_type<I>::parameter_count);
    }(std::make_index_sequence<layer_count>{});

private:
    static constexpr std::array<std::size_t, layer_count + 1> offsets = []<std::size_t... I>(std::index_sequence<I...>) {
        std::array<std::size_t, layer_count + 1> o{};
        std::size_t at = 0, i = 0;
        ((o[i++] = at, at += detail::padded<T>(layer_type<I>::parameter_count)), ...);
        o[layer_count] = at;
        return o;
    }(std::make_index_sequence<layer_count>{});

public:
    /// Builds the network and initialises its parameters from `seed`, each layer
    /// with its own initialiser (PyTorch's defaults unless its spec names another).
    explicit Network(std::uint64_t seed = 42) : params_(offsets[layer_count]), grads_(offsets[layer_count]), rng_(seed)
    {
        bind_layers();
        for_each_layer([&](auto& layer, std::size_t) { layer.initialize(rng_); });
        index_parameters();
    }

    /// Builds the network and initialises every Dense and Conv2D weight with
    /// `Policy` (e.g. `init::glorot_uniform{}`, Keras' default); other layers
    /// keep their own initialisation.
    template <class Policy>
    Network(std::uint64_t seed, Policy policy) : Network(seed)
    {
        initialize(seed, policy);
    }

    /// Copies the parameters (not the activation buffers or gradients).
    Network(const Network& other) : params_(other.params_), grads_(other.grads_.size()), rng_(other.rng_)
    {
        ctx_.training = other.ctx_.training;
        bind_layers();
        index_parameters();
        slices_ = other.slices_;
        update_trainable();
        copy_buffers_from(other);
    }
    /// Copies the parameters and buffers (BatchNorm statistics) of a network of the same type.
    Network& operator=(const Network& other)
    {
        std::copy(other.params_.begin(), other.params_.end(), params_.begin());
        rng_ = other.rng_;
        ctx_.training = other.ctx_.training;
        copy_buffers_from(other);
        return *this;
    }
    Network(Network&&) = delete;  // layers point into the buffers; moving would need a rebind
    Network& operator=(Network&&) = delete;

    /// Runs the network on a batch [N, input dims...]; returns [N, output dims...].
    /// Throws `shape_error` when the sample shape is not `input_shape`.
    template <class E>
    const output_type& forward(const E& x)
    {
        ctx_.graph = nullptr;
        return run(x);
    }

    /// Runs a network of graph layers on the node features of `graph`
    /// ([nodes, features], a tensor or expression): the node count plays the
    /// batch's part. Layers keep a pointer to `graph` until the next forward.
    template <class E>
    const output_type& forward(const Graph& graph, const E& x)
    {
        ctx_.graph = &graph;
        return run(x);
    }

    /// Runs the network on sparse rows (e.g. bag-of-words node features) of
    /// `graph`, or of no graph. The first layers must accept sparse input:
    /// Dropout keeps it sparse; Dense and the graph layers multiply it without
    /// densifying. `backward` then gives no input gradient.
    const output_type& forward(const Graph& graph, const sparse_matrix<T>& x)
    {
        ctx_.graph = &graph;
        return run_sparse(x);
    }
    /// As above, for sparse rows that belong to no graph.
    const output_type& forward(const sparse_matrix<T>& x)
    {
        ctx_.graph = nullptr;
        return run_sparse(x);
    }

    /// Back-propagates dL/d(output) of the last forward call: accumulates every
    /// parameter gradient and, with `input_grad`, returns dL/d(input) (for GANs,
    /// saliency); otherwise the returned tensor is unspecified.
    LEPTON_NOINLINE const input_type& backward(const output_type& dy, bool input_grad = false)
    {
        if (!last_input_ && !sparse_input_) throw std::logic_error("lepton: backward() called before forward()");
        if (!std::equal(dy.shape().begin(), dy.shape().end(), output().shape().begin()))
            throw shape_error("lepton: backward() expects a gradient of shape " + shape_string(output().shape()) +
                              ", got " + shape_string(dy.shape()));
        // The sparse path is instantiated only by networks that run sparse input (see run_sparse).
        const input_type& dx = sparse_input_ ? (this->*sparse_backward_)(dy)
                                             : backward_from<layer_count - 1, false>(dy, input_grad);
        for (const auto& p : slices_)
            if (p.frozen) std::fill(grads_.begin() + std::ptrdiff_t(p.begin), grads_.begin() + std::ptrdiff_t(p.end), T(0));
        return dx;
    }

    /// Freezes layer `layer` (0-based, not counting Input): its parameters keep
    /// a zero gradient and optimizers built on this network skip them. Input
    /// gradients still flow through it, and BatchNorm's running statistics
    /// still update in training mode (call eval() on the network to stop that).
    void freeze(std::size_t layer) { set_frozen_layer(layer, true); }
    /// Makes layer `layer` trainable again.
    void unfreeze(std::size_t layer) { set_frozen_layer(layer, false); }
    /// Freezes the parameter named `name` ("0.weight"), or every parameter of
    /// the layer a bare index names ("0"); throws `value_error` for an unknown name.
    void freeze(std::string_view name) { set_frozen_name(name, true); }
    /// Makes the parameters `name` selects trainable again.
    void unfreeze(std::string_view name) { set_frozen_name(name, false); }
    /// Whether the parameter named `name` is frozen.
    bool is_frozen(std::string_view name) const
    {
        for (const auto& p : slices_)
            if (p.name == name) return p.frozen;
        throw value_error("lepton: no parameter named '" + std::string(name) + "'");
    }
    /// The trainable parts of `parameters()`, adjacent tensors merged.
    const std::vector<parameter_range>& trainable_ranges() const noexcept { return trainable_; }
    /// Every parameter tensor's part of `parameters()`, in `for_each_parameter`
    /// order, with its `frozen` flag; optimizers read this list at every step
    /// and keep their state per tensor.
    const std::vector<parameter_range>& parameter_ranges() const noexcept { return tensors_; }

    /// The output of the last forward call.
    const output_type& output() const { return std::get<layer_count - 1>(layers_).output(); }

    /// Sets every gradient to zero (gradients accumulate across backward calls).
    void zero_grad() { std::fill(grads_.begin(), grads_.end(), T(0)); }

    /// Training mode: Dropout drops, BatchNorm uses batch statistics.
    void train(bool on = true) noexcept { ctx_.training = on; }
    /// Evaluation mode (the default is training mode, as in PyTorch).
    void eval() noexcept { ctx_.training = false; }
    /// Whether the network is in training mode.
    bool is_training() const noexcept { return ctx_.training; }

    /// All parameters as one array (slices are padded to 64 bytes; padding stays zero).
    std::span<T> parameters() noexcept { return params_; }
    /// Read-only `parameters()`.
    std::span<const T> parameters() const noexcept { return params_; }
    /// All gradients, laid out like `parameters()`.
    std::span<T> gradients() noexcept { return grads_; }
    /// Read-only `gradients()`.
    std::span<const T> gradients() const noexcept { return grads_; }

    /// Calls f(name, data, grad, shape) for every parameter tensor, with PyTorch
    /// `state_dict` names ("0.weight", "2.bias", ...; the index counts layers after Input).
    template <class F>
    void for_each_parameter(F&& f)
    {
        for_each_layer([&](auto& layer, std::size_t index) {
            layer.for_each_parameter([&](const char* local, T* data, T* grad, const parameter_shape& shape) {
                f(std::to_string(index) + "." + local, data, grad, shape);
            });
        });
    }

    /// Calls f(name, values, shape) for every buffer: layer state that is saved
    /// but not learned, with PyTorch `state_dict` names ("1.running_mean",
    /// "1.running_var" as std::span<T>, "1.num_batches_tracked" as
    /// std::span<std::int64_t>). Layers without buffers need not declare any.
    template <class F>
    void for_each_buffer(F&& f)
    {
        for_each_layer([&](auto& layer, std::size_t index) {
            auto named = [&](const char* local, auto values, const parameter_shape& shape) {
                f(std::to_string(index) + "." + local, values, shape);
            };
            if constexpr (requires { layer.for_each_buffer(named); }) layer.for_each_buffer(named);
        });
    }

    /// Layer `I` (0-based, not counting Input).
    template <std::size_t I>
    layer_type<I>& layer() noexcept
    {
        return std::get<I>(layers_);
    }

    /// The generator behind initialisation and dropout masks.
    random_engine& rng() noexcept { return rng_; }

    /// Re-initialises every parameter from `seed`.
    void initialize(std::uint64_t seed)
    {
        rng_.seed(seed);
        std::fill(params_.begin(), params_.end(), T(0));
        for_each_layer([&](auto& layer, std::size_t) { layer.initialize(rng_); });
    }

    /// Re-initialises every parameter from `seed`, layers that accept an
    /// initialiser policy (Dense, Conv2D) with `policy`.
    template <class Policy>
    void initialize(std::uint64_t seed, Policy policy)
    {
        rng_.seed(seed);
        std::fill(params_.begin(), params_.end(), T(0));
        for_each_layer([&](auto& layer, std::size_t) {
            if constexpr (requires { layer.initialize(rng_, policy); })
                layer.initialize(rng_, policy);
            else
                layer.initialize(rng_);
        });
    }

    /// A Keras-like table of layers, output shapes and parameter counts.
    static std::string summary()
    {
        std::ostringstream out;
        const std::string rule(64, '-');
        out << rule << '\n'
            << std::left << std::setw(28) << " Layer (type)" << std::setw(24) << "Output Shape" << "Param #\n"
            << std::string(64, '=') << '\n';
        out << std::setw(28) << " Input" << std::setw(24) << batch_string<input_shape>() << "0\n";
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((out << std::setw(28) << (std::string(" ") + std::to_string(I) + " " + layer_type<I>::kind) << std::setw(24)
                  << batch_string<typename layer_type<I>::output_shape>()
                  << grouped(layer_type<I>::parameter_count) << '\n'),
             ...);
        }(std::make_index_sequence<layer_count>{});
        out << std::string(64, '=') << '\n'
            << "Total params: " << grouped(parameter_count) << '\n'
            << rule << '\n';
        return out.str();
    }

private:
    template <class F>
    void for_each_layer(F&& f)
    {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(layers_), I), ...); }(
            std::make_index_sequence<layer_count>{});
    }

    /// Buffers live in the layers, not in the flat arrays; copy them one by one.
    void copy_buffers_from(const Network& other)
    {
        std::vector<std::span<T>> values;
        std::vector<std::span<std::int64_t>> counters;
        const_cast<Network&>(other).for_each_buffer([&](const std::string&, auto span, const parameter_shape&) {
            if constexpr (std::is_same_v<typename decltype(span)::element_type, T>)
                values.push_back(span);
            else
                counters.push_back(span);
        });
        std::size_t v = 0, c = 0;
        for_each_buffer([&](const std::string&, auto span, const parameter_shape&) {
            if constexpr (std::is_same_v<typename decltype(span)::element_type, T>)
                std::copy(values[v].begin(), values[v].end(), span.begin()), ++v;
            else
                std::copy(counters[c].begin(), counters[c].end(), span.begin()), ++c;
        });
    }

    /// Where each named parameter lives in the flat buffer.
    struct parameter_slice {
        std::string name;
        std::size_t layer, begin, end;
        bool frozen = false;
    };

    void index_parameters()
    {
        slices_.clear();
        for_each_layer([&](auto& layer, std::size_t index) {
            layer.for_each_parameter([&](const char* local, T* data, T*, const parameter_shape& shape) {
                std::size_t n = 1;
                for (auto d : shape) n *= d;
                const auto begin = static_cast<std::size_t>(data - params_.data());
                slices_.push_back({std::to_string(index) + "." + local, index, begin, begin + n});
            });
        });
        update_trainable();
    }

    void update_trainable()
    {
        trainable_.clear();
        tensors_.clear();
        for (const auto& p : slices_) {
            tensors_.push_back({p.begin, p.end, p.frozen});
            if (p.frozen) continue;
            if (!trainable_.empty() && trainable_.back().end == p.begin)
                trainable_.back().end = p.end;
            else
                trainable_.push_back({p.begin, p.end});
        }
    }

    void set_frozen_layer(std::size_t layer, bool frozen)
    {
        if (layer >= layer_count)
            throw value_error("lepton: layer " + std::to_string(layer) + " does not exist (the network has " +
                              std::to_string(layer_count) + " layers)");
        for (auto& p : slices_)
            if (p.layer == layer) p.frozen = frozen;
        update_trainable();
    }

    void set_frozen_name(std::string_view name, bool frozen)
    {
        bool found = false;
        for (auto& p : slices_) {
            const bool layer_match = p.name.size() > name.size() && p.name.starts_with(name) && p.name[name.size()] == '.';
            if (p.name == name || layer_match) {
                p.frozen = frozen;
                found = true;
            }
        }
        if (!found) throw value_error("lepton: no parameter or layer named '" + std::string(name) + "'");
        update_trainable();
    }

    void bind_layers()
    {
        for_each_layer([&](auto& layer, std::size_t i) { layer.bind(params_.data() + offsets[i], grads_.data() + offsets[i]); });
        [&]<std::size_t... I>(std::index_sequence<I...>) { (fuse_activation<I>(), ...); }(
            std::make_index_sequence<(layer_count > 0 ? layer_count - 1 : 0)>{});
    }

    /// Fuses ReLU with its neighbours, saving a pass over memory each way: a
    /// layer that can apply ReLU to its own output (Conv2D) does so and the
    /// ReLU after it passes that output on; a layer after a ReLU that can apply
    /// ReLU's gradient (MaxPool2D) does so and the ReLU passes gradients on.
    template <std::size_t I>
    void fuse_activation()
    {
        auto& first = std::get<I>(layers_);
        auto& second = std::get<I + 1>(layers_);
        if constexpr (requires { first.fuse_relu(true); second.take_activated_input(true); }) {
            first.fuse_relu(true);
            second.take_activated_input(true);
        }
        if constexpr (requires { first.pass_gradient_through(true); second.apply_relu_gradient(true); }) {
            first.pass_gradient_through(true);
            second.apply_relu_gradient(true);
        }
    }

    template <class E>
    static void check_input_shape(const E& x)
    {
        const auto& s = x.shape();
        bool ok = s.size() == input_shape::rank + 1;
        for (std::size_t i = 0; ok && i < input_shape::rank; ++i)
            ok = input_shape::dims[i] == dynamic ? s[i + 1] > 0 : s[i + 1] == input_shape::dims[i];
        if (!ok)
            throw shape_error("lepton: layer 0 (" + std::string(layer_type<0>::kind) + ") expects input of shape " +
                              batch_string<input_shape>() + ", got " + shape_string(s));
    }

    // Not inlined: training loops call the whole network from several places
    // (fit, evaluate, predict), and one copy of it compiles much faster.
    template <class E>
    LEPTON_NOINLINE const output_type& run(const E& x)
    {
        check_input_shape(x);
        const input_type* in;
        if constexpr (std::is_same_v<E, input_type>) {
            in = &x;
        } else {
            // Another container or an expression: evaluate it once into a buffer we own.
            ensure_shape(staging_, x.shape());
            xt::noalias(staging_) = x;
            in = &staging_;
        }
        last_input_ = in;
        sparse_input_ = nullptr;
        ctx_.rng = &rng_;
        return forward_from<0>(*in);
    }

    const output_type& run_sparse(const sparse_matrix<T>& x)
    {
        static_assert(input_shape::rank == 1 && !input_shape::has_dynamic,
                      "Lepton: sparse input needs a network that starts with Input<features>");
        if (x.cols() != input_shape::size)
            throw shape_error("lepton: layer 0 (" + std::string(layer_type<0>::kind) + ") expects sparse input of shape " +
                              batch_string<input_shape>() + ", got " + shape_string(x.shape()));
        last_input_ = nullptr;
        sparse_input_ = &x;
        sparse_backward_ = &Network::backward_sparse;
        ctx_.rng = &rng_;
        return forward_sparse_from<0>(x);
    }

    /// Passes sparse rows along while layers keep them sparse (Dropout); the
    /// first layer that makes them dense is remembered for backward.
    template <std::size_t I>
    const output_type& forward_sparse_from(const sparse_matrix<T>& x)
    {
        using L = layer_type<I>;
        static_assert(detail::accepts_sparse<L>,
                      "Lepton: sparse input must first reach Dropout, Dense, GraphConv, SAGEConv or GATConv");
        const auto& y = std::get<I>(layers_).forward(x, ctx_);
        if constexpr (std::is_same_v<std::decay_t<decltype(y)>, sparse_matrix<T>>) {
            static_assert(I + 1 < layer_count, "Lepton: a network cannot end while its data is still sparse");
            return forward_sparse_from<I + 1>(y);
        } else {
            sparse_consumer_ = I;
            sparse_input_ = &x;
            if constexpr (I + 1 < layer_count)
                return forward_from<I + 1>(y);
            else
                return y;
        }
    }

    template <std::size_t I, class X>
    const output_type& forward_from(const X& x)
    {
        const auto& y = std::get<I>(layers_).forward(x, ctx_);
        if constexpr (I + 1 < layer_count)
            return forward_from<I + 1>(y);
        else
            return y;
    }

    const input_type& backward_sparse(const output_type& dy) { return backward_from<layer_count - 1, true>(dy, false); }

    template <std::size_t I, bool Sparse, class DY>
    const input_type& backward_from(const DY& dy, bool input_grad)
    {
        auto& layer = std::get<I>(layers_);
        if constexpr (Sparse && requires { layer.backward(*sparse_input_, dy, false); }) {
            if (I == sparse_consumer_) {
                layer.backward(*sparse_input_, dy, false);
                return staging_;  // sparse inputs have no gradient
            }
        }
        if constexpr (I == 0) {
            return layer.backward(*last_input_, dy, input_grad);
        } else {
            const auto& dx = layer.backward(std::get<I - 1>(layers_).output(), dy, true);
            return backward_from<I - 1, Sparse>(dx, input_grad);
        }
    }

    template <class S>
    static std::string batch_string()
    {
        std::string s = "[N";
        for (auto d : S::dims) s += ", " + (d == dynamic ? std::string("T") : std::to_string(d));
        return s + "]";
    }

    static std::string grouped(std::size_t n)
    {
        std::string digits = std::to_string(n), out;
        for (std::size_t i = 0; i < digits.size(); ++i) {
            if (i && (digits.size() - i) % 3 == 0) out += ',';
            out += digits[i];
        }
        return out;
    }

    storage<T> params_;
    storage<T> grads_;
    random_engine rng_;
    layers_tuple layers_;
    context ctx_{true, nullptr};
    input_type staging_;
    const input_type* last_input_ = nullptr;
    std::vector<parameter_slice> slices_;
    std::vector<parameter_range> trainable_;
    std::vector<parameter_range> tensors_;
    const sparse_matrix<T>* sparse_input_ = nullptr;  ///< input of layer `sparse_consumer_` when sparse
    const input_type& (Network::*sparse_backward_)(const output_type&) = nullptr;
    std::size_t sparse_consumer_ = 0;
};

/// The everyday network: float on the CPU.
template <class InputSpec, class... Specs>
using Sequential = Network<float, cpu, InputSpec, Specs...>;

} // namespace lepton
