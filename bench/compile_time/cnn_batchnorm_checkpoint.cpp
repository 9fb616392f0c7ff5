// The translation unit of the compile-time figures (README, "Compile time"):
// a CNN with BatchNorm trained with `fit`, saved with `save_weights` and loaded
// with `load_weights`, as a new user writes it. scripts/compile_time.sh times it
// header-only and with LEPTON_SEPARATE_IO / LEPTON_SEPARATE_KERNELS; the build
// compiles it too (bench target `compile_time_cnn`), so it stays a valid program.
#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/train/fit.hpp>

#include <cstdio>
#include <memory>

using namespace lepton;

using CNN = Sequential<Input<1, 28, 28>,
                       Conv2D<32, 3, 1, Padding::same>, BatchNorm2D<>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, BatchNorm2D<>, ReLU, MaxPool2D<2>,
                       Flatten, Dense<128>, ReLU, Dense<10>>;

int main()
{
    // 256 random images: the program is about what it compiles, not what it learns.
    data::Dataset<float, 3> train;
    train.features = tensor<float, 4>({256, 1, 28, 28});
    random_engine rng(1);
    for (auto& v : train.features) v = float(rng.normal());
    for (std::size_t i = 0; i < 256; ++i) train.labels.push_back(std::int32_t(i % 10));

    CNN net(1);
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    const History history = fit(net, optimizer, loss, train,
                                {.epochs = 1, .batch_size = 64, .metrics = {std::make_shared<metrics::accuracy<float>>()}});
    io::save_weights(net, "cnn_batchnorm.safetensors");
    CNN restored(2);
    io::load_weights(restored, "cnn_batchnorm.safetensors");
    std::printf("loss: %.4f\n", history["loss"].back());
}
