// The CSV reader on arbitrary bytes: the first byte picks the dialect (a
// header row or none; ',', ';' or tab between fields), the rest is the text.
// An accepted table is rectangular, numbers() gives finite values or refuses
// with io_error, labels index the categories, and dropping rows with missing
// values keeps only rows without them.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <lepton/data/csv.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const char delimiters[3] = {',', ';', '\t'};
    lepton::data::csv_options options;
    options.header = (data[0] & 1) != 0;
    options.delimiter = delimiters[(data[0] >> 1) % 3];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    fuzz::accepted([&] {
        const auto table = lepton::data::parse_csv(text, "fuzz.csv", options);
        const std::size_t columns = table.columns().size();
        fuzz::require(columns > 0, "a table has columns");
        for (std::size_t r = 0; r < table.rows(); ++r) {
            fuzz::require(r == 0 || table.line(r) >= table.line(r - 1), "records start on lines in file order");
            for (std::size_t c = 0; c < columns; ++c) (void)table.cell(r, c);
        }
        fuzz::accepted([&] {
            const auto x = table.numbers<double>();
            fuzz::require(x.shape()[0] == table.rows() && x.shape()[1] == columns, "numbers() is rows x columns");
            for (const double v : x) fuzz::require(std::isfinite(v), "numbers() are finite");
        });
        fuzz::accepted([&] {
            const auto classes = table.categories(table.columns()[0]);
            for (const auto label : table.labels(table.columns()[0], classes))
                fuzz::require(label >= 0 && std::size_t(label) < classes.size(), "labels index the categories");
        });
        const auto kept = table.drop_missing(table.columns());
        fuzz::require(kept.rows() <= table.rows(), "dropping rows keeps at most all of them");
        for (std::size_t r = 0; r < kept.rows(); ++r)
            for (std::size_t c = 0; c < columns; ++c) fuzz::require(!kept.is_missing(r, c), "no missing value is kept");
    });
    return 0;
}
