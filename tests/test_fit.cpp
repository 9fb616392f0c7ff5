// Placeholder: filled in with the fit tests.
#include <doctest/doctest.h>
