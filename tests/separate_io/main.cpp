// LEPTON_SEPARATE_IO: checkpoints are saved and loaded from a translation
// unit that never sees nlohmann::json; impl.cpp compiles the JSON code once.
#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

#if defined(NLOHMANN_JSON_VERSION_MAJOR)
#error "with LEPTON_SEPARATE_IO the checkpoint headers must not include nlohmann/json.hpp"
#endif

#include <cstdio>
#include <filesystem>

int main()
{
    using Net = lepton::Sequential<lepton::Input<3>, lepton::Dense<2>>;
    Net a(1), b(2);
    lepton::Adam optimizer(a);
    const auto path = std::filesystem::temp_directory_path() / "lepton_separate_io.safetensors";
    lepton::io::save_checkpoint(path, a, optimizer, 5);
    lepton::Adam other(b);
    const auto epoch = lepton::io::load_checkpoint(path, b, other);
    const bool same = std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin());
    std::filesystem::remove(path);
    std::printf("epoch %lld, parameters %s\n", static_cast<long long>(epoch), same ? "equal" : "differ");
    return epoch == 5 && same ? 0 : 1;
}
