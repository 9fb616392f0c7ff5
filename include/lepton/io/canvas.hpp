#pragma once
/// \file
/// A small RGB raster for charts: pixels, rectangles, anti-aliased lines and
/// discs, and text in a built-in 5x7 bitmap font.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "detail/font5x7.hpp"
#include "png.hpp"

namespace lepton::io {

/// An 8-bit RGB colour.
struct rgb {
    std::uint8_t r = 0;  ///< red
    std::uint8_t g = 0;  ///< green
    std::uint8_t b = 0;  ///< blue
    /// Component-wise equality.
    friend bool operator==(const rgb&, const rgb&) = default;
};

/// An RGB image, row-major from the top-left corner. Coordinates are pixel
/// centres: pixel (x, y) covers [x - 0.5, x + 0.5] x [y - 0.5, y + 0.5].
/// Drawing outside the image is clipped.
class canvas {
public:
    /// Glyph advance of the built-in font at scale 1, in pixels (5 wide plus 1 of space).
    static constexpr int glyph_advance = 6;
    /// Glyph height of the built-in font at scale 1, in pixels.
    static constexpr int glyph_height = 7;

    /// A `width` x `height` image filled with `background`.
    canvas(int width, int height, rgb background = {255, 255, 255}) : width_(width), height_(height)
    {
        if (width <= 0 || height <= 0 || width > (1 << 14) || height > (1 << 14))
            throw value_error("lepton: canvas size " + std::to_string(width) + "x" + std::to_string(height) +
                              " is outside 1..16384");
        pixels_.resize(std::size_t(width) * std::size_t(height) * 3);
        fill_rect(0, 0, width, height, background);
    }

    /// Width in pixels.
    int width() const noexcept { return width_; }
    /// Height in pixels.
    int height() const noexcept { return height_; }
    /// The pixels, three bytes (R, G, B) each, row after row.
    const std::vector<std::uint8_t>& pixels() const noexcept { return pixels_; }

    /// The colour of pixel (x, y), which must be inside the image.
    rgb at(int x, int y) const
    {
        if (!inside(x, y))
            throw value_error("lepton: pixel (" + std::to_string(x) + ", " + std::to_string(y) + ") is outside the canvas");
        const std::uint8_t* p = &pixels_[index(x, y)];
        return {p[0], p[1], p[2]};
    }

    /// Sets pixel (x, y).
    void set(int x, int y, rgb c) noexcept
    {
        if (!inside(x, y)) return;
        std::uint8_t* p = &pixels_[index(x, y)];
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
    }

    /// Mixes `c` into pixel (x, y) with weight `alpha` in [0, 1] (1 replaces it).
    void blend(int x, int y, rgb c, double alpha) noexcept
    {
        if (!inside(x, y) || !(alpha > 0)) return;
        if (alpha >= 1) return set(x, y, c);
        std::uint8_t* p = &pixels_[index(x, y)];
        auto mix = [alpha](std::uint8_t old, std::uint8_t add) {
            return static_cast<std::uint8_t>(std::lround(old + (double(add) - old) * alpha));
        };
        p[0] = mix(p[0], c.r);
        p[1] = mix(p[1], c.g);
        p[2] = mix(p[2], c.b);
    }

    /// Fills the `w` x `h` rectangle whose top-left pixel is (x, y).
    void fill_rect(int x, int y, int w, int h, rgb c) noexcept
    {
        const int x0 = std::max(x, 0), y0 = std::max(y, 0);
        const int x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
        for (int j = y0; j < y1; ++j)
            for (int i = x0; i < x1; ++i) set(i, j, c);
    }

    /// The one-pixel outline of the `w` x `h` rectangle whose top-left pixel is (x, y).
    void rect(int x, int y, int w, int h, rgb c) noexcept
    {
        if (w <= 0 || h <= 0) return;
        fill_rect(x, y, w, 1, c);
        fill_rect(x, y + h - 1, w, 1, c);
        fill_rect(x, y, 1, h, c);
        fill_rect(x + w - 1, y, 1, h, c);
    }

