#pragma once
/// \file
/// `sparse_matrix<T>`: a compressed-sparse-row (CSR) matrix, for sparse node
/// features (bag-of-words rows are about 1% non-zero) and graph adjacencies.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"

namespace lepton {

/// One stored entry, for building a matrix from coordinates.
template <class T>
struct triplet {
    std::size_t row;  ///< row index
    std::size_t col;  ///< column index
    T value;          ///< the entry
};

/// A rows x cols matrix in CSR form: the column indices and values of row r
/// are at [row_offsets()[r], row_offsets()[r + 1]), columns ascending.
template <class T>
class sparse_matrix {
public:
    using value_type = T;  ///< scalar type of the stored values
    using index_type = std::uint32_t;  ///< type of the column indices

    sparse_matrix() = default;

    /// Takes CSR arrays as they are; throws `value_error` naming the first
    /// inconsistency (offsets not ascending, a column out of range, sizes that disagree).
    sparse_matrix(std::size_t rows, std::size_t cols, std::vector<std::size_t> row_offsets,
                  std::vector<index_type> columns, std::vector<T> values)
        : rows_(rows), cols_(cols), offsets_(std::move(row_offsets)), columns_(std::move(columns)),
          values_(std::move(values))
    {
        check_size(rows, cols);
        validate();
    }

    /// The most columns a matrix can have: column indices are `index_type`.
    static constexpr std::size_t max_cols = std::size_t{std::numeric_limits<index_type>::max()} + 1;

    /// Builds from coordinates in any order; entries at the same position are summed.
    static sparse_matrix from_triplets(std::size_t rows, std::size_t cols, std::vector<triplet<T>> entries)
    {
        check_size(rows, cols);
        for (std::size_t i = 0; i < entries.size(); ++i)
            if (entries[i].row >= rows || entries[i].col >= cols)
                throw value_error("lepton: sparse_matrix: entry " + std::to_string(i) + " at (" +
                                  std::to_string(entries[i].row) + ", " + std::to_string(entries[i].col) +
                                  ") is outside a " + std::to_string(rows) + " x " + std::to_string(cols) + " matrix");
        std::sort(entries.begin(), entries.end(),
                  [](const auto& a, const auto& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
        sparse_matrix m;
        m.rows_ = rows;
        m.cols_ = cols;
        m.offsets_.assign(rows + 1, 0);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i > 0 && entries[i].row == entries[i - 1].row && entries[i].col == entries[i - 1].col) {
                m.values_.back() += entries[i].value;
                continue;
            }
            m.columns_.push_back(static_cast<index_type>(entries[i].col));
            m.values_.push_back(entries[i].value);
            ++m.offsets_[entries[i].row + 1];
        }
        std::partial_sum(m.offsets_.begin(), m.offsets_.end(), m.offsets_.begin());
        return m;
    }

    /// The non-zeros of a dense [rows, cols] tensor.
    static sparse_matrix from_dense(const tensor<T, 2>& dense)
    {
        check_size(dense.shape()[0], dense.shape()[1]);
        sparse_matrix m;
        m.rows_ = dense.shape()[0];
        m.cols_ = dense.shape()[1];
        m.offsets_.assign(m.rows_ + 1, 0);
        for (std::size_t r = 0; r < m.rows_; ++r) {
            for (std::size_t c = 0; c < m.cols_; ++c) {
                const T v = dense.data()[r * m.cols_ + c];
                if (v == T(0)) continue;
                m.columns_.push_back(static_cast<index_type>(c));
                m.values_.push_back(v);
            }
            m.offsets_[r + 1] = m.columns_.size();
        }
        return m;
    }

    std::size_t rows() const noexcept { return rows_; }  ///< number of rows
    std::size_t cols() const noexcept { return cols_; }  ///< number of columns
    std::size_t nonzeros() const noexcept { return values_.size(); }  ///< stored entries
    /// {rows, cols}, for shape messages.
    std::array<std::size_t, 2> shape() const noexcept { return {rows_, cols_}; }

    /// rows() + 1 offsets into columns() and values().
    std::span<const std::size_t> row_offsets() const noexcept { return offsets_; }
    /// Column of each stored entry, ascending within a row.
    std::span<const index_type> columns() const noexcept { return columns_; }
    /// Value of each stored entry.
    std::span<const T> values() const noexcept { return values_; }
    /// Value of each stored entry, writable (the structure is not).
    std::span<T> values() noexcept { return values_; }

