#pragma once
/// \file
/// Lepton's matrix product: C = alpha * op(A) * op(B) + beta * C, row-major.
///
/// The structure is the classic one of GotoBLAS/BLIS:
///   for each NC-wide column block of op(B)         (L3)
///     for each KC-deep slice of the inner dimension
///       pack op(B)[slice, block] into NR-wide panels (shared by all threads)
///       for each MC-tall row block of op(A)        (one per thread task, L2)
///         pack op(A)[block, slice] into MR-tall panels
///         for each NR panel, for each MR panel: the register-blocked micro-kernel
/// Packing makes both operands contiguous in the order the micro-kernel reads
/// them, which is also where transposed operands are handled: the micro-kernel
/// never sees a stride. The micro-kernel keeps an MR x NR tile of C in vector
/// registers (14 x 32 floats with AVX-512, 6 x 16 with AVX2) and performs one
/// broadcast and NR / width fused multiply-adds per row and k.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/compat.hpp"
#include "../tensor/scratch.hpp"
#include "parallel.hpp"
#include "target.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

LEPTON_KERNELS_BEGIN

/// Whether an operand is used as stored or transposed.
enum class transpose : bool { no = false, yes = true };

/// Register tile and cache blocking for scalar type T on the target the
/// compiler builds for.
template <class T>
struct gemm_blocking {
#if defined(LEPTON_KERNELS_SCALAR)
    static constexpr int width = 1;
    static constexpr int vectors_per_row = 4;
    static constexpr int mr = 4;
#else
    /// Lanes per vector.
    static constexpr int width = static_cast<int>(simd::width<T>);
    /// Vectors across one row of the register tile.
    static constexpr int vectors_per_row = 2;
    /// Accumulators MR x 2 plus two B vectors and one broadcast fill the register file.
    static constexpr int mr = simd::vector_registers == 32 ? 14 : 6;
#endif
    /// Columns of the register tile.
    static constexpr int nr = width * vectors_per_row;
#if !defined(LEPTON_GEMM_MC_PANELS)
/// Register-tile rows per A block (`mc = mr * LEPTON_GEMM_MC_PANELS`); define it to tune.
#define LEPTON_GEMM_MC_PANELS 16
#endif
#if !defined(LEPTON_GEMM_NC)
/// Columns of a B block (rounded down to a multiple of nr); define it to tune.
#define LEPTON_GEMM_NC 4096
#endif
#if defined(LEPTON_GEMM_KC)
    static constexpr std::size_t kc = LEPTON_GEMM_KC;
#else
    /// Depth of a slice. With AVX2 the B micro-panel (kc x nr) takes about 24 KiB,
    /// half of a typical L1 (384 for float; measured best on Zen 3). With AVX-512
    /// (Zen 5: 48 KiB L1, 1 MiB L2) 512 measured best: 8% faster than 192 at
    /// n = 256..1024, and a convolution's depth (288 for 32 channels, 3x3) fits one slice.
    static constexpr std::size_t kc =
        simd::vector_registers == 32 ? 512
                                     : std::min<std::size_t>(512, 24576 / (static_cast<std::size_t>(nr) * sizeof(T)));
#endif
    static constexpr std::size_t mc = static_cast<std::size_t>(mr) * LEPTON_GEMM_MC_PANELS;  ///< A block in L2
    /// B block in L3.
    static constexpr std::size_t nc = LEPTON_GEMM_NC / static_cast<std::size_t>(nr) * static_cast<std::size_t>(nr);
};