    /// A line from (x0, y0) to (x1, y1), `width` pixels thick with round ends.
    /// Anti-aliased, a pixel gets the fraction of the colour its centre's
    /// distance from the segment leaves uncovered; otherwise pixels within
    /// width / 2 are set. Non-finite coordinates draw nothing.
    void line(double x0, double y0, double x1, double y1, rgb c, double width = 1.0, bool antialias = true) noexcept
    {
        if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1) || !(width > 0)) return;
        const double half = width / 2, reach = half + 1;
        const int i0 = clamp_x(std::floor(std::min(x0, x1) - reach)), i1 = clamp_x(std::ceil(std::max(x0, x1) + reach));
        const int j0 = clamp_y(std::floor(std::min(y0, y1) - reach)), j1 = clamp_y(std::ceil(std::max(y0, y1) + reach));
        const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
        for (int j = j0; j <= j1; ++j)
            for (int i = i0; i <= i1; ++i) {
                // Distance from the pixel centre to the closest point of the segment.
                double t = len2 > 0 ? ((i - x0) * dx + (j - y0) * dy) / len2 : 0.0;
                t = std::clamp(t, 0.0, 1.0);
                const double d = std::hypot(i - (x0 + t * dx), j - (y0 + t * dy));
                blend(i, j, c, antialias ? std::clamp(half + 0.5 - d, 0.0, 1.0) : (d <= half ? 1.0 : 0.0));
            }
    }

    /// A filled disc of `radius` pixels centred on (cx, cy), anti-aliased.
    void disc(double cx, double cy, double radius, rgb c) noexcept { line(cx, cy, cx, cy, c, 2 * radius, true); }

    /// Width in pixels of `s` drawn at `scale` (no trailing space).
    static int text_width(std::string_view s, int scale = 1) noexcept
    {
        return s.empty() ? 0 : (int(s.size()) * glyph_advance - 1) * scale;
    }

    /// Height in pixels of a line of text at `scale`.
    static int text_height(int scale = 1) noexcept { return glyph_height * scale; }

    /// Draws `s` with its top-left corner at (x, y), each font pixel a
    /// `scale` x `scale` square; characters outside printable ASCII draw as '?'.
    void text(int x, int y, std::string_view s, rgb c, int scale = 1) noexcept
    {
        for (char ch : s) {
            const auto& glyph = glyph_of(ch);
            for (int col = 0; col < 5; ++col)
                for (int row = 0; row < glyph_height; ++row)
                    if (glyph[std::size_t(col)] >> row & 1) fill_rect(x + col * scale, y + row * scale, scale, scale, c);
            x += glyph_advance * scale;
        }
    }

    /// Draws `s` turned a quarter turn anticlockwise (read from bottom to top),
    /// with the bottom-left corner of its first character at (x, y).
    void text_up(int x, int y, std::string_view s, rgb c, int scale = 1) noexcept
    {
        for (char ch : s) {
            const auto& glyph = glyph_of(ch);
            for (int col = 0; col < 5; ++col)
                for (int row = 0; row < glyph_height; ++row)
                    if (glyph[std::size_t(col)] >> row & 1)
                        fill_rect(x + row * scale, y - (col + 1) * scale + 1, scale, scale, c);
            y -= glyph_advance * scale;
        }
    }

    /// Saves the image as an RGB PNG file (see `write_png`).
    void save_png(const std::string& path) const { write_png(path, width_, height_, 3, pixels_.data()); }

private:
    bool inside(int x, int y) const noexcept { return x >= 0 && y >= 0 && x < width_ && y < height_; }
    std::size_t index(int x, int y) const noexcept { return (std::size_t(y) * std::size_t(width_) + std::size_t(x)) * 3; }
    int clamp_x(double v) const noexcept { return int(std::clamp(v, -1.0, double(width_))); }
    int clamp_y(double v) const noexcept { return int(std::clamp(v, -1.0, double(height_))); }

    static const std::array<std::uint8_t, 5>& glyph_of(char ch) noexcept
    {
        const unsigned char u = static_cast<unsigned char>(ch);
        return detail::font5x7[u >= 32 && u <= 126 ? u - 32 : '?' - 32];
    }

    int width_, height_;
    std::vector<std::uint8_t> pixels_;
};

} // namespace lepton::io
