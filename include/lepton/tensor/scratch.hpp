#pragma once
/// \file
/// Growable scratch memory for kernels: it grows to the largest size asked for
/// and is then reused, so steady-state calls allocate nothing.

#include <cstddef>

#include "allocator.hpp"

namespace lepton {

/// Reusable aligned buffer of `T` that only grows.
template <class T>
class scratch {
public:
    scratch() = default;
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    ~scratch() { aligned_deallocate(data_); }

    /// At least `n` elements, 64-byte aligned; the contents are unspecified.
    T* get(std::size_t n)
    {
        if (n > capacity_) {
            aligned_deallocate(data_);
            data_ = nullptr;
            data_ = static_cast<T*>(aligned_allocate(n * sizeof(T)));
            capacity_ = n;
        }
        return data_;
    }

private:
    T* data_ = nullptr;
    std::size_t capacity_ = 0;
};

/// This thread's scratch buffer for the purpose `Tag`: kernels running inside a
/// parallel region each get their own, and keep it across calls.
template <class T, class Tag>
inline scratch<T>& thread_scratch()
{
    thread_local scratch<T> buffer;
    return buffer;
}

} // namespace lepton
