#pragma once
/// \file
/// Image classification data sets on disk: a folder of class folders (Keras'
/// `image_dataset_from_directory`, torchvision's `ImageFolder`) or a list file
/// of "path label" lines. Images are decoded when asked for (PNG, JPEG, BMP
/// through `io/image.hpp`), converted to grey or RGB, resized, and handed out
/// as NCHW floats; `data::ImageLoader` batches and augments them.
///
///     data::ImageFolder train("flowers/train", {.channels = 3, .height = 64, .width = 64,
///                                               .mean = {0.485, 0.456, 0.406}, .stddev = {0.229, 0.224, 0.225}});
///     auto test = data::ImageFolder("flowers/test", train.options()).load_all();  // a Dataset<float, 3>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../io/image.hpp"
#include "dataset.hpp"

namespace lepton::data {

/// How an image data set turns files into samples.
struct image_options {
    int channels = 3;   ///< 1 (grey) or 3 (RGB), whatever the files hold
    int height = 0;     ///< rows every image is resized to (0: the first image's)
    int width = 0;      ///< columns every image is resized to (0: the first image's)
    /// Per-channel mean subtracted from pixels in [0, 1] (one value: every
    /// channel; empty: none), then divided by `stddev`, as torchvision's Normalize.
    std::vector<double> mean{};
    std::vector<double> stddev{};  ///< per-channel standard deviation (empty: 1)
    /// Decode every image once when the data set is made and leave out the ones
    /// that fail, with a warning that counts them (otherwise an unreadable image
    /// is an `io_error` naming it when it is loaded).
    bool skip_unreadable = false;
};

/// One image file and its class.
struct image_file {
    std::string path;     ///< the file
    std::int32_t label;   ///< its class id
};

/// An image that `skip_unreadable` left out, and why.
struct skipped_image {
    std::string path;    ///< the file
    std::string reason;  ///< the error reading it gave
};

/// Images on disk with a class each.
class ImageFolder {
public:
    /// The images under `root`, one sub-folder per class: the classes are the
    /// sub-folders' names in sorted order (labels 0, 1, ...), their images the
    /// .png, .jpg, .jpeg and .bmp files inside (at any depth, any case of
    /// extension, sorted by path; hidden files and folders left out). Throws
    /// `io_error` naming `root` when it is not a folder or holds no images.
    explicit ImageFolder(const std::string& root, image_options options = {}) : options_(std::move(options))
    {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!fs::is_directory(root, ec)) throw io_error("lepton: ImageFolder: '" + root + "' is not a folder");
        std::vector<fs::path> class_dirs;
        for (const auto& entry : fs::directory_iterator(root))
            if (entry.is_directory() && !hidden(entry.path())) class_dirs.push_back(entry.path());
        std::sort(class_dirs.begin(), class_dirs.end());
        for (const auto& dir : class_dirs) {
            const auto label = std::int32_t(classes_.size());
            classes_.push_back(dir.filename().string());
            std::vector<std::string> found;
            for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
                if (hidden(it->path())) {
                    if (it->is_directory()) it.disable_recursion_pending();
                    continue;
                }
                if (it->is_regular_file() && is_image_name(it->path())) found.push_back(it->path().string());
            }
            std::sort(found.begin(), found.end());
            for (auto& path : found) files_.push_back({std::move(path), label});
        }
        if (files_.empty())
            throw io_error("lepton: ImageFolder: no images under '" + root +
                           "' (expected one sub-folder per class holding .png, .jpg or .bmp files)");
        prepare(root);
    }

    /// The images listed in `list_path`, one per line as "path label" (the
    /// label a class id 0, 1, ...; the path relative to `root`, by default the
    /// list file's folder; blank lines and lines starting with '#' skipped).
    /// Classes are named by their ids. Throws `io_error` naming the file and
    /// the line for a line without a label or with a label that is not a
    /// non-negative integer.
    static ImageFolder from_list(const std::string& list_path, image_options options = {}, std::string root = "")
    {
        std::ifstream in(list_path);
        if (!in) throw io_error("lepton: ImageFolder: cannot open list file '" + list_path + "'");
        if (root.empty()) root = std::filesystem::path(list_path).parent_path().string();
        ImageFolder folder(std::move(options));
        std::string line;
        std::int32_t classes = 0;
        for (std::size_t number = 1; std::getline(in, line); ++number) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            const auto first = line.find_first_not_of(" \t");
            if (first == std::string::npos || line[first] == '#') continue;
            const auto last = line.find_last_not_of(" \t");
            const auto gap = line.find_last_of(" \t", last);
            auto bad = [&](const std::string& what) {
                return io_error("lepton: '" + list_path + "' line " + std::to_string(number) + ": " + what);
            };
            if (gap == std::string::npos || gap < first) throw bad("expected \"path label\", got \"" + line + "\"");
            const std::string label_text = line.substr(gap + 1, last - gap);
            long long label = -1;
            std::istringstream parse(label_text);
            if (!(parse >> label) || !parse.eof() || label < 0 || label > 1'000'000)
                throw bad("the label \"" + label_text + "\" is not a class id (0, 1, ...)");
            std::string path = line.substr(first, line.find_last_not_of(" \t", gap) + 1 - first);
            if (std::filesystem::path(path).is_relative() && !root.empty()) path = (std::filesystem::path(root) / path).string();
            folder.files_.push_back({std::move(path), std::int32_t(label)});
            classes = std::max(classes, std::int32_t(label + 1));
        }
        if (folder.files_.empty()) throw io_error("lepton: ImageFolder: the list file '" + list_path + "' names no images");
        for (std::int32_t c = 0; c < classes; ++c) folder.classes_.push_back(std::to_string(c));
        folder.prepare(list_path);
        return folder;
    }

    /// Number of images.
    std::size_t size() const noexcept { return files_.size(); }
    /// The class names, by label.
    const std::vector<std::string>& classes() const noexcept { return classes_; }
    /// The files and their labels, in order.
    const std::vector<image_file>& files() const noexcept { return files_; }
    /// The images `skip_unreadable` left out.
    const std::vector<skipped_image>& skipped() const noexcept { return skipped_; }
    /// The options, with the height and width filled in: what a test set's ImageFolder should be given.
    const image_options& options() const noexcept { return options_; }
    /// The shape of one sample: {channels, height, width}.
    std::array<std::size_t, 3> sample_shape() const noexcept
    {
        return {std::size_t(options_.channels), std::size_t(options_.height), std::size_t(options_.width)};
    }

    /// Image `i` decoded, resized and scaled to [0, 1] (not normalised) into
    /// `out`, channels * height * width values in NCHW order; throws `io_error` naming the file.
    template <class T>
    void load(std::size_t i, T* out) const
    {
        io::image picture = io::read_image(files_.at(i).path, options_.channels);
        if (picture.width != options_.width || picture.height != options_.height)
            picture = io::resize_image(picture, options_.width, options_.height);
        const std::size_t plane = std::size_t(picture.width) * std::size_t(picture.height);
        const auto channels = std::size_t(picture.channels);
        // The same arithmetic as `load_idx_images`, so images written from an IDX
        // file come back with the same values.
        const T scale = T(1) / T(255);
        const std::uint8_t* pixels = picture.pixels.data();
        if (channels == 1)  // a loop the compiler vectorises
            for (std::size_t p = 0; p < plane; ++p) out[p] = T(pixels[p]) * scale;
        else
            for (std::size_t p = 0; p < plane; ++p)
                for (std::size_t c = 0; c < channels; ++c) out[c * plane + p] = T(pixels[p * channels + c]) * scale;
    }

    /// Applies the mean/std normalisation to one sample loaded by `load`.
    template <class T>
    void normalize(T* sample) const
    {
        const std::size_t plane = std::size_t(options_.height) * std::size_t(options_.width);
        for (std::size_t c = 0; c < std::size_t(options_.channels); ++c) {
            const T mean = T(pick(options_.mean, c, 0.0)), stddev = T(pick(options_.stddev, c, 1.0));
            if (mean == T(0) && stddev == T(1)) continue;
            for (std::size_t p = 0; p < plane; ++p) sample[c * plane + p] = (sample[c * plane + p] - mean) / stddev;
        }
    }

    /// Every image decoded and normalised, without augmentation, in order: an
    /// in-memory data set (for validation and test sets, or sets that fit in memory).
    template <class T = float>
    Dataset<T, 3> load_all() const
    {
        Dataset<T, 3> d;
        const auto s = sample_shape();
        d.features.resize({files_.size(), s[0], s[1], s[2]});
        const std::size_t sample = s[0] * s[1] * s[2];
        for (std::size_t i = 0; i < files_.size(); ++i) {
            load(i, d.features.data() + i * sample);
            normalize(d.features.data() + i * sample);
            d.labels.push_back(files_[i].label);
        }
        return d;
    }

