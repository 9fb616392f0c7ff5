#pragma once
/// \file
/// `Sequential<Input<...>, Layers...>`: a network whose structure is its type.
///
/// Every layer's input and output shape is computed by the compiler, so a
/// mis-wired network does not compile; the batch size is the only run-time
/// size. The layers are one chain (`nn/chain.hpp`); blocks, residual blocks
/// and parallel branches (`nn/block.hpp`, `nn/residual.hpp`,
/// `nn/parallel.hpp`) are layers made of chains, so a network is a tree.
///
/// **What a network owns and what a call uses.** A `Network` owns its
/// parameters, their gradients and its layers' buffers (BatchNorm's running
/// statistics), in flat arrays (`nn/parameters.hpp`). The state of one
/// forward and backward pass (every layer's output, input gradient and
/// caches) lives in a `Network::workspace`: the layers themselves, bound to
/// the network's parameters. A network keeps one workspace of its own for
/// the convenient calls (`net.forward(x)`, `net.backward(dy)`, `net.output()`,
/// `net.layer<I>()`).
///
/// **Thread safety.** `net.forward(x, ws)` on a `const` network runs in
/// evaluation mode and changes nothing but `ws`: any number of threads may
/// call it at once on one network, each with its own workspace, and get
/// bitwise the results of one thread. Everything else (the non-const
/// `forward`, `backward`, training mode, optimizer steps, loading weights)
/// changes the network and needs one thread at a time, with no const calls
/// running. Networks can be copied (parameters and buffers) and moved.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/backend.hpp"
#include "../core/compat.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../graph/sparse_matrix.hpp"
#include "../layers/input.hpp"
#include "../layers/layer.hpp"
#include "../optim/parameter_ranges.hpp"
#include "../tensor/tensor.hpp"
#include "chain.hpp"
#include "gradient_hook.hpp"
#include "parameters.hpp"

namespace lepton {

/// A feed-forward network of scalar type `T` on `Backend`, built from an
/// `Input<...>` and layer specs. Most code uses the `Sequential` alias (float, cpu).
template <class T, class Backend, class InputSpec, class... Specs>
class Network {
    static_assert(is_input<InputSpec>, "Lepton wiring error: a network starts with Input<dims...>");
    static_assert(sizeof...(Specs) > 0, "Lepton wiring error: a network needs at least one layer after Input");
    static_assert(std::is_floating_point_v<T>, "Lepton: the scalar type must be float or double");

    using chain_type = detail::layer_chain<T, Backend, input_shape_of<InputSpec>, Specs...>;

public:
    /// Scalar type (float or double).
    using value_type = T;
    /// Backend tag (`lepton::cpu`).
    using backend = Backend;
    /// Shape of one input sample.
    using input_shape = input_shape_of<InputSpec>;
    /// Shape of one output sample.
    using output_shape = typename chain_type::output_shape;
    /// A batch of inputs [N, input dims...].
    using input_type = tensor<T, input_shape::rank + 1>;
    /// A batch of outputs [N, output dims...].
    using output_type = tensor<T, output_shape::rank + 1>;

    /// The type of layer `I` (0-based, not counting Input).
    template <std::size_t I>
    using layer_type = typename chain_type::template layer_type<I>;

    /// Number of layers, not counting Input (a block counts as one).
    static constexpr std::size_t layer_count = sizeof...(Specs);

    /// Trainable parameters, as PyTorch's `sum(p.numel() for p in net.parameters())` counts them.
    static constexpr std::size_t parameter_count = chain_type::parameter_count;

    /// The state of one forward and backward pass: every layer's outputs,
    /// input gradients and caches, bound to a network's parameters. Build one
    /// per thread for `forward(x, workspace)` on a const network; it is bound
    /// to `net` and rebinds itself when used with another network of its type.
    class workspace {
    public:
        /// A workspace for `net`.
        explicit workspace(const Network& net) { bind(net); }
        workspace(const workspace&) = delete;
        workspace& operator=(const workspace&) = delete;

        /// Layer `I`'s state in this workspace (its output, recurrent states, ...). The layer
        /// points into the network's parameters: read them through it, but change weights only
        /// through the (non-const) network, never while other threads run it.
        template <std::size_t I>
        layer_type<I>& layer() noexcept
        {
            return chain_.template layer<I>();
        }
        /// The output of the last forward pass run in this workspace.
        const output_type& output() const noexcept { return chain_.output(); }

