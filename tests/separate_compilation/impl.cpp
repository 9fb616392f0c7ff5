// The one translation unit that compiles Lepton's JSON code (LEPTON_SEPARATE_IO)
// and its kernels' float and double instances (LEPTON_SEPARATE_KERNELS).
#define LEPTON_IO_IMPLEMENTATION
#define LEPTON_KERNELS_IMPLEMENTATION
#include <lepton/io/safetensors.hpp>
#include <lepton/kernels/instances.hpp>
