#!/bin/sh
# Runs Doxygen on the public headers; any warning fails the test.
# Exit 77 (CTest skip) when doxygen is not installed.
# Usage: run_doxygen.sh DOXYFILE OUTPUT_DIR
command -v doxygen >/dev/null 2>&1 || { echo "doxygen is not installed: skipped"; exit 77; }
mkdir -p "$2" && rm -f "$2/warnings.log"
status=0
doxygen "$1" || status=$?
if [ -s "$2/warnings.log" ]; then
  cat "$2/warnings.log"
  echo "doxygen: $(wc -l < "$2/warnings.log") warning line(s)"
  exit 1
fi
[ "$status" -eq 0 ] || { echo "doxygen failed ($status)"; exit 1; }
echo "doxygen: no warnings"
