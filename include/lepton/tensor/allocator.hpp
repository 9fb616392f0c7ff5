#pragma once
/// \file
/// The allocator behind every Lepton tensor.
///
/// 64-byte alignment so that SIMD loads of a row start never split a cache line,
/// and, for blocks of 2 MiB and more, transparent huge pages: on virtual
/// machines the first touch of a fresh 4 KiB page can cost ~10 microseconds,
/// which dominates a training step that faults in its activations.

#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lepton {

/// Alignment of every tensor buffer in bytes (a cache line, an AVX-512 vector).
inline constexpr std::size_t tensor_alignment = 64;
/// Blocks this large are 2 MiB aligned and advised to use huge pages.
inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;

/// Allocates `bytes` aligned to 64 bytes (2 MiB and huge-page advised for large blocks).
inline void* aligned_allocate(std::size_t bytes)
{
    if (bytes == 0) bytes = tensor_alignment;
    const std::size_t align = bytes >= huge_page_size ? huge_page_size : tensor_alignment;
    const std::size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == huge_page_size) ::madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

/// Frees memory from `aligned_allocate`.
inline void aligned_deallocate(void* p) noexcept { std::free(p); }

/// Standard allocator over `aligned_allocate`.
template <class T>
struct aligned_allocator {
    /// Element type.
    using value_type = T;
    aligned_allocator() noexcept = default;
    /// Rebinding copy.
    template <class U>
    aligned_allocator(const aligned_allocator<U>&) noexcept {}
    /// `n` elements, aligned.
    T* allocate(std::size_t n) { return static_cast<T*>(aligned_allocate(n * sizeof(T))); }
    /// Frees `p`.
    void deallocate(T* p, std::size_t) noexcept { aligned_deallocate(p); }
    /// All instances are interchangeable.
    template <class U>
    bool operator==(const aligned_allocator<U>&) const noexcept { return true; }
};

} // namespace lepton
