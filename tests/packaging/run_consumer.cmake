# Drives one consumer test (cmake -P). Every step runs in WORK, outside the main
# build tree, so these tests can run beside the rest of the suite.
#   MODE=install          configure Lepton alone and `cmake --install` it into WORK/prefix
#   MODE=find_package     build consumer/ against that prefix with find_package(lepton)
#   MODE=add_subdirectory build consumer/ with add_subdirectory(<source tree>)
#   MODE=fetchcontent     build consumer/ with FetchContent pointed at the source tree
#   MODE=pkg_config       compile consumer/main.cpp with `pkg-config --cflags --libs lepton`
# Other inputs: SOURCE_DIR, WORK, PREFIX, VERSION, GENERATOR, CXX, PKG_CONFIG.
cmake_minimum_required(VERSION 3.20)

include(${CMAKE_CURRENT_LIST_DIR}/run_command.cmake)

set(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer)
# Quick builds: the consumers only check that Lepton can be used, not how fast it runs.
set(quick -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_CXX_COMPILER=${CXX} -G ${GENERATOR})

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK}/build ${quick} -DCMAKE_INSTALL_PREFIX=/nonexistent
      -DLEPTON_BUILD_TESTS=OFF -DLEPTON_BUILD_EXAMPLES=OFF -DLEPTON_BUILD_BENCHMARKS=OFF)
  file(REMOVE_RECURSE ${PREFIX})
  # --prefix differs from CMAKE_INSTALL_PREFIX on purpose: the installed files must be relocatable.
  run(${CMAKE_COMMAND} --install ${WORK}/build --prefix ${PREFIX})
  foreach(f include/lepton/lepton.hpp include/lepton/version.hpp include/lepton/core/compat.hpp
            share/cmake/lepton/lepton-config.cmake share/cmake/lepton/lepton-config-version.cmake
            share/cmake/lepton/lepton-targets.cmake)
    if(NOT EXISTS ${PREFIX}/${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
  # lib/pkgconfig when it links OpenMP, share/pkgconfig when it links nothing.
  file(GLOB_RECURSE pc_files ${PREFIX}/*/pkgconfig/lepton.pc)
  if(NOT pc_files)
    message(FATAL_ERROR "not installed: lepton.pc")
  endif()
  file(GLOB_RECURSE stray ${PREFIX}/include/*.cpp ${PREFIX}/include/*.txt)
  if(stray)
    message(FATAL_ERROR "non-header files installed: ${stray}")
  endif()
  message(STATUS "installed into ${PREFIX}")
elseif(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK} ${quick} -DLEPTON_MODE=find_package
      -DCMAKE_PREFIX_PATH=${PREFIX} -DLEPTON_EXPECTED_VERSION=${VERSION})
elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "fetchcontent")
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK} ${quick} -DLEPTON_MODE=${MODE} -DLEPTON_SOURCE_DIR=${SOURCE_DIR})
elseif(MODE STREQUAL "pkg_config")
  file(GLOB_RECURSE pc_files ${PREFIX}/*/pkgconfig/lepton.pc)
  get_filename_component(pc_dir "${pc_files}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  execute_process(COMMAND ${PKG_CONFIG} --modversion lepton OUTPUT_VARIABLE got OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT got STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config --modversion lepton gave '${got}' (${rc}), expected ${VERSION}")
  endif()
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs lepton OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs lepton failed")
  endif()
  message(STATUS "pkg-config --cflags --libs lepton: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  if(NOT "-DXTENSOR_USE_XSIMD" IN_LIST flags)
    message(FATAL_ERROR "lepton.pc's Cflags lack -DXTENSOR_USE_XSIMD")
  endif()
  # The include directory is relative to lepton.pc (${pcfiledir}), so it follows the prefix.
  get_filename_component(want ${PREFIX}/include REALPATH)
  set(found OFF)
  foreach(f ${flags})
    if(f MATCHES "^-I(.+)$")
      get_filename_component(dir ${CMAKE_MATCH_1} REALPATH)
      if(dir STREQUAL want)
        set(found ON)
      endif()
    endif()
  endforeach()
  if(NOT found)
    message(FATAL_ERROR "lepton.pc's Cflags do not name ${want}")
  endif()
  run(${CXX} -std=c++20 -O1 ${consumer}/main.cpp -o ${WORK}/consumer ${flags})
  run(${WORK}/consumer)
  return()
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

if(NOT MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --build ${WORK})
  run(${WORK}/consumer)
endif()
