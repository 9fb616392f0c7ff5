// Placeholder: filled in with the metrics tests.
#include <doctest/doctest.h>
