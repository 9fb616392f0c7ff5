#pragma once
/// \file
/// Network weights and training checkpoints as safetensors files.
///
/// Names are PyTorch's `state_dict` names, so files move between Lepton and the
/// equivalent PyTorch model in both directions (`safetensors.torch.save_file(
/// model.state_dict(), path)` / `model.load_state_dict(load_file(path))`):
///   "<layer>.<parameter>"   every parameter, as `Network::for_each_parameter`
///                           names it ("0.weight" [out, in], "0.bias",
///                           "2.weight_ih_l0", ...), PyTorch's shapes; F32 for
///                           float networks, F64 for double;
///   "<layer>.<buffer>"      layer buffers ("1.running_mean", "1.running_var",
///                           "1.num_batches_tracked" as a 0-d I64).
/// A checkpoint adds, for each parameter and optimizer state buffer,
///   "optimizer.<parameter>.<state>"   shaped like the parameter
///                           ("optimizer.0.weight.exp_avg", "...exp_avg_sq" for
///                           Adam, "...momentum_buffer" for SGD with momentum),
///   "optimizer.<parameter>.step"      the steps that tensor has taken, a 0-d
///                           I64 (state is per tensor, as in PyTorch),
/// and, as "__metadata__" strings, "lepton.epoch", "lepton.optimizer.steps",
/// "lepton.optimizer.lr", "lepton.rng" (the network's generator, so dropout
/// masks continue where they stopped) and, when a loader is given,
/// "lepton.loader" (its generator and sample order).
///
/// Loading checks every name, dtype, shape and counter before it changes
/// anything: missing or unexpected tensors (all of them are listed), a wrong
/// dtype or shape, a counter or step outside [0, 2^53), a non-finite learning
/// rate throw `io_error` naming the file and what is wrong, and the network
/// (optimizer, loader) keeps its values.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../layers/layer.hpp"
#include "safetensors.hpp"

