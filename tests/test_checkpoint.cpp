// Placeholder: filled in with the checkpoint tests.
#include <doctest/doctest.h>
