#include "gemm_cases.hpp"

TEST_CASE("gemm matches a naive product for odd sizes, transposes, alpha/beta and strides (float)")
{
    CHECK(gemm_suite<float>() == 0);
}
TEST_CASE("gemm matches a naive product for odd sizes, transposes, alpha/beta and strides (double)")
{
    CHECK(gemm_suite<double>() == 0);
}

TEST_CASE("gemm with beta = 0 ignores NaN already in C")
{
    std::vector<float> a(4 * 5, 1.0f), b(5 * 3, 2.0f), c(4 * 3, std::nanf(""));
    lepton::kernels::gemm(transpose::no, transpose::no, 4, 3, 5, 1.0f, a.data(), 5, b.data(), 3, 0.0f, c.data(), 3);
    for (float v : c) CHECK(v == doctest::Approx(10.0f));
}

TEST_CASE("gemm splits work across threads with the same result")
{
    const int before = lepton::num_threads();
    lepton::set_num_threads(2);
    const int failures = check_gemm<float>(transpose::no, transpose::yes, 300, 260, 270, 1.0f, 0.0f);
    // Short and wide products split the columns between threads instead of the rows.
    const int short_wide = check_gemm<float>(transpose::no, transpose::yes, 20, 700, 600, 0.5f, 1.0f) +
                           check_gemm<float>(transpose::yes, transpose::no, 64, 3136, 64, 1.0f, 1.0f);
    lepton::set_num_threads(before);
    CHECK(failures == 0);
    CHECK(short_wide == 0);
}