namespace lepton::io {

namespace detail {

/// One tensor of a network (or its optimizer) as it is saved and loaded.
struct slot {
    std::string name;
    dtype type;
    parameter_shape shape;
    void* data;
    std::size_t count;
};

template <class V>
slot make_slot(std::string name, V* data, const parameter_shape& shape)
{
    std::size_t count = 1;
    for (const auto d : shape) count *= d;
    return {std::move(name), dtype_of<V>(), shape, data, count};
}

/// Parameters and buffers, in PyTorch's state_dict order (module by module,
/// parameters before buffers).
template <class Net>
std::vector<slot> network_slots(Net& net)
{
    using T = typename Net::value_type;
    std::vector<slot> slots;
    net.for_each_parameter(
        [&](std::string name, T* data, T*, const parameter_shape& shape) { slots.push_back(make_slot(std::move(name), data, shape)); });
    net.for_each_buffer([&](std::string name, auto values, const parameter_shape& shape) {
        slots.push_back(make_slot(std::move(name), values.data(), shape));
    });
    // PyTorch's order: module by module (in the order of the tree), each module's
    // parameters before its buffers. A tensor's module is its name without the last part.
    auto module_of = [](const slot& s) { return s.name.substr(0, s.name.rfind('.')); };
    std::map<std::string, std::size_t> module_rank;
    for (const slot& s : slots) module_rank.emplace(module_of(s), module_rank.size());
    std::stable_sort(slots.begin(), slots.end(),
                     [&](const slot& a, const slot& b) { return module_rank[module_of(a)] < module_rank[module_of(b)]; });
    return slots;
}

/// "optimizer.<parameter>.<state>" for every parameter and state buffer.
template <class Net, class Optimizer>
std::vector<slot> optimizer_slots(Net& net, Optimizer& optimizer)
{
    using T = typename Net::value_type;
    std::vector<slot> slots;
    T* const base = net.parameters().data();
    const std::size_t size = net.parameters().size();
    const auto mismatch = [] {
        return value_error("lepton: the optimizer's state does not match the network's parameters (was it built on this network?)");
    };
    optimizer.for_each_state([&](const char* state, std::span<T> values) {
        if (values.size() != size) throw mismatch();
        net.for_each_parameter([&](const std::string& name, T* data, T*, const parameter_shape& shape) {
            slots.push_back(make_slot("optimizer." + name + "." + state, values.data() + (data - base), shape));
        });
    });
    // Each tensor's own step count, a 0-d I64 (PyTorch keeps "step" per parameter too).
    const std::span<std::int64_t> steps = optimizer.tensor_steps();
    std::size_t i = 0;
    net.for_each_parameter([&](const std::string& name, T*, T*, const parameter_shape&) {
        if (i >= steps.size()) throw mismatch();
        slots.push_back(make_slot("optimizer." + name + ".step", &steps[i++], parameter_shape{}));
    });
    if (i != steps.size()) throw mismatch();
    return slots;
}

inline void save_slots(const std::filesystem::path& path, const std::vector<slot>& slots,
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

inline std::string dtype_text(dtype t) { return std::string(dtype_name(t)); }

/// Counters (I64 tensors: BatchNorm's `num_batches_tracked`, optimizer steps)
/// and step counts are incremented after loading: values outside [0, 2^53)
/// would overflow or lose their meaning, so a file holding one is refused.
inline constexpr std::int64_t max_count = std::int64_t{1} << 53;

/// Throws when the file's tensors are not the slots: the message lists every
/// slot the file lacks and every file tensor no slot expects (except those
/// under `ignored_prefix`, when one is given), since one list without the
/// other hides the cause (a renamed layer shows up in both). Then throws for
/// the first tensor held with another dtype or shape, and for a counter
/// outside [0, 2^53).
inline void check_slots(const safetensors_file& file, const std::vector<slot>& slots, std::string_view ignored_prefix)
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

/// Copies validated tensors into their slots.
inline void load_slots(const safetensors_file& file, const std::vector<slot>& slots)
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

inline const std::string& metadata_entry(const safetensors_file& file, const std::string& key)
{
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end())
        throw io_error("lepton: '" + file.path() + "': no '" + key + "' in __metadata__ (not a Lepton checkpoint?)");
    return it->second;
}

template <class V>
V metadata_number(const safetensors_file& file, const std::string& key)
{
    const std::string& text = metadata_entry(file, key);
    V value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        throw io_error("lepton: '" + file.path() + "': __metadata__ '" + key + "' is not a number: '" + text + "'");
    return value;
}

inline std::string number_text(double v)
{
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
    return std::string(buf, end);
}

template <class Net, class Optimizer>
std::map<std::string, std::string> checkpoint_metadata(Net& net, Optimizer& optimizer, std::int64_t epoch)
{
    return {{"format", "pt"},
            {"lepton.epoch", std::to_string(epoch)},
            {"lepton.optimizer.steps", std::to_string(optimizer.steps())},
            {"lepton.optimizer.lr", number_text(optimizer.learning_rate())},
            {"lepton.rng", net.rng().state()}};
}

template <class Net, class Optimizer, class Restore>
std::int64_t load_checkpoint_with(const std::filesystem::path& path, Net& net, Optimizer& optimizer, Restore&& restore_loader)
{
    const safetensors_file file(path);
    auto slots = network_slots(net);
    auto state = optimizer_slots(net, optimizer);
    slots.insert(slots.end(), state.begin(), state.end());
    check_slots(file, slots, {});
    const auto epoch = metadata_number<std::int64_t>(file, "lepton.epoch");
    const auto steps = metadata_number<std::int64_t>(file, "lepton.optimizer.steps");
    const auto lr = metadata_number<double>(file, "lepton.optimizer.lr");
    auto out_of_range = [&](const char* key, const std::string& range) {
        throw io_error("lepton: '" + file.path() + "': __metadata__ '" + key + "' is '" + metadata_entry(file, key) +
                       "', outside " + range);
    };
    if (epoch < 0 || epoch > std::numeric_limits<std::int32_t>::max()) out_of_range("lepton.epoch", "[0, 2^31)");
    if (steps < 0 || steps >= max_count) out_of_range("lepton.optimizer.steps", "[0, 2^53)");
    if (!std::isfinite(lr) || lr < 0) out_of_range("lepton.optimizer.lr", "the finite numbers >= 0");
    // The errors of set_state say what is wrong ("lepton: ..."); this names the file and the key.
    auto restoring = [&](const char* key, auto&& restore) {
        try {
            restore();
        } catch (const value_error& e) {
            std::string_view what = e.what();
            if (what.starts_with("lepton: ")) what.remove_prefix(8);
            throw io_error("lepton: '" + file.path() + "': __metadata__ '" + key + "': " + std::string(what));
        }
    };
    random_engine rng;
    restoring("lepton.rng", [&] { rng.set_state(metadata_entry(file, "lepton.rng")); });
    // The loader's set_state changes nothing unless it succeeds.
    restoring("lepton.loader", [&] { restore_loader(file); });
    load_slots(file, slots);
    optimizer.set_steps(steps);
    optimizer.set_learning_rate(lr);
    net.rng() = rng;
    return epoch;
}

} // namespace detail

/// Saves `net`'s parameters and buffers to `path` (safetensors, PyTorch
/// `state_dict` names and shapes; atomic, see `write_safetensors`).
template <class Net>
void save_weights(Net& net, const std::filesystem::path& path)
{
    detail::save_slots(path, detail::network_slots(net), {{"format", "pt"}});
}

/// Loads parameters and buffers saved by `save_weights`, `save_checkpoint` or
/// `safetensors.torch.save_file(model.state_dict(), path)`. Every parameter
/// and buffer must be present with the network's dtype and shape, and no other
/// tensor may be (those under "optimizer." are ignored); otherwise throws
/// `io_error` naming the first mismatch, leaving the network unchanged.
template <class Net>
void load_weights(Net& net, const std::filesystem::path& path)
{
    const safetensors_file file(path);
    const auto slots = detail::network_slots(net);
    detail::check_slots(file, slots, "optimizer.");
    detail::load_slots(file, slots);
}

/// Saves a training checkpoint: `net`'s parameters and buffers, `optimizer`'s
/// state per parameter, its step count and learning rate, `epoch` and the
/// network's generator (see the file comment for the names).
template <class Net, class Optimizer>
void save_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, std::int64_t epoch)
{
    auto slots = detail::network_slots(net);
    auto state = detail::optimizer_slots(net, optimizer);
    slots.insert(slots.end(), state.begin(), state.end());
    detail::save_slots(path, slots, detail::checkpoint_metadata(net, optimizer, epoch));
}