namespace detail {

/// Tags of the GEMM's per-thread packing buffers.
struct packed_a_tag {};
struct packed_b_tag {};

#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
/// The transpose of the 16 x 16 float block at `src` (rows `ld` apart), as 16
/// rows in `out`: unpacks of 32- and 64-bit pairs, then two rounds of 128-bit
/// lane shuffles. Column c of the block ends up in out[c]. Rows from `Rows`
/// (or from `valid`, when fewer) on are taken as zero and not read.
template <int Rows = 16>
LEPTON_ALWAYS_INLINE void transpose_16x16(const float* src, std::size_t ld, __m512 out[16], int valid = Rows)
{
    __m512 r[16], t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
        r[i] = i < Rows && i < valid ? _mm512_loadu_ps(src + std::size_t(i) * ld) : _mm512_setzero_ps();
    // t[2i], t[2i+1]: rows 2i and 2i+1 interleaved, element by element.
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + m]: in 128-bit lane L, column 4L + m of rows 4g .. 4g + 3.
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // Gather lane L of the four row groups: column 4L + m, all 16 rows.
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
        const __m512 low01 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44), high01 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
        const __m512 low23 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44);
        const __m512 high23 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
        out[m] = _mm512_shuffle_f32x4(low01, low23, 0x88);
        out[4 + m] = _mm512_shuffle_f32x4(low01, low23, 0xDD);
        out[8 + m] = _mm512_shuffle_f32x4(high01, high23, 0x88);
        out[12 + m] = _mm512_shuffle_f32x4(high01, high23, 0xDD);
    }
}
#endif

/// Packs rows [0, mc) x columns [0, kc) of op(A) into MR-tall panels,
/// k-major inside a panel; rows past mc are zero.
template <class T, int MR>
inline void pack_a(transpose ta, std::size_t mc, std::size_t kc, const T* a, std::size_t lda, T* LEPTON_RESTRICT dst)
{
    for (std::size_t i0 = 0; i0 < mc; i0 += MR) {
        const std::size_t rows = std::min<std::size_t>(MR, mc - i0);
        if (ta == transpose::no) {
            if (rows == MR) {
                std::size_t k = 0;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
                if constexpr (std::is_same_v<T, float> && MR <= 16) {
                    // 16 columns of the MR rows at a time, by an in-register transpose.
                    for (; k + 16 <= kc; k += 16) {
                        __m512 columns[16];
                        transpose_16x16<MR>(a + i0 * lda + k, lda, columns);
#pragma GCC unroll 16
                        for (int c = 0; c < 16; ++c)
                            _mm512_mask_storeu_ps(dst + (k + std::size_t(c)) * MR, __mmask16((1u << MR) - 1), columns[c]);
                    }
                }
#endif
                // The columns left over (pointers stepped, not k * MR: GCC would
                // otherwise warn about an overflow no real kc reaches).
                const T* column = a + i0 * lda + k;
                for (T* out = dst + k * MR; k < kc; ++k, ++column, out += MR)
                    for (int r = 0; r < MR; ++r) out[r] = column[std::size_t(r) * lda];
            } else {
                std::size_t k = 0;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
                // The last, partly filled panel (4 of 32 rows, say) the same way, its missing rows zero.
                if constexpr (std::is_same_v<T, float> && MR <= 16) {
                    for (; k + 16 <= kc; k += 16) {
                        __m512 columns[16];
                        transpose_16x16<MR>(a + i0 * lda + k, lda, columns, int(rows));
#pragma GCC unroll 16
                        for (int c = 0; c < 16; ++c)
                            _mm512_mask_storeu_ps(dst + (k + std::size_t(c)) * MR, __mmask16((1u << MR) - 1), columns[c]);
                    }
                }
#endif
                // (Pointers stepped, as above.)
                const T* column = a + i0 * lda + k;
                for (T* out = dst + k * MR; k < kc; ++k, ++column, out += MR)
                    for (int r = 0; r < MR; ++r)
                        out[r] = static_cast<std::size_t>(r) < rows ? column[std::size_t(r) * lda] : T(0);
            }
        } else if (rows == MR) {
            // A constant-length copy compiles to a few moves; a variable one to a memmove call per k.
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = a + k * lda + i0;
#pragma GCC unroll 16
                for (int r = 0; r < MR; ++r) dst[k * MR + r] = src[r];
            }
        } else {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = a + k * lda + i0;
                for (std::size_t r = 0; r < rows; ++r) dst[k * MR + r] = src[r];
                for (std::size_t r = rows; r < MR; ++r) dst[k * MR + r] = T(0);
            }
        }
        dst += kc * MR;
    }
}


