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
/// Weights and checkpoints may also carry fitted scalers, "scaler.<name>.<statistic>"
/// (see `scaler_ref.hpp`).
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
#include "detail/slots.hpp"
#include "safetensors.hpp"
#include "scaler_ref.hpp"

namespace lepton::io {

namespace detail {

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
    order_by_module(slots);
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


template <class Net, class Optimizer>
std::map<std::string, std::string> checkpoint_metadata(Net& net, Optimizer& optimizer, std::int64_t epoch)
{
    return {{"format", "pt"},
            {"lepton.epoch", std::to_string(epoch)},
            {"lepton.optimizer.steps", std::to_string(optimizer.steps())},
            {"lepton.optimizer.lr", number_text(optimizer.learning_rate())},
            {"lepton.rng", net.rng().state()}};
}

/// `network`'s slots followed by `more`'s.
inline std::vector<slot> joined(std::vector<slot> network, const std::vector<slot>& more)
{
    network.insert(network.end(), more.begin(), more.end());
    return network;
}

template <class Net, class Optimizer, class Restore>
std::int64_t load_checkpoint_with(const std::filesystem::path& path, Net& net, Optimizer& optimizer,
                                  const std::vector<scaler_ref>& scalers, Restore&& restore_loader)
{
    const safetensors_file file(path);
    const auto slots = joined(network_slots(net), optimizer_slots(net, optimizer));
    scaler_restore restored(file, scalers);
    check_slots(file, joined(slots, restored.slots()), {});
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
    random_engine rng;
    // The errors of set_state say what is wrong; restoring names the file and the key.
    restoring(file, "__metadata__ 'lepton.rng'", [&] { rng.set_state(metadata_entry(file, "lepton.rng")); });
    restored.read();
    // The loader's set_state changes nothing unless it succeeds.
    restoring(file, "__metadata__ 'lepton.loader'", [&] { restore_loader(file); });
    load_slots(file, slots);
    restored.install();
    optimizer.set_steps(steps);
    optimizer.set_learning_rate(lr);
    net.rng() = rng;
    return epoch;
}

} // namespace detail

/// Saves `net`'s parameters and buffers to `path` (safetensors, PyTorch
/// `state_dict` names and shapes; atomic, see `write_safetensors`), and the
/// statistics of `scalers` when some are given (see `scaler_ref`).
template <class Net>
void save_weights(Net& net, const std::filesystem::path& path, const std::vector<scaler_ref>& scalers = {})
{
    detail::save_slots(path, detail::joined(detail::network_slots(net), detail::scaler_slots(scalers)),
                       {{"format", "pt"}});
}

/// Loads parameters and buffers saved by `save_weights`, `save_checkpoint` or
/// `safetensors.torch.save_file(model.state_dict(), path)`. Every parameter
/// and buffer must be present with the network's dtype and shape, and no other
/// tensor may be (those under "optimizer." are ignored), and so must the
/// statistics of every scaler in `scalers`; otherwise throws `io_error` naming
/// the first mismatch, leaving the network and the scalers unchanged.
template <class Net>
void load_weights(Net& net, const std::filesystem::path& path, const std::vector<scaler_ref>& scalers = {})
{
    const safetensors_file file(path);
    const auto slots = detail::network_slots(net);
    detail::scaler_restore restored(file, scalers);
    detail::check_slots(file, detail::joined(slots, restored.slots()), "optimizer.");
    restored.read();
    detail::load_slots(file, slots);
    restored.install();
}

/// Saves a training checkpoint: `net`'s parameters and buffers, `optimizer`'s
/// state per parameter, its step count and learning rate, `epoch` and the
/// network's generator (see the file comment for the names), and the
/// statistics of `scalers` when some are given.
template <class Net, class Optimizer>
void save_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, std::int64_t epoch,
                     const std::vector<scaler_ref>& scalers = {})
{
    const auto slots = detail::joined(detail::network_slots(net), detail::optimizer_slots(net, optimizer));
    detail::save_slots(path, detail::joined(slots, detail::scaler_slots(scalers)),
                       detail::checkpoint_metadata(net, optimizer, epoch));
}

/// As above, with the batch loader's generator and sample order, so that a
/// resumed run sees the same batches as an uninterrupted one.
template <class Net, class Optimizer, class Loader>
void save_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, std::int64_t epoch,
                     const Loader& loader, const std::vector<scaler_ref>& scalers = {})
{
    const auto slots = detail::joined(detail::network_slots(net), detail::optimizer_slots(net, optimizer));
    auto metadata = detail::checkpoint_metadata(net, optimizer, epoch);
    metadata["lepton.loader"] = loader.state();
    detail::save_slots(path, detail::joined(slots, detail::scaler_slots(scalers)), metadata);
}

/// Restores a checkpoint of `save_checkpoint` into `net` and `optimizer` (built
/// like the saved ones) and returns its epoch. Every tensor is checked first:
/// a mismatch or corrupt file throws `io_error` and changes nothing. The
/// statistics of `scalers` are restored too (the file must hold them).
template <class Net, class Optimizer>
std::int64_t load_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer,
                             const std::vector<scaler_ref>& scalers = {})
{
    return detail::load_checkpoint_with(path, net, optimizer, scalers, [](const safetensors_file&) {});
}

/// As above, also restoring the batch loader's generator and sample order
/// (the checkpoint must have been saved with a loader over as many samples).
template <class Net, class Optimizer, class Loader>
std::int64_t load_checkpoint(const std::filesystem::path& path, Net& net, Optimizer& optimizer, Loader& loader,
                             const std::vector<scaler_ref>& scalers = {})
{
    return detail::load_checkpoint_with(path, net, optimizer, scalers, [&](const safetensors_file& file) {
        loader.set_state(detail::metadata_entry(file, "lepton.loader"));
    });
}

} // namespace lepton::io
