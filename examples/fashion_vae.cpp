// A convolutional variational autoencoder on Fashion-MNIST (Kingma & Welling).
// The encoder (stride-2 convolutions, then two Dense heads side by side in a
// Parallel<Concat<0>, ...>) gives each image the mean and log-variance of a
// 16-dimensional Gaussian; a sample of it, z = mean + eps * exp(log_variance / 2)
// (the reparameterisation trick), read as a 16-channel 1x1 image, goes
// through a transposed-convolution decoder to 28x28 pixel logits. The loss is
// the reconstruction's binary cross-entropy summed over pixels plus the KL
// divergence from N(0, I), per image; its negative is the ELBO, reported on the
// test set every epoch (nats per image; higher is better). Every epoch writes
// test images above their reconstructions, and decoded samples of N(0, I).
// Usage: fashion_vae [--short] [epochs] [seed] [output directory]
// (--short: one epoch of 60 steps and 1,000 test images, as CI runs it)
#include <lepton/data/fashion_mnist.hpp>
#include <lepton/io/plot.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/conv_transpose2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/losses/bce_with_logits.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/parallel.hpp>
#include <lepton/optim/adam.hpp>

#include "example_args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace lepton;

constexpr std::size_t latent = 16;
constexpr float pixels = 28 * 28;
using Encoder = Sequential<Input<1, 28, 28>, Conv2D<32, 4, 2, 1>, ReLU, Conv2D<64, 4, 2, 1>, ReLU, Flatten, Dense<256>,
                           ReLU, Parallel<Concat<0>, Dense<latent>, Dense<latent>>>;  // [mean, log-variance]
using Decoder = Sequential<Input<latent, 1, 1>, ConvTranspose2D<64, 7>, ReLU,           // -> 7x7
                           ConvTranspose2D<32, 4, 2, 1>, ReLU,                           // -> 14x14
                           ConvTranspose2D<1, 4, 2, 1>>;                                 // -> 28x28 logits
static_assert(std::is_same_v<Encoder::output_shape, Shape<2 * latent>>);
static_assert(std::is_same_v<Decoder::output_shape, Encoder::input_shape>);

namespace {

/// The loss of a batch per image: the reconstruction's cross-entropy summed over pixels, and the KL term.
struct step_result {
    double reconstruction = 0, kl = 0;
};

/// One batch through the VAE: encodes `x`, samples z (left in `z`) with `rng`, decodes, and returns
/// the loss; `train` also back-propagates it into both networks' gradients.

step_result run(Encoder& encoder, Decoder& decoder, const tensor<float, 4>& x, random_engine& rng,
                BCEWithLogitsLoss<float, 4>& bce, bool train, tensor<float, 4>& z, tensor<float, 2>& eps,
                tensor<float, 2>& dh)
{
    const std::size_t n = x.shape()[0];
    const auto& h = encoder.forward(x);  // [n, 2 * latent]
    ensure_shape(z, std::array<std::size_t, 4>{n, latent, 1, 1});
    ensure_shape(eps, std::array<std::size_t, 2>{n, latent});
    step_result r;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < latent; ++j) {
            const float mean = h(i, j), log_var = h(i, latent + j);
            eps(i, j) = float(rng.normal());
            z(i, j, 0, 0) = mean + eps(i, j) * std::exp(0.5f * log_var);
            r.kl += -0.5 * (1.0 + log_var - double(mean) * mean - std::exp(double(log_var)));
        }
    r.kl /= double(n);
    const auto& logits = decoder.forward(z);
    r.reconstruction = double(bce(logits, x)) * pixels;  // bce's mean over n * 784 elements, as a sum per image
    if (!train) return r;
    // dL/dlogits for L = (1/n) sum over images of (cross-entropy summed over pixels + KL).
    tensor<float, 4> dlogits = bce.gradient() * pixels;
    const auto& dz = decoder.backward(dlogits, /*input_grad=*/true);
    ensure_shape(dh, std::array<std::size_t, 2>{n, 2 * latent});
    const float inv_n = 1.0f / float(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < latent; ++j) {
            const float mean = h(i, j), log_var = h(i, latent + j), sigma = std::exp(0.5f * log_var);
            dh(i, j) = dz(i, j, 0, 0) + mean * inv_n;
            dh(i, latent + j) = dz(i, j, 0, 0) * eps(i, j) * 0.5f * sigma + 0.5f * (sigma * sigma - 1.0f) * inv_n;
        }
    encoder.backward(dh);
    return r;
}

