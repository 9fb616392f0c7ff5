#pragma once
/// \file
/// The definitions of `slots.hpp`.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "slots.hpp"

namespace lepton::io::detail {

LEPTON_IO_API void order_by_module(std::vector<slot>& slots)
{
    // A tensor's module is its name without the last part.
    auto module_of = [](const slot& s) { return s.name.substr(0, s.name.rfind('.')); };
    std::map<std::string, std::size_t> module_rank;
    for (const slot& s : slots) module_rank.emplace(module_of(s), module_rank.size());
    std::stable_sort(slots.begin(), slots.end(),
                     [&](const slot& a, const slot& b) { return module_rank[module_of(a)] < module_rank[module_of(b)]; });
}

LEPTON_IO_API void save_slots(const std::filesystem::path& path, const std::vector<slot>& slots,
                              const std::map<std::string, std::string>& metadata)
{
    std::vector<tensor_ref> refs;
    std::vector<std::vector<std::byte>> scratch(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const slot& s = slots[i];
        std::span<const std::byte> bytes;
        switch (s.type) {
        case dtype::F32: bytes = as_le_bytes(static_cast<const float*>(s.data), s.count, scratch[i]); break;
        case dtype::F64: bytes = as_le_bytes(static_cast<const double*>(s.data), s.count, scratch[i]); break;
        default: bytes = as_le_bytes(static_cast<const std::int64_t*>(s.data), s.count, scratch[i]); break;
        }
        refs.push_back({s.name, s.type, s.shape, bytes});
    }
    write_safetensors(path, refs, metadata);
}

LEPTON_IO_API std::string dtype_text(dtype t) { return std::string(dtype_name(t)); }

LEPTON_IO_API void check_slots(const safetensors_file& file, const std::vector<slot>& slots, std::string_view ignored_prefix)
{
    auto fail = [&](const std::string& what) { throw io_error("lepton: '" + file.path() + "': " + what); };
    auto listed = [](const std::vector<std::string>& entries, const char* what) {
        constexpr std::size_t shown = 12;
        std::string text = std::to_string(entries.size()) + " " + what + (entries.size() > 1 ? "s: " : ": ");
        for (std::size_t i = 0; i < entries.size() && i < shown; ++i) text += (i ? ", " : "") + entries[i];
        if (entries.size() > shown) text += " and " + std::to_string(entries.size() - shown) + " more";
        return text;
    };
    std::vector<std::string> missing, unexpected;
    for (const slot& s : slots)
        if (!file.find(s.name))
            missing.push_back("'" + s.name + "' (" + dtype_text(s.type) + " " + shape_text(s.shape) + ")");
    for (const tensor_info& t : file.tensors()) {
        if (!ignored_prefix.empty() && t.name.starts_with(ignored_prefix)) continue;
        const bool expected = std::any_of(slots.begin(), slots.end(), [&](const slot& s) { return s.name == t.name; });
        if (!expected) unexpected.push_back("'" + t.name + "'");
    }
    if (!missing.empty() && !unexpected.empty())
        fail(listed(missing, "missing tensor") + "; " + listed(unexpected, "unexpected tensor") +
             " (the network has no parameter or buffer of that name)");
    if (!missing.empty()) fail(listed(missing, "missing tensor"));
    if (!unexpected.empty())
        fail(listed(unexpected, "unexpected tensor") + " (the network has no parameter or buffer of that name)");
    for (const slot& s : slots) {
        const tensor_info* t = file.find(s.name);
        if (t->type != s.type)
            fail(s.name + ": expected dtype " + dtype_text(s.type) + ", file has " + dtype_text(t->type));
        if (t->shape != s.shape) fail(s.name + ": expected " + shape_text(s.shape) + ", file has " + shape_text(t->shape));
        if (s.type == dtype::I64) {
            std::vector<std::int64_t> counts(s.count);
            copy_from_le(file.bytes(*t).data(), counts.data(), s.count);
            for (std::size_t i = 0; i < s.count; ++i)
                if (counts[i] < 0 || counts[i] >= max_count)
                    fail(s.name + ": count " + std::to_string(counts[i]) + " is outside [0, 2^53)");
        }
    }
}

LEPTON_IO_API void load_slots(const safetensors_file& file, const std::vector<slot>& slots)
{
    for (const slot& s : slots) {
        const std::byte* src = file.bytes(*file.find(s.name)).data();
        switch (s.type) {
        case dtype::F32: copy_from_le(src, static_cast<float*>(s.data), s.count); break;
        case dtype::F64: copy_from_le(src, static_cast<double*>(s.data), s.count); break;
        default: copy_from_le(src, static_cast<std::int64_t*>(s.data), s.count); break;
        }
    }
}

LEPTON_IO_API const std::string& metadata_entry(const safetensors_file& file, const std::string& key)
{
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end())
        throw io_error("lepton: '" + file.path() + "': no '" + key + "' in __metadata__ (not a Lepton checkpoint?)");
    return it->second;
}

LEPTON_IO_API std::string number_text(double v)
{
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
    return std::string(buf, end);
}

} // namespace lepton::io::detail
