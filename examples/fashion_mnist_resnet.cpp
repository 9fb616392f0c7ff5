// Fashion-MNIST with a small ResNet: a stem, three stages of torchvision-style
// basic blocks (the first with an identity shortcut, the next two halving the
// image with stride-2 projection shortcuts), BatchNorm everywhere, global
// average pooling and a Dense head. Adam with a cosine schedule and random
// horizontal flips. Prints the network's tree, trains with `fit`, and ends
// with the test accuracy.
// Usage: fashion_mnist_resnet [--short] [seed] [epochs]
// (--short: one epoch on the first 2,000 training and test images, as CI runs it)
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/named.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/residual.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/optim/schedules.hpp>
#include <lepton/train/callbacks/lr_scheduler.hpp>
#include <lepton/train/fit.hpp>

#include "example_args.hpp"

#include <cstdio>

using namespace lepton;

// torchvision's BasicBlock: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU.
template <std::size_t C, std::size_t Stride>
using Body = Block<Named<"conv1", Conv2D<C, 3, Stride, 1, 1, 1, false>>, Named<"bn1", BatchNorm2D<>>, ReLU,
                   Named<"conv2", Conv2D<C, 3, 1, 1, 1, 1, false>>, Named<"bn2", BatchNorm2D<>>>;
template <std::size_t C>
using BasicBlock = Residual<Body<C, 1>, Identity, ReLU>;
template <std::size_t C>
using DownBlock = Residual<Body<C, 2>, Named<"downsample", Block<Conv2D<C, 1, 2, 0, 1, 1, false>, BatchNorm2D<>>>, ReLU>;

// The stem halves the image (torchvision's stem pools too); each later stage halves it again.
using ResNet = Sequential<Input<1, 28, 28>,
                          Named<"conv1", Conv2D<32, 3, 1, 1, 1, 1, false>>, Named<"bn1", BatchNorm2D<>>, ReLU,
                          MaxPool2D<2>,                             // 32 x 14 x 14
                          Named<"layer1", Block<BasicBlock<32>>>,   // 32 x 14 x 14
                          Named<"layer2", Block<DownBlock<64>>>,    // 64 x 7 x 7
                          Named<"layer3", Block<DownBlock<128>>>,   // 128 x 4 x 4
                          GlobalAvgPool2D, Named<"fc", Dense<10>>>;

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 1 : 10));

    auto train = data::fashion_mnist_train();
    auto test = data::fashion_mnist_test();
    if (args.short_run()) train = first_samples(train, 2000), test = first_samples(test, 2000);
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);

    ResNet net(seed);
    std::printf("%s", ResNet::summary().c_str());
    std::printf("threads: %d\n", num_threads());
    Adam optimizer(net, {.lr = 2e-3});
    CrossEntropyLoss<float> loss;
    const History history =
        fit(net, optimizer, loss, train,
            {.epochs = epochs, .batch_size = 64, .seed = seed, .validation = &test,
             .metrics = {std::make_shared<metrics::accuracy<float>>()},
             .callbacks = {std::make_shared<LearningRateScheduler<float>>(
                 schedules::cosine_warmup{.base_lr = 2e-3, .total_epochs = epochs, .min_lr = 1e-4})},
             .transform = data::random_horizontal_flip<float>});
    if (history.epochs() == 0) return 0;
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", history["val_loss"].back(), history["val_accuracy"].back());
}
