// Fashion-MNIST with a 784-256-128-10 multi-layer perceptron.
#include <lepton/lepton.hpp>

#include <cstdio>
#include <cstdlib>

using namespace lepton;

using MLP = Sequential<Input<1, 28, 28>, Flatten, Dense<256>, ReLU, Dense<128>, ReLU, Dense<10>>;
static_assert(MLP::parameter_count == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);

int main(int argc, char** argv)
{
    auto train = data::fashion_mnist_train();
    auto test = data::fashion_mnist_test();
    // Standardise pixels with the training set's mean and standard deviation.
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);

    const std::uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3;
    MLP net(seed);
    std::printf("%s", MLP::summary().c_str());
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    data::BatchLoader train_batches(train, 64, /*shuffle=*/true, seed);
    data::BatchLoader test_batches(test, 1000, /*shuffle=*/false);

    for (int epoch = 1; epoch <= 5; ++epoch) {
        const epoch_stats s = train_epoch(net, optimizer, loss, train_batches);
        std::printf("epoch %d/5  loss %.4f  train_accuracy %.4f  %.2f s  %.0f images/s\n", epoch, s.loss, s.accuracy,
                    s.seconds, double(s.samples) / s.seconds);
    }
    const epoch_stats t = evaluate(net, loss, test_batches);
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", t.loss, t.accuracy);
}
