#pragma once
/// \file
/// Pictures of training as PNG files: learning curves, a confusion-matrix heat
/// map and a grid of image samples (e.g. a generator's outputs).
///
/// Each `plot_*` / `save_*` function draws on an `io::canvas` and writes it
/// with `write_png`; the `render_*` functions return the canvas instead.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"
#include "canvas.hpp"
#include "png.hpp"

namespace lepton::io {

/// One line of a chart: a name for the legend and one value per epoch (epoch
/// 1 first). Non-finite values (NaN, inf) are left out and break the line.
struct curve {
    std::string name;            ///< legend entry
    std::vector<double> values;  ///< one value per epoch
};

/// Size and axis labels of `plot_curves`.
struct plot_options {
    int width = 800;              ///< image width in pixels
    int height = 500;             ///< image height in pixels
    std::string x_label = "epoch";  ///< under the x axis
    std::string y_label;          ///< beside the y axis, turned; none when empty
};

/// Colour of the `i`-th curve: matplotlib's ten "tab10" colours, repeating after ten.
inline rgb series_color(std::size_t i) noexcept
{
    static constexpr rgb palette[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                        {188, 189, 34},  {23, 190, 207}};
    return palette[i % 10];
}

namespace detail {

inline constexpr rgb black{0, 0, 0}, white{255, 255, 255}, grid_grey{228, 228, 228}, frame_grey{150, 150, 150};

/// Tick positions at multiples of a 1, 2 or 5 x 10^k step covering [lo, hi] in about `target` steps.
struct ticks {
    double lo = 0, hi = 1, step = 1;
    int decimals = 0;

    ticks(double a, double b, int target)
    {
        if (!(b > a)) {
            // A flat or empty series still gets a readable axis around its value.
            const double pad = std::abs(a) > 0 ? std::abs(a) * 0.1 : 1.0;
            a -= pad;
            b += pad;
        }
        const double raw = (b - a) / target, mag = std::pow(10.0, std::floor(std::log10(raw))), norm = raw / mag;
        step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
        lo = std::floor(a / step + 1e-9) * step;
        hi = std::ceil(b / step - 1e-9) * step;
        decimals = std::max(0, -int(std::floor(std::log10(step) + 1e-9)));
    }

    std::string label(double v) const
    {
        if (std::abs(v) < step * 1e-6) v = 0;  // no "-0.00"
        char buf[64];
        if (decimals > 6 || std::max(std::abs(lo), std::abs(hi)) >= 1e7)
            std::snprintf(buf, sizeof buf, "%.3g", v);
        else
            std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        return buf;
    }
};

/// Formats a heat-map cell: integers as integers, other values with two decimals.
inline std::string cell_text(double v)
{
    char buf[64];
    if (!std::isfinite(v)) return "-";
    if (v == std::floor(v) && std::abs(v) < 1e15)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

} // namespace detail

/// Draws a line chart of `series` (one value per epoch, epochs from 1 on the x
/// axis): title, axes with numeric ticks and grid lines, axis labels, a legend
/// in the top-right corner, one `series_color` per curve (2.5 pixels wide,
/// anti-aliased, with a dot per epoch up to 40 epochs; an isolated value is a
/// dot). Non-finite values are skipped; empty series are listed in the legend only.
inline canvas render_curves(const std::string& title, const std::vector<curve>& series, const plot_options& options = {})
{
    if (options.width < 200 || options.height < 150)
        throw value_error("lepton: plot_curves needs at least 200x150 pixels, got " + std::to_string(options.width) +
                          "x" + std::to_string(options.height));
    canvas c(options.width, options.height);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    std::size_t epochs = 0;
    for (const auto& s : series) {
        epochs = std::max(epochs, s.values.size());
        for (double v : s.values)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!(lo <= hi)) lo = 0, hi = 1;  // nothing finite to show
    const detail::ticks y(lo, hi, 6);
    const double x_max = double(std::max<std::size_t>(epochs, 2));
    const detail::ticks x(1, x_max, 8);
    const double x_step = std::max(1.0, x.step);  // epochs are whole numbers

    int label_w = 0;
    for (double v = y.lo; v <= y.hi + y.step / 2; v += y.step) label_w = std::max(label_w, canvas::text_width(y.label(v)));
    const int left = 14 + label_w + (options.y_label.empty() ? 0 : 16), right = options.width - 20;
    const int top = 44, bottom = options.height - 48;
    auto px = [&](double e) { return left + (e - 1) / (x_max - 1) * (right - left); };
    auto py = [&](double v) { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - top); };

