// The main Fashion-MNIST CNN, trained data-parallel over MPI: every rank holds
// a replica, trains on its share of each batch of 64 (32 each on 2 ranks) and
// averages gradients with the others during backward. Rank 0 prints.
// Usage: mpirun -np 2 fashion_mnist_cnn_mpi [--short] [seed] [epochs]
// (--short: one epoch on the first 2,000 training and test images, as CI runs it)
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/distributed/data_parallel.hpp>
#include <lepton/distributed/mpi.hpp>
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
#include <string>

using namespace lepton;

using CNN = Sequential<Input<1, 28, 28>,
                       Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Flatten, Dense<128>, ReLU, Dense<10>>;

int main(int argc, char** argv)
{
    distributed::mpi::environment mpi(argc, argv);
    distributed::mpi::group world;
    const bool root = world.rank() == 0;

    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 1 : 3));

    // Every rank reads the whole set; each trains on its own share of every batch.
    auto train = data::fashion_mnist_train();
    auto test = data::fashion_mnist_test();
    if (args.short_run()) train = first_samples(train, 2000), test = first_samples(test, 2000);
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);

    // The same seed on every rank; fit takes rank 0's weights anyway.
    CNN net(seed, init::glorot_uniform{});
    if (root) std::printf("%sranks: %d, threads per rank: %d\n", CNN::summary().c_str(), world.size(), num_threads());
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;

    // 64 samples per step over all ranks, as the single-process example.
    const std::size_t per_rank = 64 / std::size_t(world.size());
    const History history =
        fit(net, optimizer, loss, train,
            {.epochs = epochs, .batch_size = per_rank, .seed = seed, .validation = &test,
             .metrics = {std::make_shared<metrics::accuracy<float>>()}, .process_group = &world});

    // The replicas stayed equal, bit for bit (a collective: every rank asks).
    const bool identical = distributed::parameters_agree(net, world);
    if (!root || history.epochs() == 0) return identical ? 0 : 1;
    std::printf("replicas identical: %s\n", identical ? "yes" : "NO");
    std::printf("test_loss: %.4f\ntest_accuracy: %.4f\n", history["val_loss"].back(), history["val_accuracy"].back());
    return identical ? 0 : 1;
}
