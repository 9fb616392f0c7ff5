# Builds a target that must not compile and checks why: exactly one error, and
# it is the static_assert message named on the source's "// expect:" line.
#   cmake -DBUILD_DIR=... -DTARGET=... -DSOURCE=... -P check.cmake
file(READ "${SOURCE}" source)
string(REGEX MATCH "// expect: ([^\n]*)" _ "${source}")
set(expect "${CMAKE_MATCH_1}")
execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --target ${TARGET}
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")
if(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it is mis-wired and must not")
endif()
string(FIND "${log}" "static assertion failed: ${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed to compile, but not with the expected message '${expect}':\n${log}")
endif()
# Count compiler diagnostics ("file:line:col: error:"), not the word in messages.
string(REGEX MATCHALL "[^\n ]+:[0-9]+:[0-9]+: error: " errors "${log}")
list(LENGTH errors error_count)
if(NOT error_count EQUAL 1)
  message(FATAL_ERROR "${TARGET}: expected exactly one error, got ${error_count}:\n${log}")
endif()
message(STATUS "${TARGET} failed as it should: static assertion failed: ${expect}")