/// Packs rows [0, kc) x columns [0, nc) of op(B) into NR-wide panels,
/// k-major inside a panel; columns past nc are zero.
template <class T, int NR>
inline void pack_b(transpose tb, std::size_t kc, std::size_t nc, const T* b, std::size_t ldb, T* LEPTON_RESTRICT dst)
{
    for (std::size_t j0 = 0; j0 < nc; j0 += NR) {
        const std::size_t cols = std::min<std::size_t>(NR, nc - j0);
        if (tb == transpose::no) {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = b + k * ldb + j0;
                T* d = dst + k * NR;
                if (cols == NR) {
                    // Whole vectors: a copy loop here would become a call to memmove per row.
#if !defined(LEPTON_KERNELS_SCALAR)
                    using vec = simd::batch<T>;
                    for (int c = 0; c < NR; c += int(vec::size)) vec::load_unaligned(src + c).store_aligned(d + c);
#else
                    for (int c = 0; c < NR; ++c) d[c] = src[c];
#endif
                } else {
                    for (std::size_t c = 0; c < cols; ++c) d[c] = src[c];
                    for (std::size_t c = cols; c < NR; ++c) d[c] = T(0);
                }
            }
        } else {
            std::size_t k0 = 0;
#if defined(__AVX512F__) && !defined(LEPTON_KERNELS_SCALAR)
            // Whole 16 x 16 blocks transposed in registers.
            if constexpr (std::is_same_v<T, float> && NR % 16 == 0) {
                if (cols == NR) {
                    for (; k0 + 16 <= kc; k0 += 16)
                        for (std::size_t c0 = 0; c0 < std::size_t(NR); c0 += 16) {
                            __m512 block[16];
                            transpose_16x16(b + (j0 + c0) * ldb + k0, ldb, block);
#pragma GCC unroll 16
                            for (int kk = 0; kk < 16; ++kk) _mm512_storeu_ps(dst + (k0 + std::size_t(kk)) * NR + c0, block[kk]);
                        }
                }
            }
#endif
            // Column j of op(B) is row j of B.
            for (std::size_t c = 0; c < cols; ++c) {
                const T* src = b + (j0 + c) * ldb;
                for (std::size_t k = k0; k < kc; ++k) dst[k * NR + c] = src[k];
            }
            for (std::size_t c = cols; c < NR; ++c)
                for (std::size_t k = k0; k < kc; ++k) dst[k * NR + c] = T(0);
        }
        dst += kc * NR;
    }
}

/// Writes an accumulated tile to C: C = alpha * acc + beta * C over rows x cols.
template <class T>
LEPTON_ALWAYS_INLINE void store_tile_scalar(const T* tile, int ldt, T* c, std::size_t ldc, std::size_t rows,
                                            std::size_t cols, T alpha, T beta)
{
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) {
            const T v = alpha * tile[i * static_cast<std::size_t>(ldt) + j];
            c[i * ldc + j] = beta == T(0) ? v : v + beta * c[i * ldc + j];
        }
}

#if !defined(LEPTON_KERNELS_SCALAR)

/// The register-blocked micro-kernel: a ROWS x (NV * width) tile of C from
/// packed panels a (kc x MR, of which the first ROWS rows are used) and b (kc x NR).
/// ROWS < MR serves the last, partly filled panel of A, so a short remainder
/// (4 of 32 rows, say) does not cost a whole MR-row tile.
/// Kept out of line: every GEMM variant (plain, implicit convolution, ...) shares
/// one copy, which keeps compile times and code size down; a call per tile of
/// kc multiply-adds costs nothing measurable.
template <class T, int MR, int NV, int ROWS = MR>
LEPTON_NOINLINE void micro_kernel(std::size_t kc, const T* LEPTON_RESTRICT a, const T* LEPTON_RESTRICT b, T* c,
                                  std::size_t ldc, std::size_t rows, std::size_t cols, T alpha, T beta)
{
    using vec = simd::batch<T>;
    constexpr int W = static_cast<int>(vec::size);
    vec acc[ROWS][NV];
    simd::zero_tile(acc);
    // Rows of C sit a power-of-two stride apart in common shapes; fetch them early.
    for (std::size_t i = 0; i < rows; ++i) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + NV * W - 1, 1);
    }

