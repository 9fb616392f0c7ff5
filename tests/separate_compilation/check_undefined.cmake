# Fails unless the object files in OBJECTS reference the kernel instances
# (gemm, winograd_conv) and the safetensors and checkpoint code (the reader's
# checks, the slot checks and writer) as undefined symbols, i.e. left them to impl.cpp.
execute_process(COMMAND ${NM} -C ${OBJECTS} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${OBJECTS}")
endif()
# `name` is what the message shows, `pattern` the demangled name before its "(".
function(expect_left_to_impl name pattern)
  string(REGEX MATCH "[ \t]U [^\n]*${pattern}\\(" found "${symbols}")
  if(NOT found)
    message(FATAL_ERROR "${OBJECTS} does not leave ${name} to another translation unit")
  endif()
  string(REGEX MATCH "[ \t][TW] [^\n]*${pattern}\\(" compiled "${symbols}")
  if(compiled)
    message(FATAL_ERROR "${OBJECTS} compiles ${name} itself: ${compiled}")
  endif()
endfunction()
foreach(kernel "gemm<float>" "winograd_conv<float>")
  expect_left_to_impl(${kernel} "kernels::[a-z_]+::${kernel}")
endforeach()
foreach(function "io::safetensors_file::parse_header" "io::safetensors_file::read_all" "io::detail::check_slots"
                 "io::detail::save_slots" "io::detail::order_by_module")
  expect_left_to_impl(${function} "lepton::${function}")
endforeach()
message(STATUS "kernel instances and I/O code left to the implementation unit")
