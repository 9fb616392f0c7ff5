// A program outside Lepton's tree: builds a small network, runs one forward
// pass and checks the output shape and values.
#include <lepton/lepton.hpp>

#include <cmath>
#include <cstdio>

using Net = lepton::Sequential<lepton::Input<4>, lepton::Dense<8>, lepton::ReLU, lepton::Dense<2>>;
static_assert(Net::parameter_count == 4 * 8 + 8 + 8 * 2 + 2);

int main()
{
    Net net(/*seed=*/1);
    Net::input_type x({3, 4});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = 0.1f * float(i) - 0.5f;
    const auto& y = net.forward(x);
    std::printf("lepton %s: output [%zu, %zu], y[0] = (%g, %g)\n", lepton::version(), y.shape()[0], y.shape()[1],
                double(y(0, 0)), double(y(0, 1)));
    bool ok = y.shape()[0] == 3 && y.shape()[1] == 2 && LEPTON_VERSION_MAJOR >= 0;
    for (float v : y) ok = ok && std::isfinite(v);
    return ok ? 0 : 1;
}
