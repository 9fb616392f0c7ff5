#pragma once
/// \file
/// Keras-style progress output for `fit` and `evaluate`. On a terminal, a bar
/// redrawn in place (batch counter, bar, ETA, running loss and metrics,
/// samples/s); elsewhere (CI logs, files) one plain line per epoch.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>

#include <unistd.h>

#include "history.hpp"

namespace lepton {

/// How much `fit` prints.
enum class verbosity {
    automatic,  ///< a progress bar on a terminal, one line per epoch otherwise
    bar,        ///< always the progress bar
    line,       ///< one line per epoch
    silent      ///< nothing
};

namespace detail {

/// "loss: 0.4321 - accuracy: 0.8512" from logs.
inline std::string format_logs(const logs& l)
{
    std::string s;
    char buf[64];
    for (const auto& [name, value] : l.items()) {
        if (name == "lr") {
            std::snprintf(buf, sizeof buf, " - lr: %.3g", value);
        } else {
            std::snprintf(buf, sizeof buf, " - %s: %.4f", name.c_str(), value);
        }
        s += buf;
    }
    return s;
}

inline std::string format_seconds(double s)
{
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%d:%02d:%02d", int(s / 3600), int(std::fmod(s, 3600) / 60), int(std::fmod(s, 60)));
    else if (s >= 60)
        std::snprintf(buf, sizeof buf, "%d:%02d", int(s / 60), int(std::fmod(s, 60)));
    else
        std::snprintf(buf, sizeof buf, "%ds", int(std::lround(s)));
    return buf;
}

/// The progress display of one `fit` or `evaluate` call.
class progress {
public:
    progress(std::FILE* out, verbosity v) : out_(out)
    {
        if (v == verbosity::automatic) v = isatty(fileno(out)) ? verbosity::bar : verbosity::line;
        mode_ = v;
    }

    void epoch_begin(int epoch, int epochs, std::size_t batches)
    {
        epoch_ = epoch;
        epochs_ = epochs;
        batches_ = batches;
        start_ = last_draw_ = std::chrono::steady_clock::now();
        if (mode_ == verbosity::bar) std::fprintf(out_, "Epoch %d/%d\n", epoch + 1, epochs);
    }

    /// After batch `done` (1-based) of the epoch, with the running logs.
    void update(std::size_t done, const logs& running, std::size_t samples)
    {
        if (mode_ != verbosity::bar) return;
        const auto now = std::chrono::steady_clock::now();
        // Redraw at most ten times a second: a terminal write per batch would cost more than small batches.
        if (done < batches_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        const double elapsed = seconds_since_start(now);
        const double eta = done ? elapsed / double(done) * double(batches_ - done) : 0;
        std::fprintf(out_, "\r%s - ETA: %s%s - %.0f samples/s\033[K", bar(done).c_str(), format_seconds(eta).c_str(),
                     format_logs(running).c_str(), samples / std::max(elapsed, 1e-9));
        std::fflush(out_);
    }

    /// The epoch's final line, with validation results.
    void epoch_end(const logs& epoch_logs, std::size_t samples)
    {
        if (mode_ == verbosity::silent) return;
        const double elapsed = seconds_since_start(std::chrono::steady_clock::now());
        const double per_step = batches_ ? elapsed / double(batches_) : 0;
        if (mode_ == verbosity::bar)
            std::fprintf(out_, "\r%s - %s %.0fms/step%s - %.0f samples/s\033[K\n", bar(batches_).c_str(),
                         format_seconds(elapsed).c_str(), per_step * 1e3, format_logs(epoch_logs).c_str(),
                         samples / std::max(elapsed, 1e-9));
        else
            std::fprintf(out_, "Epoch %d/%d - %zu/%zu - %s %.0fms/step%s - %.0f samples/s\n", epoch_ + 1, epochs_,
                         batches_, batches_, format_seconds(elapsed).c_str(), per_step * 1e3,
                         format_logs(epoch_logs).c_str(), samples / std::max(elapsed, 1e-9));
        std::fflush(out_);
    }

    /// A line of its own (callback messages), not mixed into the bar.
    void message(const std::string& text)
    {
        if (mode_ == verbosity::silent) return;
        if (mode_ == verbosity::bar) std::fprintf(out_, "\r\033[K");
        std::fprintf(out_, "%s\n", text.c_str());
        std::fflush(out_);
    }

    bool silent() const noexcept { return mode_ == verbosity::silent; }

private:
    double seconds_since_start(std::chrono::steady_clock::time_point now) const
    {
        return std::chrono::duration<double>(now - start_).count();
    }

    std::string bar(std::size_t done) const
    {
        constexpr std::size_t width = 30;
        const std::string total = std::to_string(batches_);
        std::string counter = std::to_string(done);
        counter = std::string(total.size() - std::min(total.size(), counter.size()), ' ') + counter + "/" + total;
        const std::size_t filled = batches_ ? width * done / batches_ : width;
        std::string b(width, '.');
        for (std::size_t i = 0; i < filled; ++i) b[i] = '=';
        if (filled < width && filled > 0) b[filled - 1] = '>';
        return counter + " [" + b + "]";
    }

    std::FILE* out_;
    verbosity mode_;
    int epoch_ = 0, epochs_ = 0;
    std::size_t batches_ = 0;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

} // namespace detail
} // namespace lepton
