#pragma once
/// \file
/// Window geometry shared by convolution and pooling: kernel/stride/dilation
/// sizes and padding as template arguments, and PyTorch's output-size rule.

#include <cstddef>

namespace lepton {

/// A height x width pair. `3` means 3 x 3; `{3, 5}` means 3 high, 5 wide.
struct Size2 {
    ///@{
    /// Height and width.
    std::size_t h, w;
    ///@}
    /// Square: s x s.
    constexpr Size2(std::size_t s) : h(s), w(s) {}
    /// height x width.
    constexpr Size2(std::size_t height, std::size_t width) : h(height), w(width) {}
};

/// Zero padding on each side: `1`, `{1, 2}` (top/bottom, left/right), or
/// `Padding::same` (output as large as the input; stride 1 only, as in PyTorch,
/// with the odd pixel of an even kernel's padding at the bottom/right).
struct Padding {
    ///@{
    /// Rows added at the top and at the bottom, columns at the left and at the right.
    std::size_t h, w;
    ///@}
    /// Padding::same: computed from the kernel.
    bool is_same;
    /// `p` on every side.
    constexpr Padding(std::size_t p) : h(p), w(p), is_same(false) {}
    /// `ph` top and bottom, `pw` left and right.
    constexpr Padding(std::size_t ph, std::size_t pw) : h(ph), w(pw), is_same(false) {}
    /// As above; `same_size` asks for Padding::same.
    constexpr Padding(std::size_t ph, std::size_t pw, bool same_size) : h(ph), w(pw), is_same(same_size) {}
    /// Output as large as the input.
    static const Padding same;
};
inline constexpr Padding Padding::same{0, 0, true};

/// Resolved geometry of one spatial axis of a sliding window.
struct window_axis {
    ///@{
    /// Input length, kernel size, stride, dilation and the padding on each side.
    std::size_t input, kernel, stride, dilation, pad_before, pad_after;
    ///@}

    /// Extent of the dilated kernel.
    constexpr std::size_t span() const { return dilation * (kernel - 1) + 1; }
    /// The window fits inside the padded input at least once.
    constexpr bool fits() const { return input + pad_before + pad_after >= span(); }
    /// floor((input + pads - span) / stride) + 1, as PyTorch computes it.
    constexpr std::size_t output() const { return fits() ? (input + pad_before + pad_after - span()) / stride + 1 : 1; }

    /// Resolves one axis; `same` splits the padding as PyTorch does.
    static constexpr window_axis make(std::size_t input, std::size_t kernel, std::size_t stride,
                                      std::size_t dilation, std::size_t pad, bool same)
    {
        if (same) {
            const std::size_t total = dilation * (kernel - 1);
            return {input, kernel, stride, dilation, total / 2, total - total / 2};
        }
        return {input, kernel, stride, dilation, pad, pad};
    }
};

} // namespace lepton