    private:
        friend class Network;

        void bind(const Network& net)
        {
            // Layers point into the network's storage; in a const call they only read it.
            auto& store = const_cast<detail::parameter_store<T>&>(net.store_);
            chain_.bind({store.params(), store.grads(), store.buffers(), store.counters()});
            owner_ = &net;
            bound_store_ = store.id();
        }
        /// Whether the layers point into `net`'s storage.
        bool bound_to(const Network& net) const noexcept { return owner_ == &net && bound_store_ == net.store_.id(); }

        chain_type chain_;
        input_type staging_;
        const input_type* last_input_ = nullptr;
        const sparse_matrix<T>* sparse_input_ = nullptr;  ///< input of layer `sparse_consumer_` when sparse
        std::size_t sparse_consumer_ = 0;
        /// Set by a sparse forward pass: its backward (instantiated only for networks that run sparse input).
        void (*sparse_backward_)(workspace&, const output_type&) = nullptr;
        const Network* owner_ = nullptr;
        std::uint64_t bound_store_ = 0;  ///< the id of the store the layers point into
    };

    /// Builds the network and initialises its parameters from `seed`, each layer
    /// with its own initialiser (PyTorch's defaults unless its spec names another).
    explicit Network(std::uint64_t seed = 42)
        : store_(chain_type::parameter_storage, chain_type::buffer_count, chain_type::counter_count), rng_(seed),
          own_(std::make_unique<workspace>(*this))
    {
        own_->chain_.initialize(rng_);
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

    /// Copies the parameters, buffers, frozen flags, mode and generator (not
    /// the gradients or the workspace's contents).
    Network(const Network& other)
        : store_(chain_type::parameter_storage, chain_type::buffer_count, chain_type::counter_count), rng_(other.rng_),
          training_(other.training_), frozen_batchnorm_(other.frozen_batchnorm_),
          own_(std::make_unique<workspace>(*this))
    {
        store_.copy_values(other.store_);
        index_parameters();
        store_.copy_frozen(other.store_);
    }
    /// Copies the parameters, buffers, mode and generator of a network of the same type.
    Network& operator=(const Network& other)
    {
        if (this == &other) return *this;
        if (!own_) return *this = Network(other);  // moved from: no storage to copy into
        store_.copy_values(other.store_);
        rng_ = other.rng_;
        training_ = other.training_;
        frozen_batchnorm_ = other.frozen_batchnorm_;
        return *this;
    }
    /// Moves the storage; the layers keep pointing at it (workspaces made for
    /// `other` rebind themselves on their next use). The moved-from network may
    /// only be destroyed or assigned to.
    Network(Network&& other) noexcept
        : store_(std::move(other.store_)), rng_(std::move(other.rng_)), training_(other.training_),
          frozen_batchnorm_(other.frozen_batchnorm_), group_(other.group_), own_(std::move(other.own_))
    {
        if (own_) own_->owner_ = this;
    }
    /// See the move constructor.
    Network& operator=(Network&& other) noexcept
    {
        if (this == &other) return *this;
        store_ = std::move(other.store_);
        rng_ = std::move(other.rng_);
        training_ = other.training_;
        frozen_batchnorm_ = other.frozen_batchnorm_;
        group_ = other.group_;
        own_ = std::move(other.own_);
        if (own_) own_->owner_ = this;
        return *this;
    }

    /// Runs the network on a batch [N, input dims...] in its own workspace;
    /// returns [N, output dims...]. Throws `shape_error` when the sample shape
    /// is not `input_shape`.
    template <class E>
    const output_type& forward(const E& x)
    {
        return run(x, own_context(nullptr), *own_);
    }

    /// Runs the network on `x` in evaluation mode in `ws`, changing nothing
    /// else: safe from many threads at once, each with its own workspace.
    template <class E>
    const output_type& forward(const E& x, workspace& ws) const
    {
        context ctx{false, nullptr, nullptr};
        return run(x, ctx, prepare(ws));
    }

    /// Runs a network of graph layers on the node features of `graph`
    /// ([nodes, features], a tensor or expression): the node count plays the
    /// batch's part. Layers keep a pointer to `graph` until the next forward.
    template <class E>
    const output_type& forward(const Graph& graph, const E& x)
    {
        return run(x, own_context(&graph), *own_);
    }
    /// As above, in evaluation mode in `ws` (see the const `forward`).
    template <class E>
    const output_type& forward(const Graph& graph, const E& x, workspace& ws) const
    {
        context ctx{false, nullptr, &graph};
        return run(x, ctx, prepare(ws));
    }

    /// Runs the network on sparse rows (e.g. bag-of-words node features) of
    /// `graph`, or of no graph. The first layers must accept sparse input:
    /// Dropout keeps it sparse; Dense and the graph layers multiply it without
    /// densifying. `backward` then gives no input gradient.
    const output_type& forward(const Graph& graph, const sparse_matrix<T>& x)
    {
        return run_sparse(x, own_context(&graph), *own_);
    }
    /// As above, for sparse rows that belong to no graph.
    const output_type& forward(const sparse_matrix<T>& x) { return run_sparse(x, own_context(nullptr), *own_); }

    /// Back-propagates dL/d(output) of the last forward call: accumulates every
    /// parameter gradient and, with `input_grad`, returns dL/d(input) (for GANs,
    /// saliency); otherwise the returned tensor is unspecified.
    const input_type& backward(const output_type& dy, bool input_grad = false) { return backward(dy, *own_, input_grad); }
    /// As above, in the network's own workspace, with a `gradient_hook`.
    const input_type& backward(const output_type& dy, bool input_grad, const gradient_hook* hook)
    {
        return backward(dy, *own_, input_grad, hook);
    }

    /// As above, for the last forward call run in `ws` (the gradients are the network's).
    const input_type& backward(const output_type& dy, workspace& ws, bool input_grad = false)
    {
        return backward(dy, ws, input_grad, nullptr);
    }

    /// As above, telling `hook` after each layer which part of `gradients()`
    /// is final (see `gradient_hook`; data-parallel training uses it).
    LEPTON_NOINLINE const input_type& backward(const output_type& dy, workspace& ws, bool input_grad,
                                               const gradient_hook* hook)
    {
        if (!ws.bound_to(*this) || (!ws.last_input_ && !ws.sparse_input_))
            throw std::logic_error("lepton: backward() called before forward()");
        const output_type& y = ws.output();
        if (!std::equal(dy.shape().begin(), dy.shape().end(), y.shape().begin()))
            throw shape_error("lepton: backward() expects a gradient of shape " + shape_string(y.shape()) + ", got " +
                              shape_string(dy.shape()));
        const input_type* dx = &ws.staging_;  // sparse inputs have no gradient
        if (ws.sparse_input_) {
            ws.sparse_backward_(ws, dy);
            if (hook) hook->ready(hook->user, 0);
        } else {
            dx = &ws.chain_.backward(*ws.last_input_, dy, input_grad, hook);
        }
        store_.zero_frozen_grads();
        return *dx;
    }

    /// Freezes layer `layer` (0-based, not counting Input): its parameters keep
    /// a zero gradient and optimizers built on this network skip them. Input
    /// gradients still flow through it. A BatchNorm whose weight and bias are
    /// frozen normalises with its running statistics and keeps them, also in
    /// training mode, as Keras does (`set_frozen_batchnorm` for PyTorch's rule).
    void freeze(std::size_t layer) { store_.set_frozen_layer(layer, layer_count, true); }
    /// Freezes layers 0 .. layer - 1 (Keras' `model.layers[:layer]`), the
    /// pretrained body under a new head; later layers are left as they are.
    void freeze_until(std::size_t layer)
    {
        if (layer > layer_count)
            throw value_error("lepton: freeze_until(" + std::to_string(layer) + "): the network has " +
                              std::to_string(layer_count) + " layers");
        for (std::size_t i = 0; i < layer; ++i) store_.set_frozen_layer(i, layer_count, true);
    }
    /// Freezes every parameter before the first one named `name` or under it
    /// ("layer3" freezes the stem, layer1 and layer2 of a torchvision ResNet);
    /// throws `value_error` for an unknown name.
    void freeze_until(std::string_view name) { store_.freeze_until_name(name); }
    /// What a frozen BatchNorm does in training mode (`frozen_batchnorm::inference` by default).
    void set_frozen_batchnorm(frozen_batchnorm rule) noexcept { frozen_batchnorm_ = rule; }
    /// See `set_frozen_batchnorm`.
    frozen_batchnorm frozen_batchnorm_rule() const noexcept { return frozen_batchnorm_; }
    /// Makes layer `layer` trainable again.
    void unfreeze(std::size_t layer) { store_.set_frozen_layer(layer, layer_count, false); }
    /// Freezes the parameter named `name` ("0.weight"), or every parameter
    /// under a layer name ("0", "3.1", "layer1.0"); throws `value_error` for an unknown name.
    void freeze(std::string_view name) { store_.set_frozen_name(name, true); }
    /// Makes the parameters `name` selects trainable again.
    void unfreeze(std::string_view name) { store_.set_frozen_name(name, false); }
    /// Whether the parameter named `name` is frozen.
    bool is_frozen(std::string_view name) const { return store_.is_frozen(name); }
    /// The trainable parts of `parameters()`, adjacent tensors merged.
    const std::vector<parameter_range>& trainable_ranges() const noexcept { return store_.trainable_ranges(); }
    /// Every parameter tensor's part of `parameters()`, in `for_each_parameter`
    /// order, with its `frozen` flag; optimizers read this list at every step
    /// and keep their state per tensor.
    const std::vector<parameter_range>& parameter_ranges() const noexcept { return store_.tensor_ranges(); }

    /// The output of the last forward call in the network's own workspace.
    const output_type& output() const { return own_->output(); }

    /// Sets every gradient to zero (gradients accumulate across backward calls).
    void zero_grad() { store_.zero_grad(); }

    /// Training mode: Dropout drops, BatchNorm uses batch statistics.
    void train(bool on = true) noexcept { training_ = on; }
    /// Evaluation mode (the default is training mode, as in PyTorch).
    void eval() noexcept { training_ = false; }
    /// Whether the network is in training mode.
    bool is_training() const noexcept { return training_; }

    /// All parameters as one array (slices are padded to 64 bytes; padding stays zero).
    std::span<T> parameters() noexcept { return store_.parameters(); }
    /// Read-only `parameters()`.
    std::span<const T> parameters() const noexcept { return store_.parameters(); }
    /// All gradients, laid out like `parameters()`.
    std::span<T> gradients() noexcept { return store_.gradients(); }
    /// Read-only `gradients()`.
    std::span<const T> gradients() const noexcept { return store_.gradients(); }

    /// Calls f(name, data, grad, shape) for every parameter tensor, with PyTorch
    /// `state_dict` names ("0.weight", "2.bias", "3.0.weight" inside a block,
    /// "layer1.0.conv1.weight" with `Named` layers).
    template <class F>
    void for_each_parameter(F&& f)
    {
        own_->chain_.for_each_parameter(
            [&](const std::string& name, T* data, T* grad, const parameter_shape& shape, std::size_t) {
                f(name, data, grad, shape);
            });
    }

    /// Calls f(name, values, shape) for every buffer: layer state that is saved
    /// but not learned, with PyTorch `state_dict` names ("1.running_mean",
    /// "1.running_var" as std::span<T>, "1.num_batches_tracked" as
    /// std::span<std::int64_t>). Layers without buffers need not declare any.
    template <class F>
    void for_each_buffer(F&& f)
    {
        own_->chain_.for_each_buffer(f);
    }

    /// Layer `I` (0-based, not counting Input) of the network's own workspace.
    template <std::size_t I>
    layer_type<I>& layer() noexcept
    {
        return own_->template layer<I>();
    }

    /// The generator behind initialisation and dropout masks.
    random_engine& rng() noexcept { return rng_; }

    /// The ranks that `SyncBatchNorm` layers reduce their batch statistics
    /// over in training mode (`distributed::DataParallel` sets it for its
    /// lifetime); null, the default, normalises with this process's batch alone.
    void set_process_group(distributed::process_group* group) noexcept { group_ = group; }
    /// See `set_process_group`.
    distributed::process_group* process_group() const noexcept { return group_; }

    /// Re-initialises every parameter from `seed`.
    void initialize(std::uint64_t seed)
    {
        rng_.seed(seed);
        std::fill(store_.parameters().begin(), store_.parameters().end(), T(0));
        own_->chain_.initialize(rng_);
    }

    /// Re-initialises every parameter from `seed`, layers that accept an
    /// initialiser policy (Dense, Conv2D) with `policy`.
    template <class Policy>
    void initialize(std::uint64_t seed, Policy policy)
    {
        rng_.seed(seed);
        std::fill(store_.parameters().begin(), store_.parameters().end(), T(0));
        own_->chain_.initialize(rng_, policy);
    }

    /// A Keras-like table of layers, output shapes and parameter counts; the
    /// layers of blocks are listed, indented, under the block's row.
    static std::string summary()
    {
        std::ostringstream out;
        const std::string rule(72, '-');
        out << rule << '\n';
        detail::summary_row(out, "Layer (type)", "Output Shape", "Param #");
        out << std::string(72, '=') << '\n';
        detail::summary_row(out, "Input", detail::batch_string<input_shape>(), "0");
        chain_type::summary_rows(out, "", 0);
        out << std::string(72, '=') << '\n'
            << "Total params: " << detail::grouped(parameter_count) << '\n'
            << rule << '\n';
        return out.str();
    }

private:
    /// The own workspace's context: the network's mode and generator.
    context own_context(const Graph* graph) noexcept
    {
        return {training_, &rng_, graph, {store_.params(), &store_.tensor_ranges(), frozen_batchnorm_}, group_};
    }

    /// `ws` bound to this network (a workspace made for another network of this type rebinds).
    workspace& prepare(workspace& ws) const
    {
        if (!ws.bound_to(*this)) ws.bind(*this);
        return ws;
    }

    void index_parameters()
    {
        own_->chain_.for_each_parameter(
            [&](const std::string& name, T* data, T*, const parameter_shape& shape, std::size_t layer) {
                std::size_t n = 1;
                for (auto d : shape) n *= d;
                store_.add_slice(name, layer, data, n);
            });
        store_.update_ranges();
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
                              detail::batch_string<input_shape>() + ", got " + shape_string(s));
    }

