#pragma once
/// \file
/// Exception types. Every message says what was expected, what was found, and where.

#include <stdexcept>
#include <string>

namespace lepton {

/// A tensor reached a layer with a run-time shape that does not match the compile-time one.
class shape_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A file could not be read or did not contain what it claimed (names the file and offset).
class io_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A value is outside the range a function accepts (e.g. a label >= number of classes).
class value_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

} // namespace lepton
