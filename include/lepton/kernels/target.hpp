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

// Separate compilation of the kernels. By default every translation unit that
// uses a kernel compiles it (header-only). A program that defines
// `LEPTON_SEPARATE_KERNELS` everywhere, and in exactly one translation unit
// also `LEPTON_KERNELS_IMPLEMENTATION` before including
// <lepton/kernels/instances.hpp>, compiles the float and double instances of
// the large kernels (GEMM, packing, im2col, implicit and Winograd
// convolutions) once, in that unit: each kernel header ends with its
// instances, which are explicit instantiation declarations elsewhere. Every
// unit must be compiled with the same instruction-set flags (the blocking of
// packed operands depends on them).
#if defined(LEPTON_SEPARATE_KERNELS) && !defined(LEPTON_KERNELS_IMPLEMENTATION)
/// Declares a kernel instance that another translation unit compiles.
#define LEPTON_KERNEL_INSTANCE extern template
#else
/// Compiles a kernel instance here (the `LEPTON_KERNELS_IMPLEMENTATION` unit).
#define LEPTON_KERNEL_INSTANCE template
#endif
