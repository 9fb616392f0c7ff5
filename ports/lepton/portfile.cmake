# vcpkg overlay port: builds from the Lepton source tree this port lives in.
#   vcpkg install lepton --overlay-ports=<lepton>/ports
#   vcpkg install lepton[openmp] --overlay-ports=<lepton>/ports
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Header-only: one configuration is enough.
set(VCPKG_BUILD_TYPE release)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    openmp LEPTON_USE_OPENMP
)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DLEPTON_BUILD_TESTS=OFF
    -DLEPTON_BUILD_EXAMPLES=OFF
    -DLEPTON_BUILD_BENCHMARKS=OFF
    -DLEPTON_NATIVE=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/lepton)
vcpkg_fixup_pkgconfig()

vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