#pragma GCC unroll 4
    for (std::size_t k = 0; k < kc; ++k) {
        vec bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) bv[j] = vec::load_aligned(b + j * W);
#pragma GCC unroll 32
        for (int i = 0; i < ROWS; ++i) {
            const vec ai(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(ai, bv[j], acc[i][j]);
        }
        a += MR;
        b += NV * W;
    }

    if (rows == ROWS && cols == static_cast<std::size_t>(NV * W)) {
        const vec va(alpha);
        if (beta == T(0)) {
#pragma GCC unroll 32
            for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) (va * acc[i][j]).store_unaligned(c + i * ldc + j * W);
        } else {
            const vec vb(beta);
#pragma GCC unroll 32
            for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) {
                    T* p = c + i * ldc + j * W;
                    xsimd::fma(va, acc[i][j], vb * vec::load_unaligned(p)).store_unaligned(p);
                }
        }
    } else {
        alignas(64) T tile[ROWS * NV * W];
        for (int i = 0; i < ROWS; ++i)
            for (int j = 0; j < NV; ++j) acc[i][j].store_aligned(tile + i * NV * W + j * W);
        store_tile_scalar(tile, NV * W, c, ldc, rows, cols, alpha, beta);
    }
}

#else

template <class T, int MR, int NV, int ROWS = MR>
LEPTON_ALWAYS_INLINE void micro_kernel(std::size_t kc, const T* LEPTON_RESTRICT a, const T* LEPTON_RESTRICT b, T* c,
                                       std::size_t ldc, std::size_t rows, std::size_t cols, T alpha, T beta)
{
    constexpr int NR = NV;
    T tile[MR * NR] = {};
    for (std::size_t k = 0; k < kc; ++k) {
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) tile[i * NR + j] += a[i] * b[j];
        a += MR;
        b += NR;
    }
    store_tile_scalar(tile, NR, c, ldc, rows, cols, alpha, beta);
}

#endif

/// An operand packer that already holds its operand in full-depth panels
/// (`pack_a_full` / `pack_b_full` layout) and lends them instead of copying.
template <class P>
concept prepacked_operand = requires(const P& p) {
    { p.panels() };
    { p.depth() };
};

