// Fine-tuning. A CNN is pretrained on Fashion-MNIST classes 0-4 (T-shirt/top,
// trouser, pullover, dress, coat). Its convolutional body is then reused,
// frozen, under a new classifier head trained on only 1,000 labelled images of
// classes 5-9 (sandal, shirt, sneaker, bag, ankle boot), and compared with the
// same network trained from scratch on the same 1,000 images.
// Usage: transfer_learning [--short] [seed] [pretrain_epochs] [finetune_epochs]
// (--short: pretraining on 2,000 images for one epoch, two fine-tuning epochs, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

using namespace lepton;

// Layers 0-6 are the body (two convolution blocks and Flatten); 7-9 the head.
using CNN = Sequential<Input<1, 28, 28>,
                       Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Flatten, Dense<128>, ReLU, Dense<5>>;

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int pretrain_epochs = int(args.integer(1, args.short_run() ? 1 : 2));
    const int finetune_epochs = int(args.integer(2, args.short_run() ? 2 : 15));

    auto train = data::fashion_mnist_train(), test = data::fashion_mnist_test();
    data::standardize(train, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    data::standardize(test, data::fashion_mnist_mean, data::fashion_mnist_stddev);
    const std::array<std::int32_t, 5> first{0, 1, 2, 3, 4}, second{5, 6, 7, 8, 9};
    const auto pretrain_set = data::select_classes(train, std::span(first), args.short_run() ? 2000 : 0);
    const auto small_set = data::select_classes(train, std::span(second), 1000);
    const auto target_test = data::select_classes(test, std::span(second), args.short_run() ? 1000 : 0);
    std::printf("pretraining on %zu images of classes 0-4; the new task has %zu labelled images of classes 5-9\n",
                pretrain_set.size(), small_set.size());

    auto accuracy = [] { return std::make_shared<metrics::accuracy<float>>(); };
    CrossEntropyLoss<float> loss;

    CNN pretrained(seed, init::glorot_uniform{});
    {
        Adam optimizer(pretrained, {.lr = 1e-3});
        std::printf("\n-- pretraining (classes 0-4)\n");
        fit(pretrained, optimizer, loss, pretrain_set,
            {.epochs = pretrain_epochs, .batch_size = 64, .seed = seed, .metrics = {accuracy()}});
    }

    // The same architecture with a fresh head; the body comes from the pretrained network and stays frozen.
    CNN finetuned(seed + 1, init::glorot_uniform{});
    const auto copied = transfer_parameters(pretrained, finetuned, all_except({"7", "9"}));
    finetuned.freeze_until(7);
    std::printf("\n-- fine-tuning the head on 1,000 images (%zu body tensors copied and frozen)\n", copied.size());
    {
        Adam optimizer(finetuned, {.lr = 1e-3});
        fit(finetuned, optimizer, loss, small_set,
            {.epochs = finetune_epochs, .batch_size = 32, .seed = seed, .metrics = {accuracy()}, .verbose = verbosity::line});
    }

    CNN scratch(seed + 1, init::glorot_uniform{});
    std::printf("\n-- training the whole network from scratch on the same 1,000 images\n");
    {
        Adam optimizer(scratch, {.lr = 1e-3});
        fit(scratch, optimizer, loss, small_set,
            {.epochs = finetune_epochs, .batch_size = 32, .seed = seed, .metrics = {accuracy()}, .verbose = verbosity::line});
    }

    const double tuned_acc = evaluate(finetuned, loss, target_test, {.metrics = {accuracy()}}).get("accuracy");
    const double scratch_acc = evaluate(scratch, loss, target_test, {.metrics = {accuracy()}}).get("accuracy");
    std::printf("\ntest accuracy on classes 5-9 (%zu images):\n", target_test.size());
    std::printf("  fine-tuned head on the pretrained body: %.4f\n", tuned_acc);
    std::printf("  trained from scratch:                   %.4f\n", scratch_acc);
    std::printf("finetuned_accuracy: %.4f\nscratch_accuracy: %.4f\n", tuned_acc, scratch_acc);
}
