// expect: Lepton wiring error: Conv2D input channels must be divisible by groups
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/network.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Input<3, 8, 8>, Conv2D<4, 3, 1, 1, 1, 2>>;
#else
using Net = Sequential<Input<4, 8, 8>, Conv2D<4, 3, 1, 1, 1, 2>>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