    c.text((options.width - canvas::text_width(title, 2)) / 2, 14, title, detail::black, 2);
    // Grid and y ticks.
    for (double v = y.lo; v <= y.hi + y.step / 2; v += y.step) {
        const int j = int(std::lround(py(v)));
        c.fill_rect(left, j, right - left + 1, 1, detail::grid_grey);
        c.fill_rect(left - 4, j, 4, 1, detail::black);
        const std::string s = y.label(v);
        c.text(left - 7 - canvas::text_width(s), j - 3, s, detail::black);
    }
    // Grid and x ticks at whole epochs.
    for (double e = x_step > 1 ? x_step : 1; e <= x_max + 1e-9; e += x_step) {
        const int i = int(std::lround(px(e)));
        c.fill_rect(i, top, 1, bottom - top + 1, detail::grid_grey);
        c.fill_rect(i, bottom + 1, 1, 4, detail::black);
        const std::string s = detail::cell_text(e);
        c.text(i - canvas::text_width(s) / 2, bottom + 9, s, detail::black);
    }
    if (x_step > 1) {  // epoch 1 is always labelled
        c.fill_rect(left, bottom + 1, 1, 4, detail::black);
        if (px(x_step) - left > 14) c.text(left - 2, bottom + 9, "1", detail::black);
    }
    c.fill_rect(left, top, 1, bottom - top + 1, detail::black);
    c.fill_rect(left, bottom, right - left + 1, 1, detail::black);
    c.text((left + right - canvas::text_width(options.x_label)) / 2, bottom + 26, options.x_label, detail::black);
    if (!options.y_label.empty())
        c.text_up(6, (top + bottom + canvas::text_width(options.y_label)) / 2, options.y_label, detail::black);

    // Curves: segments between consecutive finite values.
    for (std::size_t s = 0; s < series.size(); ++s) {
        const auto& v = series[s].values;
        const rgb colour = series_color(s);
        for (std::size_t e = 0; e < v.size(); ++e) {
            if (!std::isfinite(v[e])) continue;
            const bool prev = e > 0 && std::isfinite(v[e - 1]), next = e + 1 < v.size() && std::isfinite(v[e + 1]);
            if (next) c.line(px(double(e + 1)), py(v[e]), px(double(e + 2)), py(v[e + 1]), colour, 2.5);
            if (epochs <= 40 || (!prev && !next)) c.disc(px(double(e + 1)), py(v[e]), 3.0, colour);
        }
    }

