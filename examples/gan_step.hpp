// One step of adversarial training, shared by the GAN examples: the
// discriminator learns to call a real batch real (1) and a generated one
// generated (0), then the generator learns to make the discriminator call its
// images real, its gradient arriving through the discriminator's input
// (`generator.backward(discriminator.backward(dL, /*input_grad=*/true))`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <lepton/losses/bce_with_logits.hpp>

/// The discriminator's loss (on the real batch plus on the generated one) and the generator's, of one step.
struct gan_losses {
    double discriminator = 0;
    double generator = 0;
};

/// The losses and labels of adversarial steps on batches of `batch` images.
class gan_step {
public:
    explicit gan_step(std::size_t batch) : ones_(batch, 1), zeros_(batch, 0) {}

    /// One step: `noise(z)` draws a fresh generator input before each of the two generator passes.
    template <class Generator, class Discriminator, class GeneratorOptimizer, class DiscriminatorOptimizer, class Noise>
    gan_losses operator()(Generator& generator, Discriminator& discriminator, GeneratorOptimizer& g_opt,
                          DiscriminatorOptimizer& d_opt, const typename Discriminator::input_type& real,
                          typename Generator::input_type& z, Noise&& noise)
    {
        noise(z);
        const typename Generator::output_type fake = generator.forward(z);
        discriminator.zero_grad();
        const double on_real = real_loss_(discriminator.forward(real), ones_);
        discriminator.backward(real_loss_.gradient());
        const double on_fake = fake_loss_(discriminator.forward(fake), zeros_);
        discriminator.backward(fake_loss_.gradient());
        d_opt.step();
        noise(z);
        generator.zero_grad();
        const double fooled = generator_loss_(discriminator.forward(generator.forward(z)), ones_);
        generator.backward(discriminator.backward(generator_loss_.gradient(), /*input_grad=*/true));
        g_opt.step();
        return {on_real + on_fake, fooled};
    }

private:
    lepton::BCEWithLogitsLoss<float> real_loss_, fake_loss_, generator_loss_;
    std::vector<std::int32_t> ones_, zeros_;
};
