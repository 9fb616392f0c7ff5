// The portable scalar micro-kernel, used where xsimd has no instruction set.
#define LEPTON_SCALAR_KERNELS 1
#include "gemm_cases.hpp"

TEST_CASE("scalar-fallback gemm matches a naive product (float)") { gemm_suite<float>(); }
TEST_CASE("scalar-fallback gemm matches a naive product (double)") { gemm_suite<double>(); }