/// Logits [N, 1, 28, 28] as pixels in [0, 1].
tensor<float, 4> sigmoid(const tensor<float, 4>& logits)
{
    tensor<float, 4> p = logits;
    for (auto& v : p) v = 1.0f / (1.0f + std::exp(-v));
    return p;
}

} // namespace

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const int epochs = int(args.integer(0, args.short_run() ? 1 : 10));
    const auto seed = std::uint64_t(args.integer(1, 1));
    const std::filesystem::path out_dir = args.text(2, "output");
    if (!LEPTON_HAS_PNG) {
        std::fprintf(stderr, "fashion_vae writes its pictures as PNG files: build it with stb_image_write.h (Debian: libstb-dev)\n");
        return 1;
    }
    std::filesystem::create_directories(out_dir);

    auto train = data::fashion_mnist_train();  // pixels in [0, 1]: the targets of the cross-entropy
    auto test = data::fashion_mnist_test();
    if (args.short_run()) train = first_samples(train, 60 * 64), test = first_samples(test, 1000);

    Encoder encoder(seed);
    Decoder decoder(seed + 1);
    std::printf("%s%s", Encoder::summary().c_str(), Decoder::summary().c_str());
    Adam enc_opt(encoder, {.lr = 1e-3}), dec_opt(decoder, {.lr = 1e-3});
    BCEWithLogitsLoss<float, 4> bce;
    data::BatchLoader loader(train, 64, /*shuffle=*/true, seed);
    random_engine rng(seed + 2);
    tensor<float, 4> z, prior({64, latent, 1, 1});
    tensor<float, 2> eps, dh;
    for (auto& v : prior) v = float(rng.normal());  // the same prior samples every epoch

    double test_elbo = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        const auto start = std::chrono::steady_clock::now();
        loader.start_epoch();
        double train_loss = 0;
        for (std::size_t b = 0; b < loader.batches(); ++b) {
            auto batch = loader[b];
            encoder.zero_grad();
            decoder.zero_grad();
            const step_result r = run(encoder, decoder, batch.features, rng, bce, /*train=*/true, z, eps, dh);
            enc_opt.step();
            dec_opt.step();
            train_loss += (r.reconstruction + r.kl) * double(batch.labels.size());
        }
        train_loss /= double(train.size());

        // The test ELBO: one sample of z per image, from a generator seeded the same every epoch.
        random_engine test_rng(seed + 3);
        data::BatchLoader test_loader(test, 500, /*shuffle=*/false);
        double recon = 0, kl = 0;
        for (std::size_t b = 0; b < test_loader.batches(); ++b) {
            auto batch = test_loader[b];
            const step_result r = run(encoder, decoder, batch.features, test_rng, bce, /*train=*/false, z, eps, dh);
            recon += r.reconstruction * double(batch.labels.size());
            kl += r.kl * double(batch.labels.size());
        }
        recon /= double(test.size());
        kl /= double(test.size());
        test_elbo = -(recon + kl);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("epoch %d/%d  train_loss %.2f  test_elbo %.2f (reconstruction %.2f, kl %.2f)  %.1f s\n", epoch, epochs,
                    train_loss, test_elbo, recon, kl, seconds);
        std::fflush(stdout);

        // Pictures: 32 test images (rows 1, 3, ...) above their reconstructions (rows 2, 4, ...), and 64 samples.
        tensor<float, 4> first({32, 1, 28, 28});
        std::copy_n(test.features.data(), first.size(), first.data());
        random_engine picture_rng(seed + 4);
        run(encoder, decoder, first, picture_rng, bce, false, z, eps, dh);
        const tensor<float, 4> reconstructed = sigmoid(decoder.forward(z));
        tensor<float, 4> pairs({64, 1, 28, 28});
        for (std::size_t i = 0; i < 32; ++i) {
            const std::size_t row = i / 8, col = i % 8;
            std::copy_n(first.data() + i * 784, 784, pairs.data() + ((2 * row) * 8 + col) * 784);
            std::copy_n(reconstructed.data() + i * 784, 784, pairs.data() + ((2 * row + 1) * 8 + col) * 784);
        }
        char name[80];
        std::snprintf(name, sizeof name, "fashion_vae_reconstructions_epoch_%03d.png", epoch);
        io::save_image_grid((out_dir / name).string(), pairs, 8, 8, 0.0, 1.0, 2);
        std::snprintf(name, sizeof name, "fashion_vae_samples_epoch_%03d.png", epoch);
        io::save_image_grid((out_dir / name).string(), sigmoid(decoder.forward(prior)), 8, 8, 0.0, 1.0, 2);
    }
    std::printf("wrote %s/fashion_vae_reconstructions_epoch_*.png and fashion_vae_samples_epoch_*.png\n",
                out_dir.string().c_str());
    if (epochs > 0) std::printf("test_elbo: %.2f\n", test_elbo);
}
