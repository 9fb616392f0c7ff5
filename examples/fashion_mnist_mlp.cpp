// Fashion-MNIST with a 784-256-128-10 multi-layer perceptron.
// Usage: fashion_mnist_mlp [--short] [seed] [epochs]
// (--short: one epoch on the first 2,000 training and test images, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <cstdio>
#include <cstdlib>

using namespace lepton;

using MLP = Sequential<Input<1, 28, 28>, Flatten, Dense<256>, ReLU, Dense<128>, ReLU, Dense<10>>;
static_assert(MLP::parameter_count == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    auto train = data::fashion_mnist_train();
    auto test = data::fashion_mnist_test();
    if (args.short_run()) train = first_samples(train, 2000), test = first_samples(test, 2000);
    // Standardise pixels with the training set's mean and standard deviation.
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);

    const auto seed = std::uint64_t(args.integer(0, 3));
    const int epochs = int(args.integer(1, args.short_run() ? 1 : 5));
    MLP net(seed);
    std::printf("%s", MLP::summary().c_str());
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    data::BatchLoader train_batches(train, 64, /*shuffle=*/true, seed);
    data::BatchLoader test_batches(test, 1000, /*shuffle=*/false);

    for (int epoch = 1; epoch <= epochs; ++epoch) {
        const epoch_stats s = train_epoch(net, optimizer, loss, train_batches);
        std::printf("epoch %d/%d  loss %.4f  train_accuracy %.4f  %.2f s  %.0f images/s\n", epoch, epochs, s.loss, s.accuracy,
                    s.seconds, double(s.samples) / s.seconds);
    }
    const epoch_stats t = evaluate(net, loss, test_batches);
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", t.loss, t.accuracy);
}
