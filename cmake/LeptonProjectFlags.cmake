# Flags for Lepton's own tests, examples and benchmarks (never for consumers:
# a header-only library's instruction set is chosen by the consumer's flags).

find_program(LEPTON_CCACHE ccache)
if(LEPTON_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${LEPTON_CCACHE})
endif()

add_library(lepton_project_flags INTERFACE)
target_link_libraries(lepton_project_flags INTERFACE lepton::lepton)
target_compile_options(lepton_project_flags INTERFACE -Wall -Wextra
  # An undefined macro in `#if` reads as 0 and silently drops code: make it an error.
  -Werror=undef
  # g++ 12 reports false positives inside the AVX-512 intrinsic headers (the
  # `_mm512_undefined_*` operands reached through xsimd's exp and nearbyint);
  # a diagnostic pragma around the includes does not reach inlined code.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized -Wno-uninitialized>)
if(LEPTON_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native LEPTON_HAS_MARCH_NATIVE)
  if(LEPTON_HAS_MARCH_NATIVE)
    target_compile_options(lepton_project_flags INTERFACE -march=native)
  endif()
endif()
