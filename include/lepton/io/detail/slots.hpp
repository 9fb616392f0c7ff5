#pragma once
/// \file
/// The tensors of a network or optimizer as a checkpoint saves and loads them
/// ("slots"), and the code that writes, checks and reads them. That code is
/// not a template: it is compiled in every translation unit that uses it, or
/// once, in the unit that defines `LEPTON_IO_IMPLEMENTATION`, when the program
/// defines `LEPTON_SEPARATE_IO` (see `safetensors_header.hpp`).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../safetensors.hpp"

namespace lepton::io::detail {

/// One tensor of a network (or its optimizer) as it is saved and loaded.
struct slot {
    std::string name;
    dtype type;
    std::vector<std::size_t> shape;  ///< the layer's `parameter_shape`
    void* data;
    std::size_t count;
};

template <class V>
slot make_slot(std::string name, V* data, const std::vector<std::size_t>& shape)
{
    std::size_t count = 1;
    for (const auto d : shape) count *= d;
    return {std::move(name), dtype_of<V>(), shape, data, count};
}

/// Counters (I64 tensors: BatchNorm's `num_batches_tracked`, optimizer steps)
/// and step counts are incremented after loading: values outside [0, 2^53)
/// would overflow or lose their meaning, so a file holding one is refused.
inline constexpr std::int64_t max_count = std::int64_t{1} << 53;

/// Puts slots in PyTorch's state_dict order: module by module (in the order in
/// which they first appear), each module's parameters before its buffers.
LEPTON_IO_API void order_by_module(std::vector<slot>& slots);

/// Writes the slots' tensors and `metadata` to `path` (atomically, see `write_safetensors`).
LEPTON_IO_API void save_slots(const std::filesystem::path& path, const std::vector<slot>& slots,
                              const std::map<std::string, std::string>& metadata);

/// A dtype's name as text.
LEPTON_IO_API std::string dtype_text(dtype t);

/// Throws when the file's tensors are not the slots: the message lists every
/// slot the file lacks and every file tensor no slot expects (except those
/// under `ignored_prefix`, when one is given), since one list without the
/// other hides the cause (a renamed layer shows up in both). Then throws for
/// the first tensor held with another dtype or shape, and for a counter
/// outside [0, 2^53).
LEPTON_IO_API void check_slots(const safetensors_file& file, const std::vector<slot>& slots,
                               std::string_view ignored_prefix);

/// Copies validated tensors into their slots.
LEPTON_IO_API void load_slots(const safetensors_file& file, const std::vector<slot>& slots);

/// The "__metadata__" string `key`; throws `io_error` naming the file when it is absent.
LEPTON_IO_API const std::string& metadata_entry(const safetensors_file& file, const std::string& key);

/// The shortest text that reads back as `v` exactly.
LEPTON_IO_API std::string number_text(double v);

/// Runs `restore`. A `value_error` from it (a saved state or statistic that
/// its owner refuses) becomes an `io_error` naming the file and `part`, the
/// piece of it that was being read.
template <class Restore>
void restoring(const safetensors_file& file, const std::string& part, Restore&& restore)
{
    try {
        restore();
    } catch (const value_error& e) {
        std::string_view what = e.what();
        if (what.starts_with("lepton: ")) what.remove_prefix(8);
        throw io_error("lepton: '" + file.path() + "': " + part + ": " + std::string(what));
    }
}

} // namespace lepton::io::detail

#if !defined(LEPTON_SEPARATE_IO) || defined(LEPTON_IO_IMPLEMENTATION)
#include "slots_impl.hpp"
#endif
