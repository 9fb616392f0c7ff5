// LEPTON_SEPARATE_IO and LEPTON_SEPARATE_KERNELS: a convolutional network is
// trained, saved and loaded from a translation unit that never sees
// nlohmann::json and compiles none of the large kernels; impl.cpp compiles
// both once (CTest also checks that this unit's object leaves them undefined).
#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

#if defined(NLOHMANN_JSON_VERSION_MAJOR)
#error "with LEPTON_SEPARATE_IO the checkpoint headers must not include nlohmann/json.hpp"
#endif

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

int main()
{
    using namespace lepton;
    // 16 channels on both sides of a 3x3 convolution: the Winograd kernels; the Dense: the GEMM.
    using Net = Sequential<Input<16, 8, 8>, Conv2D<16, 3, 1, Padding::same>, ReLU, Flatten, Dense<2>>;
    Net a(1), b(2);
    Adam optimizer(a);
    CrossEntropyLoss<float> loss;
    Net::input_type x({4, 16, 8, 8});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 7) / 7 - 0.5f;
    const std::vector<std::int32_t> labels{0, 1, 1, 0};
    const float before = loss(a.forward(x), labels);
    for (int step = 0; step < 5; ++step) {
        a.zero_grad();
        loss(a.forward(x), labels);
        a.backward(loss.gradient());
        optimizer.step();
    }
    const float after = loss(a.forward(x), labels);

    const auto path = std::filesystem::temp_directory_path() / "lepton_separate_compilation.safetensors";
    io::save_checkpoint(path, a, optimizer, 5);
    Adam other(b);
    const auto epoch = io::load_checkpoint(path, b, other);
    std::filesystem::remove(path);
    const bool same = std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin());
    const auto ya = a.forward(x);
    const auto& yb = b.forward(x);
    const bool same_outputs = std::equal(ya.begin(), ya.end(), yb.begin());
    std::printf("loss %.4f -> %.4f, epoch %lld, parameters %s, outputs %s\n", before, after,
                static_cast<long long>(epoch), same ? "equal" : "differ", same_outputs ? "equal" : "differ");
    return after < before && epoch == 5 && same && same_outputs ? 0 : 1;
}
