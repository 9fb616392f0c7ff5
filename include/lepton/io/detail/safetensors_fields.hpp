#pragma once
/// \file
/// What a safetensors header says, as parsed and before it is validated,
/// and the one function that parses it (see `safetensors_header.hpp`).

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(LEPTON_SEPARATE_IO)
/// Lepton's JSON code is compiled once, where `LEPTON_IO_IMPLEMENTATION` is defined.
#define LEPTON_IO_API
#else
/// Lepton's JSON code is compiled in every translation unit that uses it (header-only).
#define LEPTON_IO_API inline
#endif

namespace lepton::io::detail {

/// An array of sizes ("shape", "data_offsets"); `valid` when present and every
/// element a non-negative integer that fits std::size_t.
struct size_list {
    bool valid = false;
    std::vector<std::size_t> values;
};

/// One tensor entry as written.
struct header_entry {
    std::string name;
    bool is_object = false;
    std::optional<std::string> dtype;  ///< set when "dtype" is a string
    size_list shape, offsets;
};

/// The whole header as written.
struct header_fields {
    bool top_is_object = false;
    std::vector<header_entry> entries;
    bool metadata_is_object = true;            ///< true also when there is no "__metadata__"
    std::map<std::string, std::string> metadata;
    std::string metadata_not_string;           ///< the first metadata key whose value is not a string
    std::string error;                         ///< set when parsing fails
};

/// Parses the JSON text of a header into `out`; false (with `out.error`) on a
/// syntax error or a duplicate key.
LEPTON_IO_API bool read_header_fields(std::string_view json, header_fields& out);

} // namespace lepton::io::detail
