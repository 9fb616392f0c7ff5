#pragma once
/// \file
/// What `fit` returns: every logged quantity per epoch, Keras' `History.history`.

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace lepton {

/// Named values of one epoch (or one batch): "loss", "accuracy", "val_loss", "lr", ...
class logs {
public:
    /// Sets `name` to `value`, adding it at the end if new.
    void set(std::string_view name, double value)
    {
        for (auto& [n, v] : items_)
            if (n == name) {
                v = value;
                return;
            }
        items_.emplace_back(std::string(name), value);
    }
    /// Whether `name` was logged.
    bool has(std::string_view name) const noexcept
    {
        for (const auto& item : items_)
            if (item.first == name) return true;
        return false;
    }
    /// The value of `name`; throws `value_error` naming what was logged when absent.
    double get(std::string_view name) const
    {
        for (const auto& [n, v] : items_)
            if (n == name) return v;
        std::string known;
        for (const auto& item : items_) known += (known.empty() ? "" : ", ") + item.first;
        throw value_error("lepton: '" + std::string(name) + "' was not logged (logged: " + known + ")");
    }
    /// The values in the order they were first set.
    const std::vector<std::pair<std::string, double>>& items() const noexcept { return items_; }

private:
    std::vector<std::pair<std::string, double>> items_;
};

/// Per-epoch values of every logged quantity.
class History {
public:
    /// Appends one epoch's logs.
    void append(const logs& epoch)
    {
        for (const auto& [name, value] : epoch.items()) {
            auto* series = find(name);
            if (!series) {
                series_.emplace_back(name, std::vector<double>(epochs_, std::numeric_limits<double>::quiet_NaN()));
                series = &series_.back().second;
            }
            series->push_back(value);
        }
        ++epochs_;
        for (auto& s : series_) s.second.resize(epochs_, std::numeric_limits<double>::quiet_NaN());
    }
    /// Epochs recorded.
    std::size_t epochs() const noexcept { return epochs_; }
    /// The values of `name`, one per epoch; throws `value_error` when never logged.
    const std::vector<double>& operator[](std::string_view name) const
    {
        for (const auto& s : series_)
            if (s.first == name) return s.second;
        throw value_error("lepton: History has no '" + std::string(name) + "'");
    }
    /// Every series, in the order first logged.
    const std::vector<std::pair<std::string, std::vector<double>>>& series() const noexcept { return series_; }

private:
    std::vector<double>* find(std::string_view name)
    {
        for (auto& s : series_)
            if (s.first == name) return &s.second;
        return nullptr;
    }

    std::vector<std::pair<std::string, std::vector<double>>> series_;
    std::size_t epochs_ = 0;
};

} // namespace lepton
