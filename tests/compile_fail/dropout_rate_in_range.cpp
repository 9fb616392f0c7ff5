// expect: Lepton wiring error: Dropout rate must be in [0, 1)
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/dropout.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/nn/network.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Input<10>, Dense<10>, Dropout<1.0>, Dense<2>>;
#else
using Net = Sequential<Input<10>, Dense<10>, Dropout<0.5>, Dense<2>>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
