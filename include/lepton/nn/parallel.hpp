#pragma once
/// \file
/// `Parallel<Merge, Branches...>`: every branch reads the same input, and
/// `Merge` joins their outputs: `Add` (a sum, the general form of a residual
/// block), `Multiply` (an element-wise product: gates, attention masks) or
/// `Concat<Axis>` (features side by side; Axis 0 is the channels of an image
/// and the features of a vector, as `torch.cat(dim=1)` on a batch). The
/// input gradient is the sum of the branches' input gradients.
///
/// Several outputs, such as a VAE encoder's mean and log-variance heads, are
/// branches merged with `Concat<0>`: `Parallel<Concat<0>, Dense<16>, Dense<16>>`
/// gives [32], the first head's 16 features then the second's
/// (`branch_offset<K>` says where branch K starts), and a loss sees both.
///
/// Branches are named by their position ("0.weight", "1.weight") or by their
/// `Named` names, as an `nn.ModuleList` or the attributes of a module are.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../kernels/elementwise.hpp"
#include "../layers/layer.hpp"
#include "named.hpp"
#include "summary.hpp"

namespace lepton {

/// Merge of `Parallel`: the sum of the branches' outputs.
struct Add {};
/// Merge of `Parallel`: the element-wise product of the branches' outputs.
struct Multiply {};
/// Merge of `Parallel`: the outputs side by side along sample axis `Axis`
/// (0: channels of [C, H, W], features of [F]; 1: time steps of [T, F] ...).
template <std::size_t Axis>
struct Concat {};

/// Wiring check shown in compiler notes: the branches of the `Parallel` at
/// `Where` give `Shapes...`; `Add` and `Multiply` need them equal.
template <class Where, class... Shapes>
struct parallel_branches_must_give_one_shape {
    static constexpr bool value = ((is_invalid_shape<Shapes> || ...)) ||
                                  (std::is_same_v<std::tuple_element_t<0, std::tuple<Shapes...>>, Shapes> && ...);
};
/// Wiring check shown in compiler notes: `Concat<Axis>` at `Where` needs shapes `Shapes...`
/// of one rank, above `Axis`, equal except along `Axis`.
template <class Where, std::size_t Axis, class... Shapes>
struct concat_shapes_must_agree_off_the_axis {
    static constexpr bool value = [] {
        if constexpr ((is_invalid_shape<Shapes> || ...)) {
            return true;
        } else {
            using First = std::tuple_element_t<0, std::tuple<Shapes...>>;
            if (((Shapes::rank != First::rank) || ...) || Axis >= First::rank) return false;
            for (std::size_t d = 0; d < First::rank; ++d)
                if (d != Axis && ((Shapes::dims[d] != First::dims[d]) || ...)) return false;
            return true;
        }
    }();
};

namespace detail {

template <class Merge, class... Shapes>
struct merged_shape;
template <class... Shapes>
struct merged_shape<Add, Shapes...> {
    using type = std::tuple_element_t<0, std::tuple<Shapes...>>;
};
template <class... Shapes>
struct merged_shape<Multiply, Shapes...> {
    using type = std::tuple_element_t<0, std::tuple<Shapes...>>;
};
template <std::size_t Axis, class... Shapes>
struct merged_shape<Concat<Axis>, Shapes...> {
    using first = std::tuple_element_t<0, std::tuple<Shapes...>>;
    /// Dimension D of the result: the sum along the axis, the common size elsewhere.
    template <std::size_t D>
    static constexpr std::size_t dim = D == Axis ? (std::size_t{0} + ... + Shapes::dims[D]) : first::dims[D];
    template <std::size_t... D>
    static auto make(std::index_sequence<D...>)
    {
        return Shape<dim<D>...>{};
    }
    using type = std::conditional_t<(is_invalid_shape<Shapes> || ...) || !concat_shapes_must_agree_off_the_axis<void, Axis, Shapes...>::value,
                                    invalid_shape, decltype(make(std::make_index_sequence<first::rank>{}))>;
};

/// Whether a merge is `Concat<Axis>`, and its axis.
template <class M>
struct concat_axis {
    static constexpr bool is_concat = false;
    static constexpr std::size_t value = 0;
};
template <std::size_t A>
struct concat_axis<Concat<A>> {
    static constexpr bool is_concat = true;
    static constexpr std::size_t value = A;
};

/// The branches bound to the same input, each at its position.
template <class T, class Backend, class In, class Positions, class... Specs>
struct bind_branches;
template <class T, class Backend, class In, std::size_t... I, class... Specs>
struct bind_branches<T, Backend, In, std::index_sequence<I...>, Specs...> {
    using type = std::tuple<typename Specs::template bind<T, Backend, In, I>...>;
};

} // namespace detail

/// What `Parallel` binds to.
template <class T, class Backend, class In, std::size_t Index, class Merge, class... Specs>
class parallel_layer
    : public detail::layer_base<
          T, In,
          typename detail::merged_shape<
              Merge, typename Specs::template bind<T, Backend, In, 0>::output_shape...>::type>,
      public detail::composite_storage<parallel_layer<T, Backend, In, Index, Merge, Specs...>, T> {
    using branches_tuple =
        typename detail::bind_branches<T, Backend, In, std::make_index_sequence<sizeof...(Specs)>, Specs...>::type;
    static constexpr std::size_t count = sizeof...(Specs);
    template <std::size_t K>
    using branch_t = std::tuple_element_t<K, branches_tuple>;
    using base = typename parallel_layer::layer_base;
    /// Every branch's output type (the branches' shapes share one rank).
    using branch_output = typename branch_t<0>::output_type;

    static_assert(std::is_same_v<Merge, Add> || std::is_same_v<Merge, Multiply> || detail::concat_axis<Merge>::is_concat,
                  "Lepton wiring error: Parallel's merge is Add, Multiply or Concat<Axis>");
    static constexpr bool concat = detail::concat_axis<Merge>::is_concat;
    static constexpr std::size_t axis = detail::concat_axis<Merge>::value;

    static_assert(concat || parallel_branches_must_give_one_shape<layer_index<Index>,
                                                                  typename Specs::template bind<T, Backend, In, 0>::output_shape...>::value,
                  "Lepton wiring error: Parallel<Add or Multiply, ...> needs branches that give the same shape");
    static_assert(!concat || concat_shapes_must_agree_off_the_axis<layer_index<Index>, axis,
                                                                   typename Specs::template bind<T, Backend, In, 0>::output_shape...>::value,
                  "Lepton wiring error: Parallel<Concat<Axis>, ...> needs branches of one rank whose shapes differ "
                  "along Axis only");

    struct offsets_t {
        std::array<std::size_t, count + 1> params{}, buffers{}, counters{};
    };
    static constexpr offsets_t offsets = []<std::size_t... K>(std::index_sequence<K...>) {
        offsets_t o{};
        std::size_t p = 0, b = 0, c = 0, i = 0;
        ((o.params[i] = p, o.buffers[i] = b, o.counters[i] = c, ++i, p += detail::parameter_storage_of<branch_t<K>, T>(),
          b += detail::buffer_count_of<branch_t<K>>(), c += detail::counter_count_of<branch_t<K>>()),
         ...);
        o.params[count] = p, o.buffers[count] = b, o.counters[count] = c;
        return o;
    }(std::make_index_sequence<count>{});

    using storage = detail::composite_storage<parallel_layer<T, Backend, In, Index, Merge, Specs...>, T>;

public:
    using storage::bind;          // not layer_base's: the parts have storage
    using storage::bind_buffers;
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries.
    static constexpr const char* kind = "Parallel";
    /// Learnable parameters of all branches.
    static constexpr std::size_t parameter_count = (std::size_t{0} + ... + Specs::template bind<T, Backend, In, 0>::parameter_count);
    /// Elements the branches take in the flat parameter buffer.
    static constexpr std::size_t parameter_storage = offsets.params[count];
    /// Buffer elements of the branches.
    static constexpr std::size_t buffer_count = offsets.buffers[count];
    /// Counters of the branches.
    static constexpr std::size_t counter_count = offsets.counters[count];

    /// Where branch K's output starts along the concatenation axis (Concat only).
    template <std::size_t K>
    static constexpr std::size_t branch_offset = []<std::size_t... J>(std::index_sequence<J...>) {
        return (std::size_t{0} + ... + branch_t<J>::output_shape::dims[axis]);
    }(std::make_index_sequence<K>{});

    /// Branch `K`.
    template <std::size_t K>
    branch_t<K>& branch() noexcept
    {
        return std::get<K>(branches_);
    }

    /// Points each branch at its part of the storage starting at `at` (see `composite_storage`).
    void rebind(const detail::layer_storage<T>& at)
    {
        for_each_branch([&](auto& b, std::size_t k) {
            detail::bind_layer(b, at.advanced(offsets.params[k], offsets.buffers[k], offsets.counters[k]));
        });
    }
    /// Initialises the branches in order.
    void initialize(random_engine& rng)
    {
        for_each_branch([&](auto& b, std::size_t) { b.initialize(rng); });
    }
    /// The same with an initialiser policy for the layers that take one.
    template <class Policy>
    void initialize(random_engine& rng, Policy policy)
    {
        for_each_branch([&](auto& b, std::size_t) { detail::initialize_layer(b, rng, policy); });
    }
    /// Calls `f(name, data, grad, shape)` for each branch's parameters, under the branch's name.
    template <class F>
    void for_each_parameter(F&& f)
    {
        for_each_branch([&](auto& b, std::size_t k) {
            const std::string prefix = branch_name(k) + ".";
            b.for_each_parameter([&](const char* local, T* data, T* grad, const parameter_shape& shape) {
                f((prefix + local).c_str(), data, grad, shape);
            });
        });
    }
    /// Calls `f(name, values, shape)` for each branch's buffers.
    template <class F>
    void for_each_buffer(F&& f)
    {
        for_each_branch([&](auto& b, std::size_t k) {
            const std::string prefix = branch_name(k) + ".";
            auto named = [&](const char* local, auto values, const parameter_shape& shape) {
                f((prefix + local).c_str(), values, shape);
            };
            if constexpr (requires { b.for_each_buffer(named); }) b.for_each_buffer(named);
        });
    }

    /// Runs every branch on `x` and merges their outputs.
    const output_type& forward(const input_type& x, context& ctx)
    {
        output_type& y = this->output_for(this->batch_of(x));
        for_each_branch([&](auto& b, std::size_t k) {
            const auto& out = b.forward(x, ctx);
            if constexpr (concat) {
                place(out, y, concat_offset(k), false);
            } else if (k == 0) {
                std::copy(out.begin(), out.end(), y.begin());
            } else if constexpr (std::is_same_v<Merge, Add>) {
                kernels::map(y.size(), y.data(), out.data(), y.data(), [](auto u, auto v) { return u + v; });
            } else {
                kernels::map(y.size(), y.data(), out.data(), y.data(), [](auto u, auto v) { return u * v; });
            }
        });
        return y;
    }

    /// dL/d(branch output) to each branch (its part of dy for Concat, dy for Add, dy times the
    /// other outputs for Multiply); returns the sum of their input gradients.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        input_type* dx = input_grad ? &this->input_grad_like(x) : nullptr;
        for_each_branch([&](auto& b, std::size_t k) {
            const branch_output* grad = nullptr;
            if constexpr (concat) {
                auto& part = grads_[k];
                ensure_shape(part, b.output().shape());
                place(dy, part, concat_offset(k), true);
                grad = &part;
            } else if constexpr (std::is_same_v<Merge, Add>) {
                grad = &dy;
            } else {
                auto& part = grads_[k];
                ensure_shape(part, dy.shape());
                std::copy(dy.begin(), dy.end(), part.begin());
                for_each_branch([&](auto& other, std::size_t j) {
                    if (j == k) return;
                    const auto& o = other.output();
                    kernels::map(part.size(), part.data(), o.data(), part.data(), [](auto u, auto v) { return u * v; });
                });
                grad = &part;
            }
            const auto& from = b.backward(x, *grad, input_grad);
            if (!dx) return;
            if (k == 0)
                std::copy(from.begin(), from.end(), dx->begin());
            else
                kernels::map(dx->size(), dx->data(), from.data(), dx->data(), [](auto u, auto v) { return u + v; });
        });
        return dx ? *dx : this->dx_;
    }