/// As above, with the batch loader's generator and sample order, so that a
/// resumed run sees the same batches as an uninterrupted one.
template <class Net, class Optimizer, class Loader>
void save_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, std::int64_t epoch,
                     const Loader& loader)
{
    auto slots = detail::network_slots(net);
    auto state = detail::optimizer_slots(net, optimizer);
    slots.insert(slots.end(), state.begin(), state.end());
    auto metadata = detail::checkpoint_metadata(net, optimizer, epoch);
    metadata["lepton.loader"] = loader.state();
    detail::save_slots(path, slots, metadata);
}

/// Restores a checkpoint of `save_checkpoint` into `net` and `optimizer` (built
/// like the saved ones) and returns its epoch. Every tensor is checked first:
/// a mismatch or corrupt file throws `io_error` and changes nothing.
template <class Net, class Optimizer>
std::int64_t load_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer)
{
    return detail::load_checkpoint_with(path, net, optimizer, [](const safetensors_file&) {});
}

/// As above, also restoring the batch loader's generator and sample order
/// (the checkpoint must have been saved with a loader over as many samples).
template <class Net, class Optimizer, class Loader>
std::int64_t load_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, Loader& loader)
{
    return detail::load_checkpoint_with(path, net, optimizer, [&](const safetensors_file& file) {
        loader.set_state(detail::metadata_entry(file, "lepton.loader"));
    });
}

} // namespace lepton::io
