// Fashion-MNIST read row by row: each image is a sequence of 28 steps of 28
// pixels, classified from an LSTM's last hidden state.
// Usage: fashion_mnist_lstm [--short] [seed] [epochs]
// (--short: one epoch on the first 2,000 training and test images, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <cstdio>
#include <cstdlib>

using namespace lepton;

// The sequence length is a run-time size, like the batch.
using Net = Sequential<Input<dynamic, 28>, LSTM<128>, Dense<10>>;

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 1 : 5));

    auto train = data::images_as_row_sequences(data::fashion_mnist_train());
    auto test = data::images_as_row_sequences(data::fashion_mnist_test());
    if (args.short_run()) train = first_samples(train, 2000), test = first_samples(test, 2000);
    // Standardise pixels with the training set's mean and standard deviation.
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);

    Net net(seed);
    std::printf("%s", Net::summary().c_str());
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    data::BatchLoader train_batches(train, 64, /*shuffle=*/true, seed);
    data::BatchLoader test_batches(test, 500, /*shuffle=*/false);

    epoch_stats t;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        const epoch_stats s = train_epoch(net, optimizer, loss, train_batches);
        t = evaluate(net, loss, test_batches);
        std::printf("epoch %d/%d  loss %.4f  train_accuracy %.4f  test_accuracy %.4f  %.2f s  %.0f sequences/s\n",
                    epoch, epochs, s.loss, s.accuracy, t.accuracy, s.seconds, double(s.samples) / s.seconds);
        std::fflush(stdout);
    }
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", t.loss, t.accuracy);
}
