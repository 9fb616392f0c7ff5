// Training on your own images: a folder of class folders, read with
// data::ImageFolder and decoded, augmented (random crops with padding and
// horizontal flips) and normalised on a background thread by
// data::ImageLoader while the network trains. The images here are
// Fashion-MNIST written out as PNG files: the training set as one folder
// per class (train/0-T-shirt_top/00000.png, ...), the test set as a folder
// with a list file of "path label" lines (test/labels.txt), the two layouts
// ImageFolder reads. Ends with the test accuracy.
// Usage: image_folder [--short] [seed] [epochs] [output directory] [training images]
// (--short: one epoch on 2,000 training and 1,000 test images, as CI runs it)
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/data/image_folder.hpp>
#include <lepton/data/image_loader.hpp>
#include <lepton/data/image_transforms.hpp>
#include <lepton/io/png.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/train/fit.hpp>

#include "example_args.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace lepton;
namespace fs = std::filesystem;

using CNN = Sequential<Input<1, 28, 28>,
                       Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Flatten, Dense<128>, ReLU, Dense<10>>;

namespace {

/// Image `i` of an in-memory set [N, 1, 28, 28] in [0, 1] as an 8-bit grey PNG.
void write_image(const data::Dataset<float, 3>& images, std::size_t i, const fs::path& path)
{
    std::vector<std::uint8_t> pixels(28 * 28);
    for (std::size_t p = 0; p < pixels.size(); ++p)
        pixels[p] = std::uint8_t(images.features.data()[i * pixels.size() + p] * 255.0f + 0.5f);
    io::write_png(path.string(), 28, 28, 1, pixels.data());
}

/// Folder names that sort in label order: "0-T-shirt_top", "1-Trouser", ...
std::string class_folder(std::int32_t label)
{
    std::string name = std::to_string(label) + "-" + data::fashion_mnist_classes[label];
    for (auto& c : name)
        if (c == '/' || c == ' ') c = '_';
    return name;
}

std::string numbered(std::size_t i)
{
    std::string s = std::to_string(i);
    return std::string(5 - std::min<std::size_t>(5, s.size()), '0') + s + ".png";
}

/// Writes the first `train_count` training and `test_count` test images under
/// `root` (once: a marker file says the set is complete).
void write_png_dataset(const fs::path& root, std::size_t train_count, std::size_t test_count)
{
    const fs::path marker = root / ("complete_" + std::to_string(train_count) + "_" + std::to_string(test_count));
    if (fs::exists(marker)) return;
    fs::remove_all(root);
    const auto train = data::fashion_mnist_train(), test = data::fashion_mnist_test();
    train_count = std::min(train_count, train.size()), test_count = std::min(test_count, test.size());
    for (std::int32_t c = 0; c < 10; ++c) fs::create_directories(root / "train" / class_folder(c));
    for (std::size_t i = 0; i < train_count; ++i)
        write_image(train, i, root / "train" / class_folder(train.labels[i]) / numbered(i));
    fs::create_directories(root / "test");
    std::ofstream list(root / "test" / "labels.txt");
    list << "# Fashion-MNIST test images: path label\n";
    for (std::size_t i = 0; i < test_count; ++i) {
        write_image(test, i, root / "test" / numbered(i));
        list << numbered(i) << ' ' << test.labels[i] << '\n';
    }
    std::ofstream(marker) << "written by examples/image_folder\n";
    std::printf("wrote %zu training images (one folder per class) and %zu test images (with a list file) to %s\n",
                train_count, test_count, root.string().c_str());
}

} // namespace

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 1 : 5));
    const fs::path out_dir = args.text(2, "output");
    const auto train_count = std::size_t(args.integer(3, args.short_run() ? 2000 : 20000));
    const std::size_t test_count = args.short_run() ? 1000 : 10000;

    const fs::path root = out_dir / "fashion_mnist_png";
    write_png_dataset(root, train_count, test_count);

    // Grey 28 x 28 images, standardised with Fashion-MNIST's pixel statistics.
    const data::image_options options{.channels = 1, .height = 28, .width = 28,
                                      .mean = {data::fashion_mnist_mean}, .stddev = {data::fashion_mnist_stddev}};
    const data::ImageFolder train((root / "train").string(), options);
    const auto test = data::ImageFolder::from_list((root / "test" / "labels.txt").string(), options).load_all();
    std::printf("training images: %zu in %zu classes (%s, ...); test images: %zu\n", train.size(), train.classes().size(),
                train.classes().front().c_str(), test.size());

    data::ImageLoader<float> loader(train, {.batch_size = 64, .seed = seed,
                                            .augment = {data::RandomCrop{.padding = 2}, data::RandomHorizontalFlip{}}});
    CNN net(seed, init::glorot_uniform{});
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    const History history = fit(net, optimizer, loss, loader,
                                {.epochs = epochs, .validation = &test,
                                 .metrics = {std::make_shared<metrics::accuracy<float>>()}});
    if (history.epochs() == 0) return 0;  // nothing trained
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", history["val_loss"].back(), history["val_accuracy"].back());
}
