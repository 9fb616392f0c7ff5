#pragma once
/// \file
/// `gradient_hook`: what a network's backward pass tells an observer as it goes
/// (data-parallel training starts reducing a slice of the gradients as soon as
/// backward has passed the layers it belongs to).

#include <cstddef>

namespace lepton {

/// Called by `Network::backward` after each of its layers (a block counts as
/// one): `ready(user, from)` says that `gradients()[from, end)` are final for
/// this backward pass, since gradients are laid out in layer order. The last
/// call has `from == 0`. Frozen parameters' gradients are zeroed only after
/// the last call: an observer leaves them out.
struct gradient_hook {
    void (*ready)(void* user, std::size_t from) = nullptr;  ///< the callback
    void* user = nullptr;                                   ///< passed back to it
};

} // namespace lepton