    // Not inlined: training loops call the whole network from several places
    // (fit, evaluate, predict), and one copy of it compiles much faster.
    template <class E>
    LEPTON_NOINLINE const output_type& run(const E& x, context ctx, workspace& ws) const
    {
        check_input_shape(x);
        const input_type* in;
        if constexpr (std::is_same_v<E, input_type>) {
            in = &x;
        } else {
            // Another container or an expression: evaluate it once into a buffer of the workspace.
            ensure_shape(ws.staging_, x.shape());
            xt::noalias(ws.staging_) = x;
            in = &ws.staging_;
        }
        ws.last_input_ = in;
        ws.sparse_input_ = nullptr;
        return ws.chain_.forward(*in, ctx);
    }

    const output_type& run_sparse(const sparse_matrix<T>& x, context ctx, workspace& ws)
    {
        static_assert(input_shape::rank == 1 && !input_shape::has_dynamic,
                      "Lepton: sparse input needs a network that starts with Input<features>");
        if (x.cols() != input_shape::size)
            throw shape_error("lepton: layer 0 (" + std::string(layer_type<0>::kind) + ") expects sparse input of shape " +
                              detail::batch_string<input_shape>() + ", got " + shape_string(x.shape()));
        ws.last_input_ = nullptr;
        ws.sparse_input_ = &x;
        ws.sparse_backward_ = [](workspace& w, const output_type& dy) {
            w.chain_.backward_sparse(*w.sparse_input_, dy, w.sparse_consumer_);
        };
        return ws.chain_.forward_sparse(x, ctx, ws.sparse_consumer_);
    }

    detail::parameter_store<T> store_;
    random_engine rng_;
    bool training_ = true;
    frozen_batchnorm frozen_batchnorm_ = frozen_batchnorm::inference;
    distributed::process_group* group_ = nullptr;  ///< not copied: a copy is a network of its own
    std::unique_ptr<workspace> own_;  ///< on the heap, so that moving the network keeps it in place
};

/// The everyday network: float on the CPU.
template <class InputSpec, class... Specs>
using Sequential = Network<float, cpu, InputSpec, Specs...>;

} // namespace lepton
