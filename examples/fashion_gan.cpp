// A generative adversarial network on Fashion-MNIST (multi-layer perceptrons,
// Goodfellow et al.'s recipe with Radford et al.'s Adam settings). The
// generator maps 100 Gaussian numbers to a 28x28 image in [-1, 1]; the
// discriminator scores images as real or generated, trained with
// BCEWithLogitsLoss. The generator learns through the discriminator: its
// gradient is the discriminator's input gradient. Every epoch writes a grid of
// samples from fixed noise; the end writes a plot of both losses.
// Usage: fashion_gan [--short] [epochs] [seed] [output directory]
// (--short: one epoch of 60 steps, as CI runs it)
#include <lepton/io/plot.hpp>
#include <lepton/lepton.hpp>

#include "example_args.hpp"
#include "gan_step.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using namespace lepton;

constexpr std::size_t noise_size = 100;
using Generator = Sequential<Input<noise_size>, Dense<256>, LeakyReLU<0.2>, Dense<512>, LeakyReLU<0.2>, Dense<1024>,
                             LeakyReLU<0.2>, Dense<784>, Tanh>;
using Discriminator = Sequential<Input<784>, Dense<512>, LeakyReLU<0.2>, Dropout<0.3>, Dense<256>, LeakyReLU<0.2>,
                                 Dropout<0.3>, Dense<1>>;

void fill_noise(tensor<float, 2>& z, random_engine& rng)
{
    for (auto& v : z) v = float(rng.normal());
}

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const int epochs = int(args.integer(0, args.short_run() ? 1 : 15));
    const auto seed = std::uint64_t(args.integer(1, 1));
    const std::filesystem::path out_dir = args.text(2, "output");
    if (!LEPTON_HAS_PNG) {
        std::fprintf(stderr, "fashion_gan writes its samples as PNG files: build it with stb_image_write.h (Debian: libstb-dev)\n");
        return 1;
    }
    std::filesystem::create_directories(out_dir);

    // Images as 784 pixels in [-1, 1], the generator's Tanh range.
    auto train = data::fashion_mnist_train();
    if (args.short_run()) train = first_samples(train, 60 * 64);
    data::Dataset<float, 1> images;
    images.features.resize({train.size(), std::size_t(784)});
    std::transform(train.features.begin(), train.features.end(), images.features.begin(),
                   [](float p) { return 2.0f * p - 1.0f; });
    images.labels = train.labels;

    Generator generator(seed);
    Discriminator discriminator(seed + 1);
    Adam g_opt(generator, {.lr = 2e-4, .beta1 = 0.5});
    Adam d_opt(discriminator, {.lr = 2e-4, .beta1 = 0.5});

    constexpr std::size_t batch = 64;
    data::BatchLoader loader(images, batch, /*shuffle=*/true, seed);
    random_engine rng(seed + 2);
    tensor<float, 2> z({batch, noise_size}), fixed_z({64, noise_size});
    fill_noise(fixed_z, rng);
    gan_step step(batch);
    std::vector<double> d_losses, g_losses;

    for (int epoch = 1; epoch <= epochs; ++epoch) {
        const auto start = std::chrono::steady_clock::now();
        loader.start_epoch();
        double d_sum = 0, g_sum = 0;
        std::size_t steps = 0;
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            auto real = loader[b];
            const std::size_t n = real.labels.size();
            if (n != batch) continue;  // keep every step the same size
            const gan_losses l = step(generator, discriminator, g_opt, d_opt, real.features, z,
                                      [&](tensor<float, 2>& noise) { fill_noise(noise, rng); });
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
        generator.eval();
        const auto& samples = generator.forward(fixed_z);
        generator.train();
        tensor<float, 4> grid({std::size_t(64), std::size_t(1), std::size_t(28), std::size_t(28)});
        std::copy(samples.begin(), samples.end(), grid.begin());
        char name[64];
        std::snprintf(name, sizeof name, "fashion_gan_epoch_%03d.png", epoch);
        io::save_image_grid((out_dir / name).string(), grid, 8, 8, -1.0, 1.0, 2);
    }
    io::plot_curves((out_dir / "fashion_gan_losses.png").string(), "GAN losses (BCE)",
                    {{"discriminator (real + fake)", d_losses}, {"generator", g_losses}});
    std::printf("wrote %s/fashion_gan_epoch_*.png and fashion_gan_losses.png\n", out_dir.string().c_str());
}
