#pragma once
/// \file
/// Seeded augmentations of one image [channels, height, width] with values in
/// [0, 1] (before mean/std normalisation), after torchvision's transforms of
/// the same names:
///
///     std::vector<data::image_transform<float>> augment{
///         data::RandomCrop{.padding = 4}, data::RandomHorizontalFlip{},
///         data::RandomRotation{10}, data::ColorJitter{.brightness = 0.2, .contrast = 0.2}};
///
/// Each one draws what it needs from the generator it is given and keeps the
/// image's size, so the same generator state gives the same image on any thread.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <numbers>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::data {

/// An augmentation of one image [channels, height, width] in place.
template <class T = float>
using image_transform = std::function<void(tensor<T, 3>&, random_engine&)>;

namespace detail {

/// Bilinear sample of plane `p` (h x w) at (y, x) in pixel-centre coordinates;
/// neighbours outside the plane read 0.
template <class T>
T bilinear(const T* p, std::size_t h, std::size_t w, double y, double x)
{
    const double fy = std::floor(y), fx = std::floor(x);
    const double dy = y - fy, dx = x - fx;
    const long y0 = long(fy), x0 = long(fx);
    auto at = [&](long r, long c) {
        if (r < 0 || c < 0 || r >= long(h) || c >= long(w)) return 0.0;
        return double(p[std::size_t(r) * w + std::size_t(c)]);
    };
    return T((1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x0 + 1)) +
             dy * ((1 - dx) * at(y0 + 1, x0) + dx * at(y0 + 1, x0 + 1)));
}

/// Every plane of `image` resampled through `source(y, x) -> (sy, sx)`.
template <class T, class Source>
void resample(tensor<T, 3>& image, Source source)
{
    const std::size_t planes = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    std::vector<T> from(image.data(), image.data() + image.size());
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) {
            const auto [sy, sx] = source(double(y), double(x));
            for (std::size_t c = 0; c < planes; ++c)
                image.data()[(c * h + y) * w + x] = bilinear(from.data() + c * h * w, h, w, sy, sx);
        }
}

} // namespace detail

/// Pads the image with `padding` zeros on every side and crops it back to
/// its size at a random offset (torchvision's RandomCrop(size, padding)).
struct RandomCrop {
    std::size_t padding = 4;  ///< zeros added on each side before cropping

    /// Crops `image` in place.
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        const std::size_t planes = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
        const long top = long(rng.below(2 * padding + 1)) - long(padding);
        const long left = long(rng.below(2 * padding + 1)) - long(padding);
        std::vector<T> from(image.data(), image.data() + image.size());
        for (std::size_t c = 0; c < planes; ++c)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x) {
                    const long sy = long(y) + top, sx = long(x) + left;
                    const bool inside = sy >= 0 && sx >= 0 && sy < long(h) && sx < long(w);
                    image.data()[(c * h + y) * w + x] =
                        inside ? from[(c * h + std::size_t(sy)) * w + std::size_t(sx)] : T(0);
                }
    }
};

/// A random part of the image (its area a fraction in [min_scale, max_scale]
/// of the whole, its aspect ratio in [min_ratio, max_ratio], drawn
/// log-uniformly) stretched back to the image's size bilinearly
/// (torchvision's RandomResizedCrop: ten tries, then a centre crop).
struct RandomResizedCrop {
    double min_scale = 0.08;        ///< smallest area, as a fraction of the image
    double max_scale = 1.0;         ///< largest area
    double min_ratio = 3.0 / 4.0;   ///< narrowest width / height
    double max_ratio = 4.0 / 3.0;   ///< widest width / height

    /// Crops and resizes `image` in place.
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        if (!(0 < min_scale && min_scale <= max_scale && max_scale <= 1 && 0 < min_ratio && min_ratio <= max_ratio))
            throw value_error("lepton: RandomResizedCrop: needs 0 < min_scale <= max_scale <= 1 and 0 < min_ratio <= max_ratio");
        const std::size_t h = image.shape()[1], w = image.shape()[2];
        const double area = double(h) * double(w);
        double ch = double(h), cw = double(w), top = 0, left = 0;
        bool found = false;
        for (int attempt = 0; attempt < 10 && !found; ++attempt) {
            const double target = area * rng.uniform(min_scale, max_scale);
            const double ratio = std::exp(rng.uniform(std::log(min_ratio), std::log(max_ratio)));
            const double cw_try = std::round(std::sqrt(target * ratio)), ch_try = std::round(std::sqrt(target / ratio));
            if (cw_try > 0 && ch_try > 0 && cw_try <= double(w) && ch_try <= double(h)) {
                ch = ch_try, cw = cw_try, found = true;
                top = double(rng.below(std::size_t(double(h) - ch) + 1));
                left = double(rng.below(std::size_t(double(w) - cw) + 1));
            }
        }
        if (!found) {  // a centre crop with the ratio clamped into range
            const double ratio = double(w) / double(h);
            if (ratio < min_ratio) ch = std::round(double(w) / min_ratio);
            if (ratio > max_ratio) cw = std::round(double(h) * max_ratio);
            top = std::floor((double(h) - ch) / 2), left = std::floor((double(w) - cw) / 2);
        }
        // Output pixel centres mapped into the crop (align_corners=false), clamped
        // to its edge pixels so that nothing outside the crop is read.
        const double sy = ch / double(h), sx = cw / double(w);
        detail::resample(image, [&](double y, double x) {
            return std::pair{std::clamp(top + (y + 0.5) * sy - 0.5, top, top + ch - 1),
                             std::clamp(left + (x + 0.5) * sx - 0.5, left, left + cw - 1)};
        });
    }
};