    /// Summary rows: each branch, and the layers of blocks under it.
    static void summary_rows(std::ostringstream& out, const std::string& prefix, int depth)
    {
        [&]<std::size_t... K>(std::index_sequence<K...>) {
            (([&] {
                 using B = branch_t<K>;
                 const std::string name = prefix + branch_name(K);
                 detail::summary_row(out, std::string(std::size_t(2 * depth), ' ') + name + " " + B::kind,
                                     detail::batch_string<typename B::output_shape>(),
                                     detail::grouped(B::parameter_count));
                 if constexpr (requires { B::summary_rows(out, prefix, depth); })
                     B::summary_rows(out, name + ".", depth + 1);
             }()),
             ...);
        }(std::make_index_sequence<count>{});
    }

private:
    static std::string branch_name(std::size_t k)
    {
        static const std::array<std::string, count> names = [] {
            std::array<std::string, count> n;
            std::size_t i = 0;
            ((n[i] = detail::layer_name<Specs>(std::to_string(i)), ++i), ...);
            return n;
        }();
        return names[k];
    }

    template <class F>
    void for_each_branch(F&& f)
    {
        [&]<std::size_t... K>(std::index_sequence<K...>) { (f(std::get<K>(branches_), K), ...); }(
            std::make_index_sequence<count>{});
    }

