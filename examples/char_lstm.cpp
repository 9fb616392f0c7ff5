// A character-level language model trained on the fortune cookies of Debian's
// `fortunes` package: Embedding, two stacked LSTMs and a per-step Dense; it
// prints the loss and perplexity per epoch and then samples a paragraph one
// character at a time, carrying the LSTM states from step to step.
//
//   char_lstm [--short] [seed=1] [temperature=0.8] [epochs=8] [batches_per_epoch=500] [corpus_dir]
//   (--short: one epoch of 30 batches and a 200-character sample, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace lepton;

namespace {

// Printable ASCII and the newline: 96 symbols; tabs become spaces, anything else '?'.
constexpr std::size_t vocabulary = 96;
std::int32_t encode(char c)
{
    if (c == '\t') c = ' ';
    return c == '\n' ? 95 : (c >= 32 && c < 127 ? c - 32 : '?' - 32);
}
char decode(std::int32_t id) { return id == 95 ? '\n' : char(id + 32); }

constexpr std::size_t hidden = 192;
using CharModel = Sequential<Input<dynamic>, Embedding<vocabulary, 48>, LSTM<hidden, true>, LSTM<hidden, true>,
                             TimeDistributed<Dense<vocabulary>>>;

/// Every plain-text fortune file of the directory, concatenated ('%' separators become blank lines).
std::string read_corpus(const std::string& dir)
{
    std::string text;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.is_regular_file() && !entry.is_symlink() && entry.path().extension().empty()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f);
        std::string line;
        while (std::getline(in, line)) text += (line == "%" ? std::string() : line) + '\n';
    }
    if (text.empty()) throw io_error("lepton: no fortune files in '" + dir + "' (install Debian's `fortunes`)");
    return text;
}

/// Draws the next character from the last step's logits, sharpened by the temperature.
std::int32_t sample(const float* logits, double temperature, random_engine& rng)
{
    double p[vocabulary], total = 0, max = logits[0];
    for (std::size_t c = 1; c < vocabulary; ++c) max = std::max(max, double(logits[c]));
    for (std::size_t c = 0; c < vocabulary; ++c) total += p[c] = std::exp((logits[c] - max) / temperature);
    double u = rng.uniform() * total;
    for (std::size_t c = 0; c < vocabulary; ++c)
        if ((u -= p[c]) <= 0) return std::int32_t(c);
    return std::int32_t(vocabulary - 1);
}

} // namespace

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const double temperature = args.number(1, 0.8);
    const int epochs = int(args.integer(2, args.short_run() ? 1 : 8));
    const auto batches = std::size_t(args.integer(3, args.short_run() ? 30 : 500));
    const std::string dir = args.text(4, "/usr/share/games/fortunes");
    const int sample_length = args.short_run() ? 200 : 500;

    const std::string text = read_corpus(dir);
    std::vector<std::int32_t> ids(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) ids[i] = encode(text[i]);
    std::printf("corpus: %zu characters from %s\n%s", text.size(), dir.c_str(), CharModel::summary().c_str());

    CharModel net(seed);
    Adam optimizer(net, {.lr = 2e-3});
    CrossEntropyLoss<float, 3> loss;
    random_engine rng(seed);

    // Batches of random windows: inputs are characters t .. t+L-1, targets t+1 .. t+L.
    constexpr std::size_t batch = 32, length = 64;
    tensor<float, 2> x({batch, length});
    std::vector<std::int32_t> targets(batch * length);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        double total = 0;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t b = 0; b < batches; ++b) {
            for (std::size_t s = 0; s < batch; ++s) {
                const std::size_t at = rng.below(ids.size() - length - 1);
                for (std::size_t t = 0; t < length; ++t) {
                    x(s, t) = float(ids[at + t]);
                    targets[s * length + t] = ids[at + t + 1];
                }
            }
            net.zero_grad();
            total += loss(net.forward(x), targets);
            net.backward(loss.gradient());
            clip_grad_norm(net.gradients(), 5.0);
            optimizer.step();
        }
        const double mean = total / double(batches);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("epoch %d/%d  loss %.4f  perplexity %.2f  %.1f s\n", epoch, epochs, mean, std::exp(mean), seconds);
        std::fflush(stdout);
    }

    // Sampling: one character per call, each LSTM starting from the state the previous call ended in.
    net.eval();
    auto& first = net.layer<1>();
    auto& second = net.layer<2>();
    first.clear_initial_state();
    second.clear_initial_state();
    std::string generated;
    tensor<float, 2> step({1, 1});
    std::int32_t next = encode('\n');
    for (int i = 0; i < sample_length; ++i) {
        step(0, 0) = float(next);
        const auto& logits = net.forward(step);
        first.set_initial_state(first.final_hidden(), first.final_cell());
        second.set_initial_state(second.final_hidden(), second.final_cell());
        next = sample(logits.data(), temperature, rng);
        generated += decode(next);
    }
    std::printf("--- sample (seed %llu, temperature %.2f) ---\n%s\n", static_cast<unsigned long long>(seed), temperature,
                generated.c_str());
}
