// GEMM against a naive triple loop; included by the SIMD and the scalar-kernel test files.
#include <doctest/doctest.h>

#include <lepton/core/random.hpp>
#include <lepton/kernels/gemm.hpp>

#include <cmath>
#include <vector>

namespace {

using lepton::kernels::transpose;

template <class T>
void naive_gemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc)
{
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0;
            for (std::size_t p = 0; p < k; ++p) {
                const T av = ta == transpose::no ? a[i * lda + p] : a[p * lda + i];
                const T bv = tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
                s += double(av) * double(bv);
            }
            c[i * ldc + j] = T(alpha * s + (beta == T(0) ? 0.0 : double(beta) * double(c[i * ldc + j])));
        }
}

/// Returns 1 when the product differs from the naive one, else 0.
template <class T>
int check_gemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, T alpha, T beta,
                std::size_t pad = 0)
{
    lepton::random_engine rng(m * 131 + n * 17 + k);
    // Stored shapes: A is m x k (or k x m), B is k x n (or n x k); `pad` widens the row strides.
    const std::size_t a_rows = ta == transpose::no ? m : k, a_cols = ta == transpose::no ? k : m;
    const std::size_t b_rows = tb == transpose::no ? k : n, b_cols = tb == transpose::no ? n : k;
    const std::size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    std::vector<T> a(a_rows * lda), b(b_rows * ldb), c(m * ldc), expected;
    for (auto& v : a) v = T(rng.uniform(-1, 1));
    for (auto& v : b) v = T(rng.uniform(-1, 1));
    for (auto& v : c) v = T(rng.uniform(-1, 1));
    expected = c;
    naive_gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, expected.data(), ldc);
    lepton::kernels::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    const double tol = (sizeof(T) == 4 ? 2e-5 : 1e-12) * double(k + 1);
    double worst = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j)
            worst = std::max(worst, std::abs(double(c[i * ldc + j]) - double(expected[i * ldc + j])));
    INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << int(ta) << " tb=" << int(tb) << " pad=" << pad);
    CHECK(worst <= tol);
    // Padding columns of C are never written.
    bool padding_intact = true;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = n; j < ldc; ++j) padding_intact = padding_intact && c[i * ldc + j] == expected[i * ldc + j];
    CHECK(padding_intact);
    return worst <= tol && padding_intact ? 0 : 1;
}

/// Number of failing shapes (each failure is also reported where it happens).
template <class T>
int gemm_suite()
{
    int failures = 0;
    const std::size_t sizes[] = {1, 7, 17, 33, 257};
    for (auto ta : {transpose::no, transpose::yes})
        for (auto tb : {transpose::no, transpose::yes}) {
            for (auto s : sizes) check_gemm<T>(ta, tb, s, s, s, T(1), T(0));
            failures += check_gemm<T>(ta, tb, 65, 31, 1100, T(1), T(0));   // k spans several KC slices
            failures += check_gemm<T>(ta, tb, 3, 129, 45, T(0.5), T(2));   // alpha and beta
            failures += check_gemm<T>(ta, tb, 200, 5, 19, T(-1), T(1), 3); // padded strides
            failures += check_gemm<T>(ta, tb, 1, 300, 70, T(1), T(0));     // batch-1 fast path
            failures += check_gemm<T>(ta, tb, 1, 33, 9, T(2), T(0.5), 1);
        }
    return failures;
}

} // namespace
