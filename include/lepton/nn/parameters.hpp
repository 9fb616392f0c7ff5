#pragma once
/// \file
/// What a network owns: one contiguous parameter buffer and one gradient
/// buffer (so an optimizer step, a gradient all-reduce or a checkpoint is one
/// loop over one array), the storage of its layers' buffers (BatchNorm's
/// running statistics and counters), and which parameter tensors are frozen.
/// Per-call state (activations, gradients of activations) is not here: it
/// lives in a workspace.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../optim/parameter_ranges.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::detail {

/// Whether the tensor named `tensor` is `name` itself or lies under the prefix `name` ("3" holds "3.0.weight", not "30.weight").
inline bool names_or_under(std::string_view tensor, std::string_view name) noexcept
{
    return tensor == name || (tensor.size() > name.size() && tensor.starts_with(name) && tensor[name.size()] == '.');
}

template <class T>
class parameter_store {
public:
    /// Storage for `parameters` parameter (and gradient) elements, `buffers` buffer elements and `counters` counters.
    parameter_store(std::size_t parameters, std::size_t buffers, std::size_t counters)
        : params_(parameters, T(0)), grads_(parameters, T(0)), buffers_(buffers, T(0)), counters_(counters, 0)
    {
    }
    parameter_store(const parameter_store&) = delete;  // a copy is a new store: construct one, then copy_values
    parameter_store& operator=(const parameter_store&) = delete;
    parameter_store(parameter_store&&) noexcept = default;
    parameter_store& operator=(parameter_store&&) noexcept = default;

    /// Tells stores apart (a workspace checks it is bound to this one): unique to each
    /// constructed store, carried along when a store moves, so a new store at a reused
    /// address is never mistaken for the old one.
    std::uint64_t id() const noexcept { return id_; }

    /// Where a named parameter tensor lives in the flat buffer.
    struct slice {
        std::string name;   ///< "3.0.weight"
        std::size_t layer;  ///< top-level layer it belongs to
        std::size_t begin, end;
        bool frozen = false;
    };

    T* params() noexcept { return params_.data(); }
    T* grads() noexcept { return grads_.data(); }
    T* buffers() noexcept { return buffers_.data(); }
    std::int64_t* counters() noexcept { return counters_.data(); }
    std::span<T> parameters() noexcept { return params_; }
    std::span<const T> parameters() const noexcept { return params_; }
    std::span<T> gradients() noexcept { return grads_; }
    std::span<const T> gradients() const noexcept { return grads_; }

    /// Records a parameter tensor (in `for_each_parameter` order).
    void add_slice(std::string name, std::size_t layer, const T* data, std::size_t count)
    {
        const auto begin = static_cast<std::size_t>(data - params_.data());
        slices_.push_back({std::move(name), layer, begin, begin + count});
    }
    /// Recomputes the trainable and per-tensor ranges from the slices' frozen flags.
    void update_ranges()
    {
        trainable_.clear();
        tensors_.clear();
        for (const auto& p : slices_) {
            tensors_.push_back({p.begin, p.end, p.frozen});
            if (p.frozen) continue;
            if (!trainable_.empty() && trainable_.back().end == p.begin)
                trainable_.back().end = p.end;
            else
                trainable_.push_back({p.begin, p.end});
        }
    }

    /// Sets every gradient to zero.
    void zero_grad() { std::fill(grads_.begin(), grads_.end(), T(0)); }
    /// Zeroes the gradients of the frozen tensors (after a backward pass).
    void zero_frozen_grads()
    {
        for (const auto& p : slices_)
            if (p.frozen) std::fill(grads_.begin() + std::ptrdiff_t(p.begin), grads_.begin() + std::ptrdiff_t(p.end), T(0));
    }

    /// Freezes or thaws the tensors of top-level layer `layer` of `layer_count`.
    void set_frozen_layer(std::size_t layer, std::size_t layer_count, bool frozen)
    {
        if (layer >= layer_count)
            throw value_error("lepton: layer " + std::to_string(layer) + " does not exist (the network has " +
                              std::to_string(layer_count) + " layers)");
        for (auto& p : slices_)
            if (p.layer == layer) p.frozen = frozen;
        update_ranges();
    }
    /// Freezes or thaws the tensor named `name`, or every tensor under the prefix `name` ("3", "layer1.0").
    void set_frozen_name(std::string_view name, bool frozen)
    {
        bool found = false;
        for (auto& p : slices_) {
            if (names_or_under(p.name, name)) {
                p.frozen = frozen;
                found = true;
            }
        }
        if (!found) throw value_error("lepton: no parameter or layer named '" + std::string(name) + "'");
        update_ranges();
    }
    /// Freezes every tensor before the first one named `name` or under the prefix `name`.
    void freeze_until_name(std::string_view name)
    {
        std::size_t first = slices_.size();
        for (std::size_t i = 0; i < slices_.size() && first == slices_.size(); ++i)
            if (names_or_under(slices_[i].name, name)) first = i;
        if (first == slices_.size()) throw value_error("lepton: no parameter or layer named '" + std::string(name) + "'");
        for (std::size_t i = 0; i < first; ++i) slices_[i].frozen = true;
        update_ranges();
    }
    /// Whether the tensor named `name` is frozen.
    bool is_frozen(std::string_view name) const
    {
        for (const auto& p : slices_)
            if (p.name == name) return p.frozen;
        throw value_error("lepton: no parameter named '" + std::string(name) + "'");
    }

    const std::vector<slice>& slices() const noexcept { return slices_; }
    /// Copies `other`'s frozen flags (same network type).
    void copy_frozen(const parameter_store& other)
    {
        for (std::size_t i = 0; i < slices_.size() && i < other.slices_.size(); ++i) slices_[i].frozen = other.slices_[i].frozen;
        update_ranges();
    }
    /// Copies values (parameters, buffers, counters), not gradients.
    void copy_values(const parameter_store& other)
    {
        std::copy(other.params_.begin(), other.params_.end(), params_.begin());
        std::copy(other.buffers_.begin(), other.buffers_.end(), buffers_.begin());
        std::copy(other.counters_.begin(), other.counters_.end(), counters_.begin());
    }
    /// The trainable parts of the buffer, adjacent tensors merged.
    const std::vector<parameter_range>& trainable_ranges() const noexcept { return trainable_; }
    /// Every tensor's part of the buffer with its frozen flag.
    const std::vector<parameter_range>& tensor_ranges() const noexcept { return tensors_; }

private:
    static std::uint64_t next_id() noexcept
    {
        static std::atomic<std::uint64_t> last{0};
        return ++last;
    }

    std::uint64_t id_ = next_id();
    storage<T> params_, grads_, buffers_;
    std::vector<std::int64_t> counters_;
    std::vector<slice> slices_;
    std::vector<parameter_range> trainable_, tensors_;
};

} // namespace lepton::detail
