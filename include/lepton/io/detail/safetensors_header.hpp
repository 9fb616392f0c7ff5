#pragma once
/// \file
/// The JSON side of reading a safetensors header, with nlohmann::json's SAX
/// parser: one pass that checks the syntax, refuses duplicate keys and
/// collects what each entry says, without building a JSON document.
///
/// This is the only Lepton code that needs nlohmann::json, and the heaviest
/// to compile. `io/safetensors.hpp` includes it (header-only use), except
/// where `LEPTON_SEPARATE_IO` is defined: then exactly one translation unit
/// of the program defines `LEPTON_IO_IMPLEMENTATION` before including
/// `io/safetensors.hpp`, and only that one compiles it, with the reader's
/// checks and the writer (`safetensors_impl.hpp`) and the checkpoint code
/// that is not a template (`slots_impl.hpp`).

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors_fields.hpp"

namespace lepton::io::detail {

/// Collects the header's fields as the parser meets them.
class header_reader : public nlohmann::json_sax<nlohmann::json> {
public:
    explicit header_reader(header_fields& out) : out_(out) {}

    bool null() override { return scalar(); }
    bool boolean(bool) override { return scalar(); }
    bool number_integer(number_integer_t v) override
    {
        if (v >= 0) return number(static_cast<std::uint64_t>(v));
        return scalar();
    }
    bool number_unsigned(number_unsigned_t v) override { return number(v); }
    bool number_float(number_float_t, const string_t&) override { return scalar(); }
    bool binary(binary_t&) override { return scalar(); }
    bool string(string_t& s) override
    {
        switch (frames_.back()) {
        case frame::tensor:
            if (key() == "dtype") {
                entry().dtype = s;
                return true;
            }
            break;
        case frame::metadata: out_.metadata[key()] = s; return true;
        default: break;
        }
        return scalar();
    }
    bool start_object(std::size_t) override
    {
        if (too_deep()) return false;
        frames_.push_back(opened(true));
        keys_.emplace_back();
        return true;
    }
    bool key(string_t& k) override
    {
        if (!keys_.back().seen.insert(k).second) {
            out_.error = (frames_.back() == frame::entries ? "duplicate tensor name '" : "duplicate key '") + k +
                         "' in the header";
            return false;
        }
        keys_.back().current = k;
        return true;
    }
    bool end_object() override
    {
        frames_.pop_back();
        keys_.pop_back();
        return true;
    }
    bool start_array(std::size_t) override
    {
        if (too_deep()) return false;
        frames_.push_back(opened(false));
        return true;
    }
    bool end_array() override
    {
        frames_.pop_back();
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& e) override
    {
        out_.error = "invalid JSON header near offset " + std::to_string(8 + (position ? position - 1 : 0)) + " (" +
                     e.what() + ")";
        return false;
    }

    /// Nesting a header may use: a valid one needs 3 levels (entries, a tensor, its shape); the limit
    /// keeps a header of nested brackets from costing far more memory than its bytes (the reference
    /// implementation refuses more than 128).
    static constexpr std::size_t max_depth = 64;

private:
    bool too_deep()
    {
        if (frames_.size() <= max_depth) return false;
        out_.error = "JSON header nests deeper than " + std::to_string(max_depth) + " levels";
        return true;
    }

    /// What the value being read belongs to.
    enum class frame { root, entries, tensor, metadata, sizes, ignored };

    struct object_keys {
        std::set<std::string> seen;
        std::string current;
    };

    const std::string& key() const { return keys_.back().current; }
    header_entry& entry() { return out_.entries.back(); }
    header_entry& add_entry()
    {
        out_.entries.emplace_back().name = key();
        return entry();
    }

    /// The frame a container opens, from where it stands (and notes what it means there).
    frame opened(bool object)
    {
        switch (frames_.back()) {
        case frame::root:
            out_.top_is_object = object;
            return object ? frame::entries : frame::ignored;
        case frame::entries:
            if (key() == "__metadata__") {
                out_.metadata_is_object = object;
                return object ? frame::metadata : frame::ignored;
            }
            add_entry().is_object = object;
            return object ? frame::tensor : frame::ignored;
        case frame::tensor:
            if (!object && (key() == "shape" || key() == "data_offsets")) {
                sizes_ = key() == "shape" ? &entry().shape : &entry().offsets;
                sizes_->valid = true;
                return frame::sizes;
            }
            if (key() == "dtype") entry().dtype.reset();
            return frame::ignored;
        case frame::metadata: not_a_string(); return frame::ignored;
        case frame::sizes: sizes_->valid = false; return frame::ignored;
        case frame::ignored: return frame::ignored;
        }
        return frame::ignored;
    }

    /// A value that is not what its place asks for, or does not matter there.
    bool scalar()
    {
        switch (frames_.back()) {
        case frame::root: out_.top_is_object = false; break;
        case frame::entries:
            if (key() == "__metadata__") {
                out_.metadata_is_object = false;
            } else {
                add_entry().is_object = false;
            }
            break;
        case frame::tensor:
            if (key() == "dtype") entry().dtype.reset();
            break;
        case frame::metadata: not_a_string(); break;
        case frame::sizes: sizes_->valid = false; break;
        case frame::ignored: break;
        }
        return true;
    }

    bool number(std::uint64_t v)
    {
        if (frames_.back() == frame::sizes) {
            if (v <= SIZE_MAX)
                sizes_->values.push_back(static_cast<std::size_t>(v));
            else
                sizes_->valid = false;
            return true;
        }
        return scalar();
    }

    void not_a_string()
    {
        if (out_.metadata_not_string.empty()) out_.metadata_not_string = key();
    }

    header_fields& out_;
    std::vector<frame> frames_{frame::root};
    std::vector<object_keys> keys_;
    size_list* sizes_ = nullptr;
};

LEPTON_IO_API bool read_header_fields(std::string_view json, header_fields& out)
{
    header_reader reader(out);
    return nlohmann::json::sax_parse(json.begin(), json.end(), &reader);
}

} // namespace lepton::io::detail
