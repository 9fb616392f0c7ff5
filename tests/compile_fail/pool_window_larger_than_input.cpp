// expect: Lepton wiring error: pooling window is larger than its padded input
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/network.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Input<2, 3, 3>, MaxPool2D<4>, Flatten, Dense<2>>;
#else
using Net = Sequential<Input<2, 4, 4>, MaxPool2D<4>, Flatten, Dense<2>>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
