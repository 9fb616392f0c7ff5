// expect: Lepton wiring error: ConvTranspose2D output padding must be smaller than the stride
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/conv_transpose2d.hpp>
#include <lepton/nn/network.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Input<4, 7, 7>, ConvTranspose2D<2, 3, 2, 1, 2>>;
#else
using Net = Sequential<Input<4, 7, 7>, ConvTranspose2D<2, 3, 2, 1, 1>>;
#endif

int main()
{
    Net net;
    return Net::output_shape::dims[1] == 14 ? 0 : 1;
}
