#pragma once
/// \file
/// Lepton's version, generated from the one number in CMakeLists.txt.

#define LEPTON_VERSION_MAJOR 0
#define LEPTON_VERSION_MINOR 1
#define LEPTON_VERSION_PATCH 0

namespace lepton {
/// "major.minor.patch"
inline constexpr const char* version() noexcept { return "0.1.0"; }
} // namespace lepton
