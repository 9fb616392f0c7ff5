// The Fashion-MNIST CNN's training step fed three ways, in one run: from
// memory (BatchLoader, the baseline), from PNG files decoded and augmented
// (random crop with padding 2, horizontal flip) by ImageLoader on its
// background thread, and the same on the training thread (prefetch = 0, what
// the background thread hides). The images are the first 6,400 training images,
// written once as PNG files under $TMPDIR (else /tmp).
//   ./bench_image_loader
#include "peak.hpp"

#include <lepton/data/fashion_mnist.hpp>
#include <lepton/data/image_folder.hpp>
#include <lepton/data/image_loader.hpp>
#include <lepton/data/image_transforms.hpp>
#include <lepton/data/subset.hpp>
#include <lepton/io/png.hpp>
#include <lepton/kernels/parallel.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

using namespace lepton;
namespace fs = std::filesystem;

namespace {

using CNN = Sequential<Input<1, 28, 28>, Conv2D<32, 3, 1, Padding::same>, ReLU, MaxPool2D<2>,
                       Conv2D<64, 3, 1, Padding::same>, ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;

constexpr std::size_t image_count = 6400;

/// The PNG folder (written on first use) and its ImageFolder.
const data::ImageFolder& png_images()
{
    static const std::unique_ptr<data::ImageFolder> folder = [] {
        const char* tmp = std::getenv("TMPDIR");
        const fs::path root = fs::path(tmp && *tmp ? tmp : "/tmp") / "lepton_bench_png";
        const fs::path marker = root / ("complete_" + std::to_string(image_count));
        if (!fs::exists(marker)) {
            fs::remove_all(root);
            const auto train = data::fashion_mnist_train();
            std::vector<std::uint8_t> pixels(28 * 28);
            for (std::size_t i = 0; i < image_count; ++i) {
                const fs::path dir = root / std::to_string(train.labels[i]);
                fs::create_directories(dir);
                for (std::size_t p = 0; p < pixels.size(); ++p)
                    pixels[p] = std::uint8_t(train.features.data()[i * pixels.size() + p] * 255.0f + 0.5f);
                io::write_png((dir / (std::to_string(i) + ".png")).string(), 28, 28, 1, pixels.data());
            }
            std::ofstream(marker) << "bench_image_loader\n";
        }
        return std::make_unique<data::ImageFolder>(
            root.string(), data::image_options{.channels = 1, .height = 28, .width = 28,
                                               .mean = {data::fashion_mnist_mean}, .stddev = {data::fashion_mnist_stddev}});
    }();
    return *folder;
}

/// Training steps of the CNN on the batches `next()` hands out, on `state.range(0)` threads.
template <class Next>
void train_steps(benchmark::State& state, Next next)
{
    set_num_threads(int(state.range(0)));
    CNN net(1);
    Adam optimizer(net, {.lr = 1e-3});
    CrossEntropyLoss<float> loss;
    for (auto _ : state) {
        const auto batch = next();
        net.zero_grad();
        loss(net.forward(batch.features), batch.labels);
        net.backward(loss.gradient());
        optimizer.step();
    }
    state.counters["samples/s"] = benchmark::Counter(64, benchmark::Counter::kIsIterationInvariantRate);
}

/// Batches of `loader` in order, a new epoch after the last.
template <class Loader>
auto cycling(Loader& loader)
{
    return [&loader, b = loader.batches()]() mutable {
        if (b == loader.batches()) loader.start_epoch(), b = 0;
        return loader[b++];
    };
}

void BM_StepFromMemory(benchmark::State& state)
{
    static const auto memory = png_images().load_all();
    data::BatchLoader<float, 3> loader(memory, 64, true, 1);
    loader.set_transform(data::random_horizontal_flip<float>);
    train_steps(state, cycling(loader));
}

void BM_StepFromPngFiles(benchmark::State& state)
{
    data::ImageLoader<float> loader(png_images(),
                                    {.batch_size = 64, .seed = 1,
                                     .augment = {data::RandomCrop{.padding = 2}, data::RandomHorizontalFlip{}},
                                     .prefetch = std::size_t(state.range(1))});
    train_steps(state, cycling(loader));
}

/// Decoding and augmenting alone: one batch of 64 PNG files on the calling thread.
void BM_DecodeAugmentBatch(benchmark::State& state)
{
    data::ImageLoader<float> loader(png_images(),
                                    {.batch_size = 64, .seed = 1,
                                     .augment = {data::RandomCrop{.padding = 2}, data::RandomHorizontalFlip{}},
                                     .prefetch = 0});
    auto next = cycling(loader);
    for (auto _ : state) benchmark::DoNotOptimize(next().features.data());
    state.counters["images/s"] = benchmark::Counter(64, benchmark::Counter::kIsIterationInvariantRate);
}

} // namespace

BENCHMARK(BM_DecodeAugmentBatch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StepFromMemory)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StepFromPngFiles)
    ->ArgsProduct({{1, 2}, {2, 0}})
    ->ArgNames({"threads", "prefetch"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

LEPTON_BENCHMARK_MAIN()
