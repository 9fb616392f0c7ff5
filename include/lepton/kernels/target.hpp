#pragma once
/// \file
/// The instruction set Lepton's kernels are compiled for, and the namespace
/// that carries it.
///
/// Every kernel header opens `lepton::kernels` through `LEPTON_KERNELS_BEGIN`,
/// which adds an inline namespace named after the target (`simd_kernels` or
/// `scalar_kernels`). Translation units built for different targets then get
/// different symbol names and link together without an ODR clash, and since
/// all kernel headers share the one inline namespace, their `detail`
/// namespaces are the same namespace whatever the order of inclusion.

#include "../core/compat.hpp"

#if defined(LEPTON_SCALAR_KERNELS) || defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
/// Set when the kernels run without SIMD (asked for, or no architecture xsimd knows).
#define LEPTON_KERNELS_SCALAR 1
/// Opens `lepton::kernels` and the inline namespace of the target.
#define LEPTON_KERNELS_BEGIN                                                                                           \
    namespace lepton::kernels {                                                                                        \
    inline namespace scalar_kernels {
#else
/// Opens `lepton::kernels` and the inline namespace of the target.
#define LEPTON_KERNELS_BEGIN                                                                                           \
    namespace lepton::kernels {                                                                                        \
    inline namespace simd_kernels {
#endif
/// Closes what `LEPTON_KERNELS_BEGIN` opened.
#define LEPTON_KERNELS_END                                                                                             \
    }                                                                                                                  \
    }
