#pragma once
/// \file
/// MNIST-style image classification data sets from IDX files, and the paths of
/// Fashion-MNIST as Debian's `dataset-fashion-mnist` installs it.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../core/error.hpp"
#include "dataset.hpp"
#include "idx.hpp"

namespace lepton::data {

/// Loads an IDX image file [N, H, W] and its IDX label file [N] as images
/// [N, 1, H, W] with pixel values scaled to [0, 1].
template <class T = float>
Dataset<T, 3> load_idx_images(const std::string& images_path, const std::string& labels_path)
{
    const idx_array images = read_idx(images_path);
    const idx_array labels = read_idx(labels_path);
    if (images.dims.size() != 3)
        throw io_error("lepton: '" + images_path + "': expected 3 dimensions [N, H, W], found " +
                       std::to_string(images.dims.size()));
    if (labels.dims.size() != 1)
        throw io_error("lepton: '" + labels_path + "': expected 1 dimension [N], found " +
                       std::to_string(labels.dims.size()));
    if (labels.dims[0] != images.dims[0])
        throw io_error("lepton: '" + labels_path + "' has " + std::to_string(labels.dims[0]) + " labels but '" +
                       images_path + "' has " + std::to_string(images.dims[0]) + " images");
    Dataset<T, 3> d;
    d.features.resize({images.dims[0], 1, images.dims[1], images.dims[2]});
    const T scale = T(1) / T(255);
    for (std::size_t i = 0; i < images.values.size(); ++i) d.features.data()[i] = T(images.values[i]) * scale;
    d.labels.assign(labels.values.begin(), labels.values.end());
    return d;
}

/// Single-channel images [N, 1, H, W] as sequences [N, H, W]: each image read
/// row by row, H steps of W features (for recurrent networks).
template <class T>
Dataset<T, 2> images_as_row_sequences(const Dataset<T, 3>& images)
{
    const auto& s = images.features.shape();
    if (s[1] != 1)
        throw shape_error("lepton: images_as_row_sequences needs one channel, got " + std::to_string(s[1]));
    Dataset<T, 2> d;
    d.features.resize({s[0], s[2], s[3]});
    std::copy(images.features.begin(), images.features.end(), d.features.begin());
    d.labels = images.labels;
    return d;
}

/// Where Fashion-MNIST is read from: $LEPTON_FASHION_MNIST_DIR, else Debian's location.
inline std::string fashion_mnist_dir()
{
    if (const char* env = std::getenv("LEPTON_FASHION_MNIST_DIR"); env && *env) return env;
    return "/usr/share/datasets/fashion-mnist";
}

/// The 60,000 training images of Fashion-MNIST (or MNIST in the same layout).
template <class T = float>
Dataset<T, 3> fashion_mnist_train(const std::string& dir = fashion_mnist_dir())
{
    return load_idx_images<T>(dir + "/train-images-idx3-ubyte.gz", dir + "/train-labels-idx1-ubyte.gz");
}

/// The 10,000 test images.
template <class T = float>
Dataset<T, 3> fashion_mnist_test(const std::string& dir = fashion_mnist_dir())
{
    return load_idx_images<T>(dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz");
}

/// Class names of Fashion-MNIST, by label.
inline constexpr const char* fashion_mnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

} // namespace lepton::data
