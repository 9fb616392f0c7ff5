#pragma once
/// \file
/// `Named<"conv1", Conv2D<...>>`: a layer under a name of the user's choosing,
/// so that parameter names follow a PyTorch module tree with named
/// attributes (torchvision's `layer1.0.conv1.weight`, `layer1.0.downsample.0.weight`)
/// instead of positions.

#include <algorithm>
#include <cstddef>
#include <string>

namespace lepton {

/// A string literal as a template argument: `Named<"conv1", ...>`.
template <std::size_t N>
struct fixed_string {
    /// The characters, with the terminating zero.
    char text[N]{};
    /// Takes the literal.
    constexpr fixed_string(const char (&s)[N]) noexcept { std::copy_n(s, N, text); }
};

/// `Spec` under the name `Name` (a layer of the chain it is in is otherwise
/// named by its position). The name must not be empty or contain a dot.
template <fixed_string Name, class Spec>
struct Named {
    static_assert(sizeof(Name.text) > 1, "Lepton wiring error: Named<> needs a non-empty name");
    static_assert(std::find(Name.text, Name.text + sizeof(Name.text), '.') == Name.text + sizeof(Name.text),
                  "Lepton wiring error: a Named<> name cannot contain '.' (names are joined with dots)");
    /// The name.
    static constexpr const char* name = Name.text;
    /// The spec it names.
    using spec = Spec;
    /// Binds as `Spec` does.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = typename Spec::template bind<T, Backend, In, Index>;
};

namespace detail {
/// Whether a spec is `Named`.
template <class Spec>
inline constexpr bool is_named = requires { Spec::name; typename Spec::spec; };

/// The name a spec's layer goes by: its `Named` name, else `fallback` (its position, "shortcut").
template <class Spec>
std::string layer_name(std::string fallback)
{
    if constexpr (is_named<Spec>)
        return Spec::name;
    else
        return fallback;
}
} // namespace detail

} // namespace lepton
