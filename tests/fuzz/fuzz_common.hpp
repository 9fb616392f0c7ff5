// What the fuzz targets share: the input written to a file (the readers
// take paths), and the rule that only Lepton's own errors count as a
// refusal. Any other exception (std::bad_alloc, std::length_error, ...)
// escapes to libFuzzer and is reported as a finding, as are the
// sanitizers' reports and a failed `require`.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <lepton/core/error.hpp>

namespace fuzz {

/// A file of this process's own (under $TMPDIR, else /dev/shm), rewritten for each input.
inline const std::string& scratch_path(const char* name)
{
    static const std::string path = [&] {
        const char* dir = std::getenv("TMPDIR");
        std::string d = dir && *dir ? dir : "/dev/shm";
        return d + "/lepton_fuzz_" + std::to_string(::getpid()) + "_" + name;
    }();
    return path;
}

inline const std::string& write_input(const std::uint8_t* data, std::size_t size, const char* name = "input")
{
    const std::string& path = scratch_path(name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
    if (!out.flush()) std::abort();
    return path;
}

/// Aborts (a finding) when `ok` is false: an invariant the readers promise.
inline void require(bool ok, const char* what)
{
    if (!ok) {
        std::fprintf(stderr, "fuzz: invariant broken: %s\n", what);
        std::abort();
    }
}

/// Runs `f`; Lepton's documented errors are refusals, everything else escapes.
template <class F>
bool accepted(F&& f)
{
    try {
        f();
        return true;
    } catch (const lepton::io_error&) {
    } catch (const lepton::value_error&) {
    } catch (const lepton::shape_error&) {
    }
    return false;
}

/// Reads little-endian integers off the front of the input.
class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool empty() const noexcept { return at_ == size_; }
    std::size_t left() const noexcept { return size_ - at_; }
    template <class T>
    T take()
    {
        T v = 0;
        for (std::size_t i = 0; i < sizeof(T) && at_ < size_; ++i) v = T(v | T(T(data_[at_++]) << (8 * i)));
        return v;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_, at_ = 0;
};

} // namespace fuzz