/// Mirrors the image left-right with probability `p`.
struct RandomHorizontalFlip {
    double p = 0.5;  ///< probability of a flip

    /// Flips `image` in place (or not).
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        if (rng.uniform() >= p) return;
        const std::size_t rows = image.shape()[0] * image.shape()[1], w = image.shape()[2];
        for (std::size_t r = 0; r < rows; ++r) std::reverse(image.data() + r * w, image.data() + (r + 1) * w);
    }
};

/// Mirrors the image top-bottom with probability `p`.
struct RandomVerticalFlip {
    double p = 0.5;  ///< probability of a flip

    /// Flips `image` in place (or not).
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        if (rng.uniform() >= p) return;
        const std::size_t planes = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
        for (std::size_t c = 0; c < planes; ++c)
            for (std::size_t y = 0; y < h / 2; ++y)
                std::swap_ranges(image.data() + (c * h + y) * w, image.data() + (c * h + y + 1) * w,
                                 image.data() + (c * h + h - 1 - y) * w);
    }
};

/// Rotates the image about its centre by an angle drawn uniformly from
/// [min_degrees, max_degrees] (counter-clockwise positive, as torchvision's
/// RandomRotation), sampling bilinearly; corners that come from outside are 0.
struct RandomRotation {
    double min_degrees = -10;  ///< smallest angle
    double max_degrees = 10;   ///< largest angle

    RandomRotation() = default;
    /// Angles in [-degrees, degrees].
    explicit RandomRotation(double degrees) : min_degrees(-degrees), max_degrees(degrees) {}
    /// Angles in [min, max].
    RandomRotation(double min, double max) : min_degrees(min), max_degrees(max) {}

    /// Rotates `image` in place.
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        const double angle = rng.uniform(min_degrees, max_degrees) * std::numbers::pi / 180;
        const double c = std::cos(angle), s = std::sin(angle);
        const double cy = double(image.shape()[1] - 1) / 2, cx = double(image.shape()[2] - 1) / 2;
        // Each output pixel reads the source point that the rotation brings to it
        // (rows grow downwards, so a counter-clockwise turn has these signs).
        detail::resample(image, [&](double y, double x) {
            const double dy = y - cy, dx = x - cx;
            return std::pair{cy + s * dx + c * dy, cx + c * dx - s * dy};
        });
    }
};

/// Scales brightness by a factor drawn from [1 - brightness, 1 + brightness]
/// and then contrast (blending with the mean grey level) by one drawn from
/// [1 - contrast, 1 + contrast], clamping to [0, 1] after each, as
/// torchvision's ColorJitter does (which also shuffles the order; here it is fixed).
struct ColorJitter {
    double brightness = 0;  ///< largest relative change of brightness (0: none)
    double contrast = 0;    ///< largest relative change of contrast (0: none)

    /// Jitters `image` in place.
    template <class T>
    void operator()(tensor<T, 3>& image, random_engine& rng) const
    {
        const std::size_t planes = image.shape()[0], plane = image.shape()[1] * image.shape()[2];
        auto clamp01 = [](double v) { return T(std::clamp(v, 0.0, 1.0)); };
        if (brightness > 0) {
            const double f = rng.uniform(std::max(0.0, 1 - brightness), 1 + brightness);
            for (auto& v : image) v = clamp01(double(v) * f);
        }
        if (contrast > 0) {
            const double f = rng.uniform(std::max(0.0, 1 - contrast), 1 + contrast);
            // torchvision's grey level: ITU-R BT.601 luma of RGB, the plane itself otherwise.
            double mean = 0;
            if (planes == 3) {
                for (std::size_t i = 0; i < plane; ++i)
                    mean += 0.299 * double(image.data()[i]) + 0.587 * double(image.data()[plane + i]) +
                            0.114 * double(image.data()[2 * plane + i]);
                mean /= double(plane);
            } else {
                for (const auto v : image) mean += double(v);
                mean /= double(image.size());
            }
            for (auto& v : image) v = clamp01(double(v) * f + mean * (1 - f));
        }
    }
};

} // namespace lepton::data
