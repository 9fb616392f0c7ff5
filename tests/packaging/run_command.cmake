# run(<command> <args>...): runs a command from a packaging script and stops
# the script with the command line when it fails.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${ARGV}")
    message(FATAL_ERROR "failed (${rc}): ${shown}")
  endif()
endfunction()
