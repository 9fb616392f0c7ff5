// expect: Lepton wiring error: Parallel<Concat<Axis>, ...> needs branches of one rank whose shapes differ along Axis only
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/parallel.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
// Channels side by side, but one branch halves the image.
using Net = Sequential<Input<3, 8, 8>, Parallel<Concat<0>, Conv2D<4, 3, 1, 1>, Block<Conv2D<4, 3, 1, 1>, MaxPool2D<2>>>>;
#else
using Net = Sequential<Input<3, 8, 8>, Parallel<Concat<0>, Conv2D<4, 3, 1, 1>, Conv2D<4, 1>>>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
