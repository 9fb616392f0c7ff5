// expect: Lepton wiring error: Parallel<Add or Multiply, ...> needs branches that give the same shape
// Compiles as written; with LEPTON_MISWIRED it must fail with the message above.
#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/parallel.hpp>

using namespace lepton;

#ifdef LEPTON_MISWIRED
using Net = Sequential<Input<10>, Parallel<Add, Dense<8>, Dense<4>>, ReLU>;
#else
using Net = Sequential<Input<10>, Parallel<Concat<0>, Dense<8>, Dense<4>>, ReLU>;
#endif

int main()
{
    Net net;
    return Net::parameter_count == 0 ? 1 : 0;
}
