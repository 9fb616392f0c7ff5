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
    void on_train_begin(training_context<T>& ctx) override
    {
        writes_ = ctx.rank == 0;  // data-parallel training: one file, from rank 0
        if (!writes_) return;
        // Appending to a file that already has rows keeps its header (Keras does the same).
        bool has_header = false;
        if (append_) {
            std::ifstream existing(path_);
            has_header = existing && existing.peek() != std::ifstream::traits_type::eof();
        }
        out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
        if (!out_) throw io_error("lepton: CSVLogger cannot write '" + path_ + "'");
        columns_.clear();
        header_written_ = has_header;
    }
    /// Writes one row (the header first).
    void on_epoch_end(training_context<T>&, int epoch, const logs& l) override
    {
        if (!writes_) return;
        if (columns_.empty()) {
            for (const auto& item : l.items()) columns_.push_back(item.first);
            if (!header_written_) {
                out_ << "epoch";
                for (const auto& name : columns_) out_ << ',' << name;
                out_ << '\n';
                header_written_ = true;
            }
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
    bool writes_ = true;
    std::string path_;
    bool append_;
    std::ofstream out_;
    std::vector<std::string> columns_;
    bool header_written_ = false;
};

} // namespace lepton