/// Rows [m0, m1) of C for one KC slice starting at depth p0, using B's panels
/// at `pb` (`b_stride` apart); `pack_a(i0, rows, p0, kc, dst)` packs A's rows
/// into MR panels unless A is prepacked.
template <class T, class PackA>
inline void gemm_row_block(std::size_t m0, std::size_t m1, std::size_t nc, std::size_t p0, std::size_t kc,
                           PackA& pack_a, const T* pb, std::size_t b_stride, T* c, std::size_t ldc, T alpha, T beta)
{
    using blk = gemm_blocking<T>;
    constexpr int MR = blk::mr, NR = blk::nr;
    T* scratch_a = prepacked_operand<PackA> ? nullptr : thread_scratch<T, packed_a_tag>().get(blk::mc * kc);
    for (std::size_t i0 = m0; i0 < m1; i0 += blk::mc) {
        const std::size_t mc = std::min(blk::mc, m1 - i0);
        const T* pa;
        std::size_t a_stride;
        if constexpr (prepacked_operand<PackA>) {
            pa = pack_a.panels() + (i0 / MR) * pack_a.depth() * MR + p0 * MR;
            a_stride = pack_a.depth() * MR;
        } else {
            pack_a(i0, mc, p0, kc, scratch_a);
            pa = scratch_a;
            a_stride = kc * MR;
        }
        for (std::size_t j = 0; j < nc; j += NR) {
            const T* b_panel = pb + (j / NR) * b_stride;
            const std::size_t cols = std::min<std::size_t>(NR, nc - j);
            for (std::size_t i = 0; i < mc; i += MR) {
                const std::size_t rows = std::min<std::size_t>(MR, mc - i);
                const T* a_panel = pa + (i / MR) * a_stride;
                T* c_tile = c + (i0 + i) * ldc + j;
                constexpr int NV = blk::vectors_per_row;
                // A last panel of a few rows runs a shorter tile (32 rows = 5 x 6 + 2 on AVX2,
                // 2 x 14 + 4 on AVX-512) instead of a whole MR-row one stored element by element.
                constexpr int short_rows = MR > 8 ? 4 : 2, middle_rows = MR > 8 ? 8 : 4;
                if constexpr (middle_rows < MR) {
                    if (rows <= std::size_t(short_rows)) {
                        micro_kernel<T, MR, NV, short_rows>(kc, a_panel, b_panel, c_tile, ldc, rows, cols, alpha,
                                                            beta);
                        continue;
                    }
                    if (rows <= std::size_t(middle_rows)) {
                        micro_kernel<T, MR, NV, middle_rows>(kc, a_panel, b_panel, c_tile, ldc, rows, cols, alpha,
                                                             beta);
                        continue;
                    }
                }
                micro_kernel<T, MR, NV>(kc, a_panel, b_panel, c_tile, ldc, rows, cols, alpha, beta);
            }
        }
    }
}

/// y = alpha * op(B)^T x + beta * y for a single row x of op(A): the batch-1 case,
/// where packing would cost more than the product. `x` is contiguous.
template <class T>
inline void gemv_row(transpose tb, std::size_t n, std::size_t k, T alpha, const T* LEPTON_RESTRICT x, const T* b,
                     std::size_t ldb, T beta, T* LEPTON_RESTRICT y)
{
    auto finish = [&](std::size_t j, T dot) { y[j] = beta == T(0) ? alpha * dot : alpha * dot + beta * y[j]; };
#if !defined(LEPTON_KERNELS_SCALAR)
    using vec = simd::batch<T>;
    constexpr std::size_t W = vec::size;
#endif
    if (tb == transpose::yes) {
        // op(B)(kk, j) = B[j, kk]: y[j] is the dot product of x with row j of B.
        std::size_t j = 0;
#if !defined(LEPTON_KERNELS_SCALAR)
        // Eight rows at a time: eight independent FMA chains hide the FMA latency,
        // and each load of x serves eight rows.
        constexpr std::size_t R = 8;
        const std::size_t kv = k / W * W;
        const std::size_t nr = n - n % R;
        for (; j < nr; j += R) {
            vec s[R];
            const T* rows[R];
#pragma GCC unroll 8
            for (std::size_t r = 0; r < R; ++r) {
                s[r] = vec(T(0));
                rows[r] = b + (j + r) * ldb;
            }
            std::size_t kk = 0;
            for (; kk < kv; kk += W) {
                const vec xv = vec::load_unaligned(x + kk);
#pragma GCC unroll 8
                for (std::size_t r = 0; r < R; ++r) s[r] = xsimd::fma(xv, vec::load_unaligned(rows[r] + kk), s[r]);
            }
#pragma GCC unroll 8
            for (std::size_t r = 0; r < R; ++r) {
                T d = simd::reduce_add(s[r]);
                for (std::size_t t = kk; t < k; ++t) d += x[t] * rows[r][t];
                finish(j + r, d);
            }
        }
#endif
        for (; j < n; ++j) {
            T d = 0;
            for (std::size_t kk = 0; kk < k; ++kk) d += x[kk] * b[j * ldb + kk];
            finish(j, d);
        }
    } else {
        // op(B) = B (k x n): y = sum_kk x[kk] * B[kk, :], accumulated a column block at a time.
        constexpr std::size_t block = 256;
        alignas(64) T acc[block];
        for (std::size_t j0 = 0; j0 < n; j0 += block) {
            const std::size_t w = std::min(block, n - j0);
            std::fill(acc, acc + w, T(0));
            for (std::size_t kk = 0; kk < k; ++kk) {
                const T xv = x[kk];
                const T* row = b + kk * ldb + j0;
                std::size_t j = 0;
#if !defined(LEPTON_KERNELS_SCALAR)
                const vec xb(xv);
                const std::size_t wv = w - w % W;
                for (; j < wv; j += W)
                    xsimd::fma(xb, vec::load_unaligned(row + j), vec::load_aligned(acc + j)).store_aligned(acc + j);
#endif
                for (; j < w; ++j) acc[j] += xv * row[j];
            }
            for (std::size_t j = 0; j < w; ++j) finish(j0 + j, acc[j]);
        }
    }
}

} // namespace detail

