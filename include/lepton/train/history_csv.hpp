#pragma once
/// \file
/// A History as a CSV file: "epoch" (0-based, as Keras' CSVLogger) and one
/// column per logged quantity.

#include <cstdio>
#include <fstream>
#include <string>

#include "../core/error.hpp"
#include "history.hpp"

namespace lepton {

/// Writes `history` to `path`; throws `io_error` naming the path when it cannot.
inline void save_history_csv(const std::string& path, const History& history)
{
    std::ofstream out(path, std::ios::trunc);
    if (!out) throw io_error("lepton: cannot write '" + path + "'");
    out << "epoch";
    for (const auto& s : history.series()) out << ',' << s.first;
    out << '\n';
    char buf[32];
    for (std::size_t e = 0; e < history.epochs(); ++e) {
        out << e;
        for (const auto& s : history.series()) {
            std::snprintf(buf, sizeof buf, "%.9g", s.second[e]);
            out << ',' << buf;
        }
        out << '\n';
    }
    if (!out.flush()) throw io_error("lepton: writing '" + path + "' failed");
}

} // namespace lepton
