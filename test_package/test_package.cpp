#include <lepton/lepton.hpp>

#include <cstdio>

int main()
{
    lepton::Sequential<lepton::Input<4>, lepton::Dense<8>, lepton::ReLU, lepton::Dense<2>> net(1);
    decltype(net)::input_type x({1, 4});
    x.fill(0.5f);
    const auto& y = net.forward(x);
    std::printf("lepton %s: output [%zu, %zu]\n", lepton::version(), y.shape()[0], y.shape()[1]);
    return y.shape()[1] == 2 ? 0 : 1;
}