    /// Branch k's start along the axis.
    static std::size_t concat_offset(std::size_t k)
    {
        static constexpr auto starts = []<std::size_t... K>(std::index_sequence<K...>) {
            return std::array<std::size_t, count>{branch_offset<K>...};
        }(std::make_index_sequence<count>{});
        return starts[k];
    }

    /// Copies a branch's part between its own tensor and the merged one (`to_part`: merged -> part).
    template <class Part>
    static void place(const auto& from, Part& to, std::size_t start, bool to_part)
    {
        // Both are [N, d0, d1, ...]: rows of `inner` elements, `along` of them per sample in the part.
        const auto& part = to_part ? to : from;
        const auto& whole = to_part ? from : to;
        const std::size_t n = whole.shape()[0];
        std::size_t inner = 1;
        for (std::size_t d = axis + 2; d < whole.dimension(); ++d) inner *= whole.shape()[d];
        std::size_t outer = n;
        for (std::size_t d = 1; d < axis + 1; ++d) outer *= whole.shape()[d];
        const std::size_t part_len = part.shape()[axis + 1] * inner, whole_len = whole.shape()[axis + 1] * inner;
        for (std::size_t o = 0; o < outer; ++o) {
            if (to_part)
                std::copy_n(from.data() + o * whole_len + start * inner, part_len, to.data() + o * part_len);
            else
                std::copy_n(from.data() + o * part_len, part_len, to.data() + o * whole_len + start * inner);
        }
    }

    branches_tuple branches_;
    std::array<branch_output, count> grads_;  ///< dL/d(branch output), where it is not dy itself
};

/// `Parallel<Merge, Branches...>`: every branch on the same input, merged by
/// `Add`, `Multiply` or `Concat<Axis>`.
template <class Merge, class... Branches>
struct Parallel {
    static_assert(sizeof...(Branches) > 1, "Lepton wiring error: Parallel needs at least two branches");
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = parallel_layer<T, Backend, In, Index, Merge, Branches...>;
};

} // namespace lepton
