# Install and export: headers, lepton::lepton for find_package, and lepton.pc.
# Lepton is header-only, so its CMake and pkg-config files go under share/
# (architecture-independent); the consumer's flags pick the instruction set.
include(CMakePackageConfigHelpers)

set(LEPTON_INSTALL_CMAKEDIR ${CMAKE_INSTALL_DATADIR}/cmake/lepton CACHE STRING
    "Where lepton-config.cmake is installed, relative to the prefix")

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/lepton
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(TARGETS lepton EXPORT lepton-targets)
if(TARGET lepton_csv)
  install(TARGETS lepton_csv EXPORT lepton-targets)
endif()
if(TARGET lepton_mpi)
  install(TARGETS lepton_mpi EXPORT lepton-targets)
endif()
install(EXPORT lepton-targets NAMESPACE lepton:: DESTINATION ${LEPTON_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lepton-config.cmake.in
  ${PROJECT_BINARY_DIR}/lepton-config.cmake
  INSTALL_DESTINATION ${LEPTON_INSTALL_CMAKEDIR})
# Header-only: the version file must not reject a consumer of another pointer size.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lepton-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/lepton-config.cmake ${PROJECT_BINARY_DIR}/lepton-config-version.cmake
        DESTINATION ${LEPTON_INSTALL_CMAKEDIR})

# pkg-config: Debian's xtensor, xsimd, xtl and zlib ship .pc files, so they are Requires.
# A .pc file with flags to link (-fopenmp) depends on the toolchain, so it goes under
# lib/pkgconfig; without any it is architecture-independent and goes under share/pkgconfig
# (vcpkg's post-build check enforces exactly this rule).
if(LEPTON_USE_OPENMP)
  set(LEPTON_PC_OPENMP_FLAGS " ${OpenMP_CXX_FLAGS}")
  set(LEPTON_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
else()
  set(LEPTON_PC_OPENMP_FLAGS "")
  set(LEPTON_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_DATADIR}/pkgconfig)
endif()
file(RELATIVE_PATH LEPTON_PC_TO_PREFIX /prefix/${LEPTON_INSTALL_PKGCONFIGDIR} /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/lepton.pc.in ${PROJECT_BINARY_DIR}/lepton.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/lepton.pc DESTINATION ${LEPTON_INSTALL_PKGCONFIGDIR})
