#pragma once
/// \file
/// Backend tags. A network is instantiated for one backend; only `cpu` exists
/// today. A device backend adds its own tag and layer specialisations in its own
/// headers, so code that never names it never includes it.

namespace lepton {

/// Host memory, xsimd kernels, OpenMP threads.
struct cpu {};

} // namespace lepton