/// The blocked product with caller-supplied operand packing, for operands that
/// are not plain matrices (a convolution's implicit im2col matrix, weights packed
/// once and reused):
///   pack_a(i0, rows, p0, kc, dst): rows [i0, i0 + rows) x depth [p0, p0 + kc) of
///       op(A) as MR-tall panels, k-major inside a panel, rows past the end zero;
///   pack_b(j0, cols, p0, kc, dst): one NR-wide panel, columns [j0, j0 + cols)
///       (cols <= NR) x depth [p0, p0 + kc) of op(B), k-major, columns past the end zero.
/// Either may instead be a `packed_a` / `packed_b`: operands packed once, whose
/// panels are read in place.
/// C (m x n, row stride ldc) = alpha * op(A) op(B) + beta * C, on `threads` threads.
template <class T, class PackA, class PackB>
void gemm_packed(std::size_t m, std::size_t n, std::size_t k, T alpha, PackA&& pack_a, PackB&& pack_b, T beta, T* c,
                 std::size_t ldc, int threads)
{
    using blk = gemm_blocking<T>;
    constexpr int NR = blk::nr;
    const std::size_t row_tasks = (m + blk::mr - 1) / blk::mr;
    for (std::size_t j0 = 0; j0 < n; j0 += blk::nc) {
        const std::size_t nc = std::min(blk::nc, n - j0);
        const std::size_t panels = (nc + NR - 1) / NR;
        // A short, wide product (a batch through a wide layer) splits better by
        // B panels: row bands would be few and uneven.
        const bool split_columns = threads > 1 && panels >= 2 * std::size_t(threads) &&
                                   (panels > row_tasks || row_tasks < 4 * std::size_t(threads));
        for (std::size_t p0 = 0; p0 < k; p0 += blk::kc) {
            const std::size_t kc = std::min(blk::kc, k - p0);
            const T slice_beta = p0 == 0 ? beta : T(1);
            const T* pb;
            std::size_t b_stride;
            T* packed_b = nullptr;
            if constexpr (detail::prepacked_operand<PackB>) {
                pb = pack_b.panels() + (j0 / NR) * pack_b.depth() * NR + p0 * NR;
                b_stride = pack_b.depth() * NR;
            } else {
                packed_b = thread_scratch<T, detail::packed_b_tag>().get(panels * kc * NR);
                pb = packed_b;
                b_stride = kc * NR;
            }

            parallel_region(threads, [&](int t, int nt) {
                if constexpr (!detail::prepacked_operand<PackB>) {
                    // Pack this thread's share of B panels, then wait for the others.
                    const auto pr = split_range(panels, t, nt);
                    for (std::size_t p = pr.begin; p < pr.end; ++p) {
                        const std::size_t jj = p * NR;
                        pack_b(j0 + jj, std::min<std::size_t>(NR, nc - jj), p0, kc, packed_b + p * kc * NR);
                    }
#if defined(_OPENMP)
                    if (nt > 1) {
#pragma omp barrier
                    }
#endif
                }
                if (split_columns) {
                    // Each thread takes a band of B panels and all of A, which it packs itself.
                    const auto pr = split_range(panels, t, nt);
                    const std::size_t c0 = pr.begin * NR, c1 = std::min(nc, pr.end * NR);
                    if (c0 < c1)
                        detail::gemm_row_block(0, m, c1 - c0, p0, kc, pack_a, pb + pr.begin * b_stride, b_stride,
                                               c + j0 + c0, ldc, alpha, slice_beta);
                    return;
                }
                // Each thread takes a contiguous band of MR-aligned rows.
                const auto rr = split_range(row_tasks, t, nt);
                const std::size_t m0 = rr.begin * blk::mr, m1 = std::min(m, rr.end * blk::mr);
                if (m0 < m1)
                    detail::gemm_row_block(m0, m1, nc, p0, kc, pack_a, pb, b_stride, c + j0, ldc, alpha, slice_beta);
            });
        }
    }
}