private:
    explicit ImageFolder(image_options options) : options_(std::move(options)) {}

    static bool hidden(const std::filesystem::path& p) { return p.filename().string().starts_with('.'); }

    static bool is_image_name(const std::filesystem::path& p)
    {
        std::string ext = p.extension().string();
        for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
    }

    static double pick(const std::vector<double>& values, std::size_t c, double fallback)
    {
        return values.empty() ? fallback : values[values.size() == 1 ? 0 : c];
    }

    /// Checks the options, drops unreadable images when asked, and takes the
    /// first image's size where none was given. `source` is what errors name.
    void prepare(const std::string& source)
    {
        if (options_.channels != 1 && options_.channels != 3)
            throw value_error("lepton: ImageFolder: channels must be 1 (grey) or 3 (RGB), got " +
                              std::to_string(options_.channels));
        if (options_.height < 0 || options_.width < 0)
            throw value_error("lepton: ImageFolder: the height and width must be positive (or 0: the first image's)");
        for (const auto* values : {&options_.mean, &options_.stddev})
            if (values->size() > 1 && values->size() != std::size_t(options_.channels))
                throw value_error("lepton: ImageFolder: mean and stddev need one value or one per channel (" +
                                  std::to_string(options_.channels) + "), got " + std::to_string(values->size()));
        for (const double s : options_.stddev)
            if (!(s > 0)) throw value_error("lepton: ImageFolder: every stddev must be positive");
        if (options_.skip_unreadable) {
            std::vector<image_file> kept;
            for (auto& file : files_) {
                try {
                    const io::image picture = io::read_image(file.path, options_.channels);
                    if (options_.height == 0 || options_.width == 0) size_from(picture);
                    kept.push_back(std::move(file));
                } catch (const io_error& e) {
                    skipped_.push_back({file.path, e.what()});
                }
            }
            files_ = std::move(kept);
            if (!skipped_.empty())
                std::fprintf(stderr, "lepton: ImageFolder: skipped %zu of %zu images under '%s' that cannot be read (first: %s)\n",
                             skipped_.size(), skipped_.size() + files_.size(), source.c_str(), skipped_.front().reason.c_str());
            if (files_.empty()) throw io_error("lepton: ImageFolder: no readable images under '" + source + "'");
        }
        if (options_.height == 0 || options_.width == 0) size_from(io::read_image(files_.front().path, options_.channels));
    }

    void size_from(const io::image& picture)
    {
        if (options_.height == 0) options_.height = picture.height;
        if (options_.width == 0) options_.width = picture.width;
    }

    image_options options_;
    std::vector<std::string> classes_;
    std::vector<image_file> files_;
    std::vector<skipped_image> skipped_;
};

} // namespace lepton::data
