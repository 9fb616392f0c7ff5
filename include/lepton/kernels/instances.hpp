#pragma once
/// \file
/// The kernels' float and double instances, for the one translation unit of a
/// program that compiles them when the program defines `LEPTON_SEPARATE_KERNELS`
/// (see kernels/target.hpp):
///
///     // lepton_kernels.cpp
///     #define LEPTON_KERNELS_IMPLEMENTATION
///     #include <lepton/kernels/instances.hpp>
///
/// Included anywhere else it only declares them, like the kernel headers themselves.

#include "conv_implicit.hpp"
#include "gemm.hpp"
#include "im2col.hpp"
#include "target.hpp"
#include "winograd.hpp"
