// expect: Lepton wiring error: a Residual's body and shortcut give different shapes; give it a projection shortcut, e.g. Residual<Body, Block<Conv2D<C, 1, S>, BatchNorm2D<>>>
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/residual.hpp>

using namespace lepton;

using Body = Block<Conv2D<16, 3, 2, 1>, BatchNorm2D<>, ReLU, Conv2D<16, 3, 1, 1>, BatchNorm2D<>>;
#ifdef LEPTON_MISWIRED
// The body halves the image and doubles the channels; the identity shortcut does neither.
using Net = Sequential<Input<8, 12, 12>, Residual<Body>, ReLU>;
#else
using Net = Sequential<Input<8, 12, 12>, Residual<Body, Block<Conv2D<16, 1, 2>, BatchNorm2D<>>>, ReLU>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