/// Packs all of op(A) (m x k) once into MR-tall panels of full depth k, for
/// reuse across many products through `packed_a`.
template <class T>
void pack_a_full(transpose ta, std::size_t m, std::size_t k, const T* a, std::size_t lda, T* dst)
{
    detail::pack_a<T, gemm_blocking<T>::mr>(ta, m, k, a, lda, dst);
}

/// Size of the buffer `pack_a_full` fills.
template <class T>
constexpr std::size_t packed_a_size(std::size_t m, std::size_t k)
{
    constexpr std::size_t MR = gemm_blocking<T>::mr;
    return (m + MR - 1) / MR * MR * k;
}

/// Packs all of op(B) (k x n) once into NR-wide panels of full depth k, for
/// reuse across many products through `packed_b`.
template <class T>
void pack_b_full(transpose tb, std::size_t k, std::size_t n, const T* b, std::size_t ldb, T* dst)
{
    detail::pack_b<T, gemm_blocking<T>::nr>(tb, k, n, b, ldb, dst);
}

/// Size of the buffer `pack_b_full` fills.
template <class T>
constexpr std::size_t packed_b_size(std::size_t k, std::size_t n)
{
    constexpr std::size_t NR = gemm_blocking<T>::nr;
    return (n + NR - 1) / NR * NR * k;
}

/// A `pack_a_full` or `pack_b_full` buffer of depth k, lent to `gemm_packed`
/// as an operand whose panels are read in place (no copy per product).
template <class T>
struct prepacked {
    /// The packed panels.
    const T* data;
    /// Depth the panels were packed with.
    std::size_t k;
    /// The packed panels.
    const T* panels() const { return data; }
    /// Depth the panels were packed with.
    std::size_t depth() const { return k; }
};
/// A prepacked A operand.
template <class T>
using packed_a = prepacked<T>;
/// A prepacked B operand.
template <class T>
using packed_b = prepacked<T>;

/// C (m x n) = A (m x k, row-major, row stride lda) * B + beta * C with B given
/// by `pack_b_full` (k x n): the shape of a recurrent step, whose weights are
/// packed once per sequence and used at every step.
template <class T>
void gemm_prepacked_b(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b_packed,
                      T beta, T* c, std::size_t ldc)
{
    constexpr int MR = gemm_blocking<T>::mr;
    auto pack_a = [&](std::size_t i0, std::size_t rows, std::size_t p0, std::size_t kc, T* dst) {
        detail::pack_a<T, MR>(transpose::no, rows, kc, a + i0 * lda + p0, lda, dst);
    };
    gemm_packed(m, n, k, T(1), pack_a, packed_b<T>{b_packed, k}, beta, c, ldc,
                threads_for(2.0 * double(m) * double(n) * double(k), 2.0e6));
}

