#pragma once
/// \file
/// Lepton's version: the one number in CMakeLists.txt's project() call.
/// Written from cmake/version.hpp.in by cmake/LeptonVersionHeader.cmake and
/// checked in, so the headers work straight from the source tree.

/// Major version: incompatible API changes.
#define LEPTON_VERSION_MAJOR 0
/// Minor version: additions.
#define LEPTON_VERSION_MINOR 1
/// Patch version: fixes.
#define LEPTON_VERSION_PATCH 0

namespace lepton {
/// "major.minor.patch"
inline constexpr const char* version() noexcept { return "0.1.0"; }
} // namespace lepton
