#pragma once
/// \file
/// Embedding, `torch.nn.Embedding(Vocab, Dim)`: maps integer token ids to rows
/// of a learned [Vocab, Dim] table (PyTorch's N(0, 1) initialisation).
///
/// Token ids travel in the network's scalar type (exact for ids below 2^24 in
/// float), so a sequence of ids is an `Input<dynamic>` like any other input.
/// An id that is not an integer in [0, Vocab) throws `value_error` naming it.

#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>

#include "../core/error.hpp"
#include "../kernels/elementwise.hpp"
#include "layer.hpp"

namespace lepton {

template <class Where, class Got>
struct embedding_input_must_be_token_ids {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == 1;
};

/// What `Embedding` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Vocab, std::size_t Dim>
class embedding_layer
    : public detail::layer_base<T, In,
                                std::conditional_t<embedding_input_must_be_token_ids<layer_index<Index>, In>::value &&
                                                       !is_invalid_shape<In>,
                                                   Shape<In::dims[0], Dim>, invalid_shape>> {
    static_assert(embedding_input_must_be_token_ids<layer_index<Index>, In>::value,
                  "Lepton wiring error: Embedding needs an input [tokens] of ids");
    using base = typename embedding_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = "Embedding";
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = Vocab * Dim;

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        w_ = params;
        gw_ = grads;
    }
    /// Initialises the parameters.
    void initialize(random_engine& rng)
    {
        for (std::size_t i = 0; i < parameter_count; ++i) w_[i] = T(rng.normal());
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("weight", w_, gw_, parameter_shape{Vocab, Dim});
    }

    /// The table [Vocab, Dim].
    auto weight() { return view<T, 2>(w_, {Vocab, Dim}); }

    /// Forward pass on a batch; returns the layer's own output buffer.
    const output_type& forward(const input_type& x, context&)
    {
        const std::size_t n = x.shape()[0], tokens = x.shape()[1];
        ensure_shape(this->y_, std::array<std::size_t, 3>{n, tokens, Dim});
        for (std::size_t i = 0; i < n * tokens; ++i) {
            const std::size_t id = token(x.data()[i], i, tokens);
            std::copy_n(w_ + id * Dim, Dim, this->y_.data() + i * Dim);
        }
        return this->y_;
    }

    /// Accumulates dL/dW; ids have no gradient (the returned one is zero).
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t count = x.size();
        for (std::size_t i = 0; i < count; ++i) {
            T* row = gw_ + std::size_t(x.data()[i]) * Dim;
            kernels::map(Dim, row, dy.data() + i * Dim, row, [](auto a, auto b) { return a + b; });
        }
        if (!input_grad) return this->dx_;
        input_type& dx = this->input_grad_like(x);
        std::fill(dx.begin(), dx.end(), T(0));
        return dx;
    }

private:
    static std::size_t token(T value, std::size_t at, std::size_t tokens)
    {
        if (!(value >= T(0) && value < T(Vocab) && std::floor(value) == value))
        {
            std::ostringstream id;
            id << value;
            throw value_error("lepton: Embedding: token id " + id.str() + " at sample " +
                              std::to_string(at / tokens) + ", position " + std::to_string(at % tokens) +
                              " is outside the vocabulary [0, " + std::to_string(Vocab) + ")");
        }
        return std::size_t(value);
    }

    T* w_ = nullptr;
    T* gw_ = nullptr;
};

/// `Embedding<Vocab, Dim>`: [tokens] of ids -> [tokens, Dim].
template <std::size_t Vocab, std::size_t Dim>
struct Embedding {
    static_assert(Vocab > 0 && Dim > 0, "Lepton wiring error: Embedding needs a vocabulary and a dimension");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = embedding_layer<T, Backend, In, Index, Vocab, Dim>;
};

} // namespace lepton
