#pragma once
/// \file
/// Sparse (CSR) times dense products, vectorised with xsimd over the dense
/// matrix's rows (the feature dimension) and threaded over the sparse rows.
///
/// The sparse operand is given as raw CSR arrays so the same kernels serve
/// feature matrices, graph adjacencies and per-edge attention weights.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../core/compat.hpp"
#include "elementwise.hpp"
#include "parallel.hpp"
#include "target.hpp"

LEPTON_KERNELS_BEGIN

/// A CSR operand: `values == nullptr` means every stored entry is 1.
template <class T>
struct csr_ref {
    std::size_t rows;              ///< rows of the sparse matrix
    const std::size_t* offsets;    ///< rows + 1 offsets into columns and values
    const std::uint32_t* columns;  ///< column of each entry
    const T* values;               ///< value of each entry, or nullptr for all ones
};

namespace detail {

/// c[0..f) (+)= sum over the row's entries of v_k * b[col_k, 0..f).
template <class T>
inline void spmm_row(const csr_ref<T>& a, std::size_t row, const T* b, std::size_t f, T* c, bool accumulate)
{
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
    const std::size_t begin = a.offsets[row], end = a.offsets[row + 1];
    auto weight = [&](std::size_t k) { return a.values ? a.values[k] : T(1); };
    std::size_t j = 0;
    // Two vectors per pass keep two independent FMA chains in flight.
    for (; j + 2 * W <= f; j += 2 * W) {
        vec s0 = accumulate ? vec::load_unaligned(c + j) : vec(T(0));
        vec s1 = accumulate ? vec::load_unaligned(c + j + W) : vec(T(0));
        for (std::size_t k = begin; k < end; ++k) {
            const T* bk = b + std::size_t(a.columns[k]) * f + j;
            const vec w(weight(k));
            s0 = xsimd::fma(w, vec::load_unaligned(bk), s0);
            s1 = xsimd::fma(w, vec::load_unaligned(bk + W), s1);
        }
        s0.store_unaligned(c + j);
        s1.store_unaligned(c + j + W);
    }
    for (; j + W <= f; j += W) {
        vec s = accumulate ? vec::load_unaligned(c + j) : vec(T(0));
        for (std::size_t k = begin; k < end; ++k)
            s = xsimd::fma(vec(weight(k)), vec::load_unaligned(b + std::size_t(a.columns[k]) * f + j), s);
        s.store_unaligned(c + j);
    }
    if (j == f) return;
    if (!accumulate) std::fill(c + j, c + f, T(0));
    for (std::size_t k = begin; k < end; ++k) {
        const T w = weight(k);
        const T* bk = b + std::size_t(a.columns[k]) * f;
        for (std::size_t jj = j; jj < f; ++jj) c[jj] += w * bk[jj];
    }
}

} // namespace detail

/// C[rows, f] (+)= A[rows, k] * B[k, f], with A sparse; threaded over rows.
template <class T>
inline void spmm(const csr_ref<T>& a, const T* b, std::size_t f, T* c, bool accumulate = false)
{
    const double work = 2.0 * double(a.offsets[a.rows]) * double(f);
    parallel_region(threads_for(work), [&](int t, int nt) {
        const range r = split_range(a.rows, t, nt);
        for (std::size_t i = r.begin; i < r.end; ++i) detail::spmm_row(a, i, b, f, c + i * f, accumulate);
    });
}

/// C[k, f] += A[rows, k]^T * B[rows, f] without forming A^T: each sparse entry
/// scatters a scaled row of B. Serial, because rows of C are shared.
template <class T>
inline void spmm_transposed_accumulate(const csr_ref<T>& a, const T* b, std::size_t f, T* c)
{
    for (std::size_t i = 0; i < a.rows; ++i) {
        const T* bi = b + i * f;
        for (std::size_t k = a.offsets[i]; k < a.offsets[i + 1]; ++k) {
            const T w = a.values ? a.values[k] : T(1);
            T* ck = c + std::size_t(a.columns[k]) * f;
            map(f, ck, bi, ck, [w](auto acc, auto x) { return acc + decltype(x)(w) * x; });
        }
    }
}

LEPTON_KERNELS_END
