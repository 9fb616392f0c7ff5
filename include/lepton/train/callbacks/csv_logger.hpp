#pragma once
/// \file
/// CSVLogger, as Keras': one row per epoch ("epoch" 0-based, then every logged
/// quantity), flushed after each row so a crashed run keeps its log.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../callback.hpp"

namespace lepton {

/// Writes the epoch logs to a CSV file.
template <class T = float>
class CSVLogger : public Callback<T> {
public:
    /// Writes to `path`, replacing it (or adding to it with `append`).
    explicit CSVLogger(std::string path, bool append = false) : path_(std::move(path)), append_(append) {}

    /// Opens the file.
    void on_train_begin(training_context<T>&) override
    {
        out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
        if (!out_) throw io_error("lepton: CSVLogger cannot write '" + path_ + "'");
        columns_.clear();
    }
    /// Writes one row (the header first).
    void on_epoch_end(training_context<T>&, int epoch, const logs& l) override
    {
        if (columns_.empty()) {
            out_ << "epoch";
            for (const auto& item : l.items()) {
                columns_.push_back(item.first);
                out_ << ',' << item.first;
            }
            out_ << '\n';
        }
        out_ << epoch;
        for (const auto& name : columns_) {
            out_ << ',';
            if (l.has(name)) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.9g", l.get(name));
                out_ << buf;
            }
        }
        out_ << '\n';
        out_.flush();
    }
    /// Closes the file.
    void on_train_end(training_context<T>&) override { out_.close(); }

private:
    std::string path_;
    bool append_;
    std::ofstream out_;
    std::vector<std::string> columns_;
};

} // namespace lepton
