#pragma once
/// \file
/// Fitted scalers (`data::Standardizer`, `data::MinMaxScaler`) saved in the
/// same file as a network's weights or a training checkpoint, so that a model
/// and the preprocessing it was trained with cannot be separated:
///
///     io::save_checkpoint(path, net, optimizer, epoch, {{"features", scaler}, {"target", target_scaler}});
///     io::load_checkpoint(path, net, optimizer, {{"features", scaler}, {"target", target_scaler}});
///
/// Each statistic is an F64 tensor "scaler.<name>.<statistic>" [features]
/// ("scaler.features.mean", "scaler.features.stddev", "scaler.target.min",
/// ...). PyTorch's strict `load_state_dict` does not expect these names; drop
/// the keys under "scaler." before loading such a file there.

#include <array>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "detail/slots.hpp"
#include "safetensors.hpp"

namespace lepton::io {

/// A scaler given a name in a file; built from `{"name", scaler}`. The scaler
/// is referred to, not copied, and must outlive the call it is passed to.
class scaler_ref {
public:
    /// Refers to `scaler`, which has `statistic_names`, `statistics()` and
    /// `set_statistics(first, second)` as Lepton's scalers do.
    template <class Scaler>
    scaler_ref(std::string name, Scaler& scaler)
        : name_(std::move(name)), statistic_names_(std::remove_const_t<Scaler>::statistic_names),
          statistics_([&scaler] { return scaler.statistics(); })
    {
        if constexpr (!std::is_const_v<Scaler>)
            // Checks the values on a copy first, so a refusal leaves the scaler as it was.
            prepare_ = [&scaler](std::vector<double> first, std::vector<double> second) -> std::function<void()> {
                Scaler checked;
                checked.set_statistics(std::move(first), std::move(second));
                return [&scaler, checked = std::move(checked)]() mutable { scaler = std::move(checked); };
            };
    }

    /// The name under "scaler." in the file.
    const std::string& name() const noexcept { return name_; }
    /// The tensor name of statistic `i` (0 or 1).
    std::string tensor_name(std::size_t i) const { return "scaler." + name_ + "." + statistic_names_.at(i); }
    /// The scaler's statistics as it holds them now.
    std::array<std::span<const double>, 2> statistics() const { return statistics_(); }
    /// Checks restored statistics and returns what installs them into the
    /// scaler; throws `value_error` for values the scaler refuses or a const scaler.
    std::function<void()> prepare(std::vector<double> first, std::vector<double> second) const
    {
        if (!prepare_) throw value_error("lepton: the scaler '" + name_ + "' is const and cannot be loaded into");
        return prepare_(std::move(first), std::move(second));
    }

private:
    std::string name_;
    std::array<const char*, 2> statistic_names_;
    std::function<std::array<std::span<const double>, 2>()> statistics_;
    std::function<std::function<void()>(std::vector<double>, std::vector<double>)> prepare_;
};

namespace detail {

/// The scalers' statistics as slots to save; throws `value_error` for a
/// scaler that was never fitted or a name given twice.
inline std::vector<slot> scaler_slots(const std::vector<scaler_ref>& scalers)
{
    std::vector<slot> slots;
    for (std::size_t i = 0; i < scalers.size(); ++i) {
        const scaler_ref& s = scalers[i];
        for (std::size_t j = 0; j < i; ++j)
            if (scalers[j].name() == s.name()) throw value_error("lepton: two scalers are named '" + s.name() + "'");
        const auto statistics = s.statistics();
        if (statistics[0].empty()) throw value_error("lepton: the scaler '" + s.name() + "' has not been fitted");
        for (std::size_t k = 0; k < 2; ++k)
            slots.push_back(make_slot(s.tensor_name(k), const_cast<double*>(statistics[k].data()),
                                      std::vector<std::size_t>{statistics[k].size()}));
    }
    return slots;
}

/// Scalers being restored from a file: the slots to check and read (sized
/// from the file), the buffers they are read into, and, once read and
/// accepted, what installs them.
class scaler_restore {
public:
    /// Sizes a buffer for every statistic from the file's tensor; throws
    /// `io_error` for one that is absent or is not an F64 vector.
    scaler_restore(const safetensors_file& file, const std::vector<scaler_ref>& scalers)
        : file_(&file), scalers_(&scalers), values_(2 * scalers.size())
    {
        for (std::size_t i = 0; i < scalers.size(); ++i)
            for (std::size_t k = 0; k < 2; ++k) {
                const std::string name = scalers[i].tensor_name(k);
                const tensor_info* t = file.find(name);
                if (!t || t->type != dtype::F64 || t->shape.size() != 1 || t->shape[0] == 0)
                    throw io_error("lepton: '" + file.path() + "': " + (t ? "the tensor '" : "no tensor '") + name +
                                   "' " + (t ? "is not" : "holds") + " an F64 vector of the scaler's statistics");
                values_[2 * i + k].resize(t->shape[0]);
                slots_.push_back(make_slot(name, values_[2 * i + k].data(), t->shape));
            }
    }
    /// The slots of every statistic (to check with the network's).
    const std::vector<slot>& slots() const noexcept { return slots_; }
    /// Reads the statistics and has each scaler check them; throws `io_error`
    /// naming the file and the scaler for values it refuses. Changes no scaler.
    void read()
    {
        load_slots(*file_, slots_);
        for (std::size_t i = 0; i < scalers_->size(); ++i) {
            const scaler_ref& s = (*scalers_)[i];
            restoring(*file_, "the scaler '" + s.name() + "'", [&] {
                installs_.push_back(s.prepare(std::move(values_[2 * i]), std::move(values_[2 * i + 1])));
            });
        }
    }
    /// Gives every scaler the statistics `read` accepted.
    void install()
    {
        for (auto& install : installs_) install();
    }

private:
    const safetensors_file* file_;
    const std::vector<scaler_ref>* scalers_;
    std::vector<std::vector<double>> values_;
    std::vector<slot> slots_;
    std::vector<std::function<void()>> installs_;
};

} // namespace detail

} // namespace lepton::io
