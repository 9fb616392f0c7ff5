// A deep convolutional GAN on Fashion-MNIST (Radford et al.'s DCGAN, sized for
// two cores). The generator grows 100 Gaussian numbers, read as a 100-channel
// 1x1 image, into a 7x7 map and then a 14x14 and a 28x28 image with transposed
// convolutions (BatchNorm and ReLU between them, Tanh at the end); the
// discriminator shrinks an image with stride-2 convolutions and LeakyReLU(0.2)
// to one logit. Both train with BCEWithLogitsLoss and Adam(2e-4, beta1 = 0.5);
// the generator learns through the discriminator's input gradient. Every epoch
// writes an 8x8 grid of samples from fixed noise; the end writes both losses.
// Usage: fashion_dcgan [--short] [epochs] [seed] [output directory]
// (--short: one epoch of 60 steps, as CI runs it)
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/io/plot.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/conv_transpose2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

#include "example_args.hpp"
#include "gan_step.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace lepton;

constexpr std::size_t noise_size = 100;
using Generator = Sequential<Input<noise_size, 1, 1>,
                             ConvTranspose2D<64, 7, 1, 0, 0, 1, 1, false>, BatchNorm2D<>, ReLU,  // 1x1 -> 7x7
                             ConvTranspose2D<32, 4, 2, 1, 0, 1, 1, false>, BatchNorm2D<>, ReLU,  // -> 14x14
                             ConvTranspose2D<1, 4, 2, 1>, Tanh>;                                // -> 28x28
using Discriminator = Sequential<Input<1, 28, 28>,
                                 Conv2D<32, 4, 2, 1>, LeakyReLU<0.2>,                          // -> 14x14
                                 Conv2D<64, 4, 2, 1, 1, 1, false>, BatchNorm2D<>, LeakyReLU<0.2>,  // -> 7x7
                                 Flatten, Dense<1>>;
static_assert(std::is_same_v<Generator::output_shape, Discriminator::input_shape>);

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const int epochs = int(args.integer(0, args.short_run() ? 1 : 5));
    const auto seed = std::uint64_t(args.integer(1, 1));
    const std::filesystem::path out_dir = args.text(2, "output");
    if (!LEPTON_HAS_PNG) {
        std::fprintf(stderr, "fashion_dcgan writes its samples as PNG files: build it with stb_image_write.h (Debian: libstb-dev)\n");
        return 1;
    }
    std::filesystem::create_directories(out_dir);

    // Images [N, 1, 28, 28] in [-1, 1], the generator's Tanh range.
    auto train = data::fashion_mnist_train();
    if (args.short_run()) train = first_samples(train, 60 * 64);
    train.features = train.features * 2.0f - 1.0f;

    Generator generator(seed, init::normal<0.02>{});
    Discriminator discriminator(seed + 1, init::normal<0.02>{});
    std::printf("%s%s", Generator::summary().c_str(), Discriminator::summary().c_str());
    Adam g_opt(generator, {.lr = 2e-4, .beta1 = 0.5});
    Adam d_opt(discriminator, {.lr = 2e-4, .beta1 = 0.5});

    constexpr std::size_t batch = 64;
    data::BatchLoader loader(train, batch, /*shuffle=*/true, seed);
    random_engine rng(seed + 2);
    auto noise = [&](tensor<float, 4>& z) {
        for (auto& v : z) v = float(rng.normal());
    };
    tensor<float, 4> z({batch, noise_size, 1, 1}), fixed_z({64, noise_size, 1, 1});
    noise(fixed_z);
    gan_step step(batch);
    std::vector<double> d_losses, g_losses;

    for (int epoch = 1; epoch <= epochs; ++epoch) {
        const auto start = std::chrono::steady_clock::now();
        loader.start_epoch();
        double d_sum = 0, g_sum = 0;
        std::size_t steps = 0;
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            auto real = loader[b];
            if (real.labels.size() != batch) continue;  // keep every step the same size
            // A real and a generated batch for the discriminator, each on its own (as PyTorch's DCGAN example does).
            const gan_losses l = step(generator, discriminator, g_opt, d_opt, real.features, z, noise);
            d_sum += l.discriminator;
            g_sum += l.generator;
            ++steps;
        }
        d_losses.push_back(d_sum / double(steps));
        g_losses.push_back(g_sum / double(steps));
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("epoch %d/%d  discriminator_loss %.4f  generator_loss %.4f  %.1f s\n", epoch, epochs,
                    d_losses.back(), g_losses.back(), seconds);
        std::fflush(stdout);
        // Samples in training mode (batch statistics), as PyTorch's DCGAN example draws them.
        const auto& samples = generator.forward(fixed_z);
        char name[64];
        std::snprintf(name, sizeof name, "fashion_dcgan_epoch_%03d.png", epoch);
        io::save_image_grid((out_dir / name).string(), samples, 8, 8, -1.0, 1.0, 2);
    }
    io::plot_curves((out_dir / "fashion_dcgan_losses.png").string(), "DCGAN losses (BCE)",
                    {{"discriminator (real + fake)", d_losses}, {"generator", g_losses}});
    std::printf("wrote %s/fashion_dcgan_epoch_*.png and fashion_dcgan_losses.png\n", out_dir.string().c_str());
}