/// C (m x n) = A * B (k x n, row-major, row stride ldb) + beta * C with A given
/// by `pack_a_full` (m x k): a convolution's weights, packed once and used for
/// every image.
template <class T>
void gemm_prepacked_a(std::size_t m, std::size_t n, std::size_t k, const T* a_packed, const T* b, std::size_t ldb,
                      T beta, T* c, std::size_t ldc)
{
    constexpr int NR = gemm_blocking<T>::nr;
    auto pack_b = [&](std::size_t j0, std::size_t cols, std::size_t p0, std::size_t kc, T* dst) {
        detail::pack_b<T, NR>(transpose::no, kc, cols, b + p0 * ldb + j0, ldb, dst);
    };
    gemm_packed(m, n, k, T(1), packed_a<T>{a_packed, k}, pack_b, beta, c, ldc,
                threads_for(2.0 * double(m) * double(n) * double(k), 2.0e6));
}

/// C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C; all row-major.
/// `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
/// With beta == 0, C is not read (it may hold NaN).
template <class T>
void gemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc)
{
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == T(0)) {
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
        return;
    }
    if (m == 1 && (ta == transpose::no || lda == 1)) {
        // Memory-bound: split the outputs so each core streams (and caches) its own rows of B.
        const int threads = threads_for(2.0 * double(n) * double(k), 1.0e5);
        parallel_region(threads, [&](int t, int nt) {
            const auto r = split_range(n, t, nt);
            const T* b_part = tb == transpose::yes ? b + r.begin * ldb : b + r.begin;
            detail::gemv_row(tb, r.end - r.begin, k, alpha, a, b_part, ldb, beta, c + r.begin);
        });
        return;
    }

    constexpr int MR = gemm_blocking<T>::mr, NR = gemm_blocking<T>::nr;
    auto pack_a = [&](std::size_t i0, std::size_t rows, std::size_t p0, std::size_t kc, T* dst) {
        detail::pack_a<T, MR>(ta, rows, kc, ta == transpose::no ? a + i0 * lda + p0 : a + p0 * lda + i0, lda, dst);
    };
    auto pack_b = [&](std::size_t j0, std::size_t cols, std::size_t p0, std::size_t kc, T* dst) {
        detail::pack_b<T, NR>(tb, kc, cols, tb == transpose::no ? b + p0 * ldb + j0 : b + j0 * ldb + p0, ldb, dst);
    };
    gemm_packed(m, n, k, alpha, pack_a, pack_b, beta, c, ldc,
                threads_for(2.0 * double(m) * double(n) * double(k), 2.0e6));
}

#if defined(LEPTON_SEPARATE_KERNELS)
// Compiled once per program with LEPTON_SEPARATE_KERNELS (see target.hpp).
#define LEPTON_GEMM_INSTANCES(T)                                                                                       \
    LEPTON_KERNEL_INSTANCE void gemm<T>(transpose, transpose, std::size_t, std::size_t, std::size_t, T, const T*,     \
                                        std::size_t, const T*, std::size_t, T, T*, std::size_t);                      \
    LEPTON_KERNEL_INSTANCE void gemm_prepacked_a<T>(std::size_t, std::size_t, std::size_t, const T*, const T*,        \
                                                    std::size_t, T, T*, std::size_t);                                 \
    LEPTON_KERNEL_INSTANCE void gemm_prepacked_b<T>(std::size_t, std::size_t, std::size_t, const T*, std::size_t,     \
                                                    const T*, T, T*, std::size_t);                                    \
    LEPTON_KERNEL_INSTANCE void pack_a_full<T>(transpose, std::size_t, std::size_t, const T*, std::size_t, T*);       \
    LEPTON_KERNEL_INSTANCE void pack_b_full<T>(transpose, std::size_t, std::size_t, const T*, std::size_t, T*);
LEPTON_GEMM_INSTANCES(float)
LEPTON_GEMM_INSTANCES(double)
#undef LEPTON_GEMM_INSTANCES
#endif

LEPTON_KERNELS_END