    /// Divides every row by its sum (rows summing to zero stay zero), as
    /// Kipf & Welling preprocess bag-of-words features.
    sparse_matrix& row_normalize()
    {
        for (std::size_t r = 0; r < rows_; ++r) {
            T s = 0;
            for (std::size_t k = offsets_[r]; k < offsets_[r + 1]; ++k) s += values_[k];
            if (s == T(0)) continue;
            for (std::size_t k = offsets_[r]; k < offsets_[r + 1]; ++k) values_[k] /= s;
        }
        return *this;
    }

    /// The same matrix, densely.
    tensor<T, 2> to_dense() const
    {
        checked_element_count<T>(shape());
        tensor<T, 2> d(std::array<std::size_t, 2>{rows_, cols_});
        std::fill(d.begin(), d.end(), T(0));
        for (std::size_t r = 0; r < rows_; ++r)
            for (std::size_t k = offsets_[r]; k < offsets_[r + 1]; ++k) d.data()[r * cols_ + columns_[k]] = values_[k];
        return d;
    }

    /// The same structure with other values (same length as `values()`).
    void assign_values(std::span<const T> v)
    {
        if (v.size() != values_.size())
            throw shape_error("lepton: sparse_matrix::assign_values expects " + std::to_string(values_.size()) +
                              " values, got " + std::to_string(v.size()));
        std::copy(v.begin(), v.end(), values_.begin());
    }

    /// Makes this matrix's structure `other`'s (values unspecified until assigned).
    void copy_structure(const sparse_matrix& other)
    {
        rows_ = other.rows_;
        cols_ = other.cols_;
        offsets_ = other.offsets_;
        columns_ = other.columns_;
        values_.resize(other.values_.size());
    }

private:
    /// Refuses sizes the CSR arrays cannot describe: rows + 1 offsets must be
    /// countable, and every column must have an `index_type` index.
    static void check_size(std::size_t rows, std::size_t cols)
    {
        if (rows >= std::vector<std::size_t>().max_size())
            throw value_error("lepton: sparse_matrix: " + std::to_string(rows) + " rows are more than row offsets can hold");
        if (cols > max_cols)
            throw value_error("lepton: sparse_matrix: " + std::to_string(cols) + " columns are more than " +
                              std::to_string(max_cols) + " (column indices are 32-bit)");
    }

    void validate() const
    {
        auto fail = [](const std::string& what) { throw value_error("lepton: sparse_matrix: " + what); };
        if (offsets_.size() != rows_ + 1)
            fail(std::to_string(rows_) + " rows need " + std::to_string(rows_ + 1) + " row offsets, got " +
                 std::to_string(offsets_.size()));
        if (offsets_.front() != 0) fail("the first row offset must be 0");
        if (columns_.size() != values_.size() || offsets_.back() != values_.size())
            fail("the last row offset (" + std::to_string(offsets_.back()) + "), the column count (" +
                 std::to_string(columns_.size()) + ") and the value count (" + std::to_string(values_.size()) +
                 ") must agree");
        // All offsets first: the column checks below index through them.
        for (std::size_t r = 0; r < rows_; ++r)
            if (offsets_[r + 1] < offsets_[r] || offsets_[r + 1] > values_.size())
                fail("row offsets decrease or pass the last entry at row " + std::to_string(r));
        for (std::size_t r = 0; r < rows_; ++r) {
            for (std::size_t k = offsets_[r]; k < offsets_[r + 1]; ++k) {
                if (columns_[k] >= cols_)
                    fail("row " + std::to_string(r) + " names column " + std::to_string(columns_[k]) + " of " +
                         std::to_string(cols_));
                if (k > offsets_[r] && columns_[k] <= columns_[k - 1])
                    fail("row " + std::to_string(r) + " has columns out of order or repeated");
            }
        }
    }

    std::size_t rows_ = 0, cols_ = 0;
    std::vector<std::size_t> offsets_{0};
    std::vector<index_type> columns_;
    std::vector<T> values_;
};

} // namespace lepton
