# What the lepton::lepton target needs, found with find_package.
include(GNUInstallDirs)

find_package(xtl REQUIRED)
find_package(xsimd REQUIRED)
find_package(xtensor REQUIRED)
find_package(ZLIB REQUIRED)  # gzip-compressed IDX data sets
find_package(nlohmann_json 3 REQUIRED)  # safetensors headers (checkpoints)

# Threads for the kernels: on by default when the compiler supports OpenMP.
find_package(OpenMP COMPONENTS CXX QUIET)
if(OpenMP_CXX_FOUND)
  set(_lepton_openmp_default ON)
else()
  set(_lepton_openmp_default OFF)
endif()
option(LEPTON_USE_OPENMP "Thread Lepton's kernels with OpenMP" ${_lepton_openmp_default})
if(LEPTON_USE_OPENMP AND NOT OpenMP_CXX_FOUND)
  message(FATAL_ERROR "LEPTON_USE_OPENMP is ON but no OpenMP was found for the C++ compiler")
endif()

# stb_image_write for PNG pictures (io/png.hpp, io/plot.hpp); optional. Debian's
# libstb-dev puts it under include/stb/, which the headers also find without this.
find_path(LEPTON_STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)

# libcsv for data/csv.hpp, the one header that needs a library linked: the
# lepton::csv target adds it. Optional; Debian: libcsv-dev.
find_path(LEPTON_CSV_INCLUDE_DIR csv.h)
find_library(LEPTON_CSV_LIBRARY csv)

# MPI for data-parallel training (distributed/mpi.hpp), the lepton::mpi target;
# optional. Debian: libopenmpi-dev, openmpi-bin.
find_package(MPI COMPONENTS CXX QUIET)
