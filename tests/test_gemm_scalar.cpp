// The portable scalar micro-kernel, used where xsimd has no instruction set.
#define LEPTON_SCALAR_KERNELS 1
#include "gemm_cases.hpp"

TEST_CASE("scalar-fallback gemm matches a naive product (float)")
{
    CHECK(gemm_suite<float>() == 0);
}
TEST_CASE("scalar-fallback gemm matches a naive product (double)")
{
    CHECK(gemm_suite<double>() == 0);
}
