#pragma once
/// \file
/// `Residual<Body, Shortcut = Identity, After = Identity>`: y = after(body(x) +
/// shortcut(x)), the building block of ResNets (torchvision's `BasicBlock` is
/// `Residual<Body, Identity or Projection, ReLU>`: the ReLU after the sum is
/// part of the block, so block indices match torchvision's). The shortcut is the input itself, or a
/// projection where the body changes the shape (a 1x1 `Conv2D` with the
/// body's stride and a `BatchNorm2D`, torchvision's `downsample`).
///
/// Names follow torchvision's `BasicBlock`: the body's own parameter names
/// sit directly under the residual's (a `Block` body of `Named<"conv1", ...>`,
/// `Named<"bn1", ...>` layers gives `conv1.weight`, `bn1.running_mean`), and
/// the shortcut's under its `Named` name, `shortcut` by default
/// (`Named<"downsample", Block<...>>` gives `downsample.0.weight`).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include "../kernels/elementwise.hpp"
#include "../layers/layer.hpp"
#include "block.hpp"
#include "named.hpp"
#include "summary.hpp"

namespace lepton {

/// Wiring check shown in compiler notes: the body of the residual at `Where`
/// gives `Body`, its shortcut `Shortcut`; they must be the same shape.
template <class Where, class Body, class Shortcut>
struct residual_body_and_shortcut_shapes_must_agree {
    static constexpr bool value =
        is_invalid_shape<Body> || is_invalid_shape<Shortcut> || std::is_same_v<Body, Shortcut>;
};

/// What `Residual` binds to.
template <class T, class Backend, class In, std::size_t Index, class BodySpec, class ShortcutSpec, class AfterSpec>
class residual_layer
    : public detail::layer_base<T, In, typename BodySpec::template bind<T, Backend, In, 0>::output_shape>,
      public detail::composite_storage<residual_layer<T, Backend, In, Index, BodySpec, ShortcutSpec, AfterSpec>, T> {
    using body_type = typename BodySpec::template bind<T, Backend, In, 0>;
    using shortcut_type = typename ShortcutSpec::template bind<T, Backend, In, 1>;
    using after_type = typename AfterSpec::template bind<T, Backend, typename body_type::output_shape, 2>;
    static_assert(after_type::parameter_count == 0 && std::is_same_v<typename after_type::output_shape,
                                                                     typename body_type::output_shape>,
                  "Lepton wiring error: a Residual's After is an activation (no parameters, shape unchanged)");
    static constexpr bool plain_sum = std::is_same_v<after_type, identity_layer<T, Backend, typename body_type::output_shape, 2>>;
    /// A ReLU after the sum is applied in the sum's pass; the ReLU layer then passes it on.
    static constexpr bool relu_after = requires(after_type& a) { a.take_activated_input(true); };
    using base = typename residual_layer::layer_base;
    static_assert(residual_body_and_shortcut_shapes_must_agree<layer_index<Index>, typename body_type::output_shape,
                                                               typename shortcut_type::output_shape>::value,
                  "Lepton wiring error: a Residual's body and shortcut give different shapes; give it a projection "
                  "shortcut, e.g. Residual<Body, Block<Conv2D<C, 1, S>, BatchNorm2D<>>>");
    static constexpr bool identity = std::is_same_v<shortcut_type, identity_layer<T, Backend, In, 1>>;
    /// The body's last layer (BatchNorm) adds the shortcut, and applies a ReLU after the sum, as it writes its
    /// output, which then is the sum.
    static constexpr bool body_adds_shortcut =
        detail::adds_to_output<body_type> && std::is_same_v<typename body_type::output_type, typename shortcut_type::output_type>;
    static constexpr std::size_t body_storage = detail::parameter_storage_of<body_type, T>();
    static constexpr std::size_t body_buffers = detail::buffer_count_of<body_type>();
    static constexpr std::size_t body_counters = detail::counter_count_of<body_type>();

    using storage = detail::composite_storage<residual_layer<T, Backend, In, Index, BodySpec, ShortcutSpec, AfterSpec>, T>;

public:
    using storage::bind;          // not layer_base's: the parts have storage
    using storage::bind_buffers;
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries.
    static constexpr const char* kind = "Residual";
    /// Learnable parameters of the body and the shortcut.
    static constexpr std::size_t parameter_count = body_type::parameter_count + shortcut_type::parameter_count;
    /// Elements the two paths take in the flat parameter buffer.
    static constexpr std::size_t parameter_storage = body_storage + detail::parameter_storage_of<shortcut_type, T>();
    /// Buffer elements of the two paths.
    static constexpr std::size_t buffer_count = body_buffers + detail::buffer_count_of<shortcut_type>();
    /// Counters of the two paths.
    static constexpr std::size_t counter_count = body_counters + detail::counter_count_of<shortcut_type>();

    /// The body.
    body_type& body() noexcept { return body_; }
    /// The shortcut.
    shortcut_type& shortcut() noexcept { return shortcut_; }

    /// Points both paths at their parts of the storage starting at `at`, the body's first (see `composite_storage`).
    void rebind(const detail::layer_storage<T>& at)
    {
        detail::bind_layer(body_, at);
        detail::bind_layer(shortcut_, at.advanced(body_storage, body_buffers, body_counters));
        if constexpr (relu_after) after_.take_activated_input(true);
    }
    /// Initialises the body, then the shortcut.
    void initialize(random_engine& rng)
    {
        body_.initialize(rng);
        shortcut_.initialize(rng);
    }
    /// The same with an initialiser policy for the layers that take one.
    template <class Policy>
    void initialize(random_engine& rng, Policy policy)
    {
        detail::initialize_layer(body_, rng, policy);
        detail::initialize_layer(shortcut_, rng, policy);
    }
    /// Calls `f(name, data, grad, shape)`: the body's names as they are, then the shortcut's under its name.
    template <class F>
    void for_each_parameter(F&& f)
    {
        body_.for_each_parameter(f);
        const std::string prefix = shortcut_name() + ".";
        shortcut_.for_each_parameter([&](const char* local, T* data, T* grad, const parameter_shape& shape) {
            f((prefix + local).c_str(), data, grad, shape);
        });
    }
    /// Calls `f(name, values, shape)` for the buffers, named like the parameters.
    template <class F>
    void for_each_buffer(F&& f)
    {
        if constexpr (requires { body_.for_each_buffer(f); }) body_.for_each_buffer(f);
        const std::string prefix = shortcut_name() + ".";
        auto named = [&](const char* local, auto values, const parameter_shape& shape) {
            f((prefix + local).c_str(), values, shape);
        };
        if constexpr (requires { shortcut_.for_each_buffer(named); }) shortcut_.for_each_buffer(named);
    }

    /// The output of the last forward call.
    const output_type& output() const noexcept { return plain_sum ? sum() : after_.output(); }

    /// after(body(x) + shortcut(x)).
    const output_type& forward(const input_type& x, context& ctx)
    {
        const output_type& sum = [&]() -> const output_type& {
            if constexpr (body_adds_shortcut) {
                return body_.forward(x, ctx, shortcut_.forward(x, ctx), relu_after);
            } else {
                const auto& a = body_.forward(x, ctx);
                const auto& b = shortcut_.forward(x, ctx);
                output_type& y = this->output_for(this->batch_of(x));
                if constexpr (relu_after)
                    kernels::map(y.size(), a.data(), b.data(), y.data(),
                                 [](auto u, auto v) { return xsimd::max(u + v, decltype(u)(0)); });
                else
                    kernels::map(y.size(), a.data(), b.data(), y.data(), [](auto u, auto v) { return u + v; });
                return y;
            }
        }();
        if constexpr (plain_sum)
            return sum;
        else
            return after_.forward(sum, ctx);
    }

    /// dL/d(sum) reaches both paths; dL/dx is the sum of what they return.
    const input_type& backward(const input_type& x, const output_type& dy_out, bool input_grad)
    {
        const output_type& dy = plain_sum ? dy_out : after_.backward(sum(), dy_out, true);
        if constexpr (identity && detail::adds_to_input_grad<body_type>) {
            // The body's first layer adds the shortcut's gradient as it writes its own.
            const auto& dx = body_.backward(x, dy, input_grad, dy);
            return input_grad ? dx : this->dx_;
        } else if constexpr (identity) {
            const auto& from_body = body_.backward(x, dy, input_grad);
            if (!input_grad) return this->dx_;
            input_type& dx = this->input_grad_like(x);
            kernels::map(dx.size(), from_body.data(), dy.data(), dx.data(), [](auto u, auto v) { return u + v; });
            return dx;
        } else {
            const auto& from_body = body_.backward(x, dy, input_grad);
            if (!input_grad) {
                shortcut_.backward(x, dy, false);
                return this->dx_;
            }
            const auto& from_shortcut = shortcut_.backward(x, dy, true);
            input_type& dx = this->input_grad_like(x);
            kernels::map(dx.size(), from_body.data(), from_shortcut.data(), dx.data(), [](auto u, auto v) { return u + v; });
            return dx;
        }
    }

    /// Summary rows: the body's layers, then the shortcut's.
    static void summary_rows(std::ostringstream& out, const std::string& prefix, int depth)
    {
        if constexpr (requires { body_type::summary_rows(out, prefix, depth); }) {
            body_type::summary_rows(out, prefix, depth);
        } else {
            detail::summary_row(out, std::string(std::size_t(2 * depth), ' ') + prefix + body_type::kind,
                                detail::batch_string<typename body_type::output_shape>(),
                                detail::grouped(body_type::parameter_count));
        }
        const std::string name = prefix + shortcut_name();
        detail::summary_row(out, std::string(std::size_t(2 * depth), ' ') + name + " " + shortcut_type::kind,
                            detail::batch_string<typename shortcut_type::output_shape>(),
                            detail::grouped(shortcut_type::parameter_count));
        if constexpr (requires { shortcut_type::summary_rows(out, prefix, depth); })
            shortcut_type::summary_rows(out, name + ".", depth + 1);
        if constexpr (!plain_sum)
            detail::summary_row(out, std::string(std::size_t(2 * depth), ' ') + prefix + "(after the sum) " +
                                         after_type::kind,
                                detail::batch_string<typename after_type::output_shape>(), "0");
    }

private:
    static std::string shortcut_name() { return detail::layer_name<ShortcutSpec>("shortcut"); }

    /// body(x) + shortcut(x) (after a fused ReLU) of the last forward call.
    const output_type& sum() const noexcept
    {
        if constexpr (body_adds_shortcut)
            return body_.output();
        else
            return this->y_;
    }

    body_type body_;
    shortcut_type shortcut_;
    after_type after_;
};

/// `Residual<Body, Shortcut = Identity, After = Identity>`: after(body(x) + shortcut(x)).
template <class Body, class Shortcut = Identity, class After = Identity>
struct Residual {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = residual_layer<T, Backend, In, Index, Body, Shortcut, After>;
};

} // namespace lepton
