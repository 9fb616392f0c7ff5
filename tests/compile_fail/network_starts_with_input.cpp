// expect: Lepton wiring error: a network starts with Input<dims...>
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/dropout.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/nn/network.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Dense<10>, ReLU, Dense<10>>;
#else
using Net = Sequential<Input<10>, Dense<10>, ReLU, Dense<10>>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