    // Legend.
    if (!series.empty()) {
        int name_w = 0;
        for (const auto& s : series) name_w = std::max(name_w, canvas::text_width(s.name));
        const int row = 14, w = 40 + name_w, h = int(series.size()) * row + 8;
        const int x0 = right - w - 8, y0 = top + 8;
        c.fill_rect(x0, y0, w, h, detail::white);
        c.rect(x0, y0, w, h, detail::frame_grey);
        for (std::size_t s = 0; s < series.size(); ++s) {
            const int yy = y0 + 4 + int(s) * row + row / 2;
            c.fill_rect(x0 + 6, yy - 1, 22, 3, series_color(s));
            c.text(x0 + 34, yy - 3, series[s].name, detail::black);
        }
    }
    return c;
}

/// `render_curves` saved as a PNG file at `path` (default 800 x 500 pixels).
inline void plot_curves(const std::string& path, const std::string& title, const std::vector<curve>& series,
                        const plot_options& options = {})
{
    render_curves(title, series, options).save_png(path);
}

/// Draws a confusion matrix as a heat map: `matrix[t][p]` (rows: true class,
/// columns: predicted class; square, one row per class name, or indices as
/// names when `class_names` is empty) as cells from white-blue (0) to dark blue
/// (the largest value), each with its value written in it when it fits
/// (integers as integers, other values with two decimals), class names on both
/// axes ("true" on the left, "predicted" below; column names are turned when
/// they are wider than a cell).
template <class V>
canvas render_heatmap(const std::string& title, const std::vector<std::vector<V>>& matrix,
                      const std::vector<std::string>& class_names = {})
{
    static_assert(std::is_arithmetic_v<V>, "render_heatmap needs a matrix of numbers");
    const std::size_t n = matrix.size();
    if (n == 0) throw value_error("lepton: plot_heatmap got an empty matrix");
    for (const auto& r : matrix)
        if (r.size() != n) throw value_error("lepton: plot_heatmap needs a square matrix, got a row of " +
                                             std::to_string(r.size()) + " in " + std::to_string(n) + " rows");
    std::vector<std::string> names = class_names;
    if (names.empty())
        for (std::size_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
    if (names.size() != n)
        throw value_error("lepton: plot_heatmap got " + std::to_string(names.size()) + " class names for " +
                          std::to_string(n) + " classes");

    double top_value = 0;
    for (const auto& r : matrix)
        for (V v : r)
            if (std::isfinite(double(v))) top_value = std::max(top_value, double(v));
    const int cell = std::clamp(480 / int(n), 16, 64);
    int name_w = 0;
    for (const auto& s : names) name_w = std::max(name_w, canvas::text_width(s));
    const bool turned = name_w > cell - 4;
    const int left = 30 + name_w, top = 44, grid = cell * int(n);
    const int bottom_band = (turned ? name_w : canvas::text_height()) + 34;
    const int width = std::max(left + grid + 20, canvas::text_width(title, 2) + 20);
    canvas c(width, top + grid + bottom_band);

    c.text((width - canvas::text_width(title, 2)) / 2, 14, title, detail::black, 2);
    const rgb light{247, 251, 255}, dark{8, 48, 107};  // the ends of matplotlib's "Blues"
    for (std::size_t t = 0; t < n; ++t)
        for (std::size_t p = 0; p < n; ++p) {
            const double v = double(matrix[t][p]);
            const double f = top_value > 0 && std::isfinite(v) ? std::clamp(v / top_value, 0.0, 1.0) : 0.0;
            auto mix = [f](std::uint8_t a, std::uint8_t b) { return std::uint8_t(std::lround(a + (double(b) - a) * f)); };
            const rgb fill{mix(light.r, dark.r), mix(light.g, dark.g), mix(light.b, dark.b)};
            const int x = left + int(p) * cell, y = top + int(t) * cell;
            c.fill_rect(x, y, cell, cell, fill);
            const std::string s = detail::cell_text(v);
            const int scale = canvas::text_width(s, 2) <= cell - 6 ? 2 : 1;
            if (canvas::text_width(s, scale) <= cell - 2)
                c.text(x + (cell - canvas::text_width(s, scale)) / 2, y + (cell - canvas::text_height(scale)) / 2, s,
                       f > 0.5 ? detail::white : detail::black, scale);
        }
    c.rect(left - 1, top - 1, grid + 2, grid + 2, detail::frame_grey);
    for (std::size_t k = 0; k < n; ++k) {
        const int mid = int(k) * cell + cell / 2;
        c.text(left - 6 - canvas::text_width(names[k]), top + mid - 3, names[k], detail::black);
        if (turned)
            c.text_up(left + mid - 3, top + grid + 6 + canvas::text_width(names[k]), names[k], detail::black);
        else
            c.text(left + mid - canvas::text_width(names[k]) / 2, top + grid + 6, names[k], detail::black);
    }
    c.text(left + (grid - canvas::text_width("predicted")) / 2, top + grid + bottom_band - 14, "predicted", detail::black);
    c.text_up(6, top + (grid + canvas::text_width("true")) / 2, "true", detail::black);
    return c;
}

/// `render_heatmap` saved as a PNG file at `path`.
template <class V>
void plot_heatmap(const std::string& path, const std::string& title, const std::vector<std::vector<V>>& matrix,
                  const std::vector<std::string>& class_names = {})
{
    render_heatmap(title, matrix, class_names).save_png(path);
}

/// Saves the first `rows` x `cols` images of `images` [N, C, H, W] (C = 1 for
/// grey, 3 for RGB) as one PNG of C channels: image i goes to row i / cols,
/// column i % cols, each pixel a `scale` x `scale` square, with 2 black pixels
/// between and around the images (cell (r, c) starts at x = 2 + c (W scale + 2),
/// y = 2 + r (H scale + 2)). Values map linearly from [lo, hi] to 0..255,
/// clamped and rounded; NaN is 0. Cells without an image stay black.
template <class T>
void save_image_grid(const std::string& path, const tensor<T, 4>& images, std::size_t rows, std::size_t cols,
                     double lo = 0.0, double hi = 1.0, int scale = 1)
{
    const std::size_t n = images.shape()[0], channels = images.shape()[1], h = images.shape()[2], w = images.shape()[3];
    if (channels != 1 && channels != 3)
        throw shape_error("lepton: save_image_grid needs [N, 1, H, W] or [N, 3, H, W] images, got " +
                          shape_string(images.shape()));
    if (rows == 0 || cols == 0 || scale < 1 || !(hi > lo))
        throw value_error("lepton: save_image_grid needs rows, cols, scale >= 1 and hi > lo");
    constexpr std::size_t pad = 2;
    const std::size_t cell_w = w * std::size_t(scale), cell_h = h * std::size_t(scale);
    const std::size_t width = pad + cols * (cell_w + pad), height = pad + rows * (cell_h + pad);
    if (width > (1u << 14) || height > (1u << 14))
        throw value_error("lepton: save_image_grid image of " + std::to_string(width) + "x" + std::to_string(height) +
                          " pixels is too large");
    std::vector<std::uint8_t> out(width * height * channels, 0);
    for (std::size_t i = 0; i < std::min(n, rows * cols); ++i) {
        const std::size_t x0 = pad + (i % cols) * (cell_w + pad), y0 = pad + (i / cols) * (cell_h + pad);
        for (std::size_t ch = 0; ch < channels; ++ch)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x) {
                    const double v = double(images(i, ch, y, x));
                    const double f = std::isnan(v) ? 0.0 : std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
                    const auto byte = static_cast<std::uint8_t>(std::lround(f * 255));
                    for (std::size_t dy = 0; dy < std::size_t(scale); ++dy)
                        for (std::size_t dx = 0; dx < std::size_t(scale); ++dx)
                            out[((y0 + y * scale + dy) * width + x0 + x * scale + dx) * channels + ch] = byte;
                }
    }
    write_png(path, int(width), int(height), int(channels), out.data());
}

} // namespace lepton::io
