// The one translation unit that compiles Lepton's JSON code (LEPTON_SEPARATE_IO).
#define LEPTON_IO_IMPLEMENTATION
#include <lepton/io/safetensors.hpp>
