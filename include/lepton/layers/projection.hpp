#pragma once
/// \file
/// Products of node features (dense, or sparse such as bag-of-words rows) with
/// a dense weight in PyTorch's [out, in] layout, for every layer that accepts
/// sparse input. Sparse features are never densified.

#include <cstddef>
#include <vector>

#include "../graph/sparse_matrix.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/spmm.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::detail {

template <class T>
kernels::csr_ref<T> csr_of(const sparse_matrix<T>& m) noexcept
{
    return {m.rows(), m.row_offsets().data(), m.columns().data(), m.values().data()};
}

/// x W^T, its weight gradient and its input gradient, for node features x
/// [n, in] that are dense or sparse, and W [out, in] (PyTorch's layout).
/// Sparse features multiply W^T as a CSR x dense product; W^T is transposed
/// once per call (in x out values, small next to the features), so the
/// features are never densified.
template <class T>
class projection {
public:
    /// y[n, out] = x W^T
    void forward(const tensor<T, 2>& x, const T* w, std::size_t out, T* y)
    {
        const std::size_t n = x.shape()[0], in = x.shape()[1];
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::yes, n, out, in, T(1), x.data(), in, w, in, T(0),
                         y, out);
    }
    void forward(const sparse_matrix<T>& x, const T* w, std::size_t out, T* y)
    {
        const std::size_t in = x.cols();
        wt_.resize(in * out);
        for (std::size_t o = 0; o < out; ++o)
            for (std::size_t i = 0; i < in; ++i) wt_[i * out + o] = w[o * in + i];
        kernels::spmm(csr_of(x), wt_.data(), out, y);
    }

    /// gw[out, in] += dy^T x
    void accumulate_weight_grad(const tensor<T, 2>& x, const T* dy, std::size_t out, T* gw)
    {
        const std::size_t n = x.shape()[0], in = x.shape()[1];
        kernels::gemm<T>(kernels::transpose::yes, kernels::transpose::no, out, in, n, T(1), dy, out, x.data(), in, T(1),
                         gw, in);
    }
    /// The sparse case accumulates (x^T dy)^T by scattering rows of dy.
    void accumulate_weight_grad(const sparse_matrix<T>& x, const T* dy, std::size_t out, T* gw)
    {
        const std::size_t in = x.cols();
        gwt_.assign(in * out, T(0));
        kernels::spmm_transposed_accumulate(csr_of(x), dy, out, gwt_.data());
        for (std::size_t o = 0; o < out; ++o)
            for (std::size_t i = 0; i < in; ++i) gw[o * in + i] += gwt_[i * out + o];
    }

    /// dx[n, in] (+)= dy W (dense features only: sparse inputs have no gradient).
    static void input_grad(std::size_t n, std::size_t in, const T* dy, const T* w, std::size_t out, T* dx,
                           bool accumulate)
    {
        kernels::gemm<T>(kernels::transpose::no, kernels::transpose::no, n, in, out, T(1), dy, out, w, in,
                         accumulate ? T(1) : T(0), dx, in);
    }

private:
    std::vector<T> wt_, gwt_;
};

/// Rows of node features, dense or sparse.
template <class T>
std::size_t node_rows(const tensor<T, 2>& x) noexcept
{
    return x.shape()[0];
}
template <class T>
std::size_t node_rows(const sparse_matrix<T>& x) noexcept
{
    return x.rows();
}

} // namespace lepton::detail
