#pragma once
/// \file
/// Tables from CSV files, parsed by libcsv (Debian: `libcsv-dev`; link with
/// `-lcsv`, or CMake's `lepton::csv`). Not part of `<lepton/lepton.hpp>`:
/// including this header is what brings in libcsv.
///
///     const data::Table table = data::read_csv("cancer.csv");     // a header row names the columns
///     data::Dataset<float, 1> cancer;
///     cancer.features = table.numbers<float>(table.columns_except({"diagnosis"}));
///     const auto classes = table.categories("diagnosis");        // {"benign", "malignant"}
///     cancer.labels = table.labels("diagnosis", classes);
///
/// Fields may be quoted (with the delimiter, doubled quotes or line breaks
/// inside); spaces and tabs around unquoted fields are dropped; empty lines
/// are skipped; a UTF-8 byte-order mark is dropped; `.gz` files are read
/// through zlib. Every error names the file, and the line (and column) where
/// the record starts: a record with a different number of fields than the
/// header, a quote in the wrong place, a missing value or a field that is not
/// a number where numbers are asked for.

#include <csv.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "../tensor/tensor.hpp"

namespace lepton::data {

namespace detail {
struct csv_builder;
}

/// How `read_csv` reads a table.
struct csv_options {
    /// The field separator (',' by default; ';' or a tab for other dialects).
    char delimiter = ',';
    /// The quote character.
    char quote = '"';
    /// Whether the first record names the columns; without one they are named "0", "1", ...
    bool header = true;
    /// Field texts that mean "no value" (pandas' most common markers; the empty field among them).
    std::vector<std::string> missing = {"", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None"};
};

/// A table read from a CSV file: named columns of text fields, converted to
/// numbers or class labels on request. Rows and columns count from 0; error
/// messages give lines and columns from 1, as editors do.
class Table {
public:
    /// The file (or name) the table was read from, as error messages give it.
    const std::string& source() const noexcept { return source_; }
    /// The column names, in file order.
    const std::vector<std::string>& columns() const noexcept { return columns_; }
    /// Number of records (the header row excluded).
    std::size_t rows() const noexcept { return lines_.size(); }
    /// The line of the file on which record `row` starts.
    std::size_t line(std::size_t row) const { return lines_.at(row); }

    /// The position of the column called `name`; throws `value_error` listing the columns there are.
    std::size_t column(std::string_view name) const
    {
        const auto at = std::find(columns_.begin(), columns_.end(), name);
        if (at != columns_.end()) return std::size_t(at - columns_.begin());
        std::string known;
        for (const auto& c : columns_) known += (known.empty() ? "'" : ", '") + c + "'";
        throw value_error("lepton: '" + source_ + "' has no column '" + std::string(name) + "' (its columns: " +
                          known + ")");
    }
    /// Every column but `excluded` (each of which must exist), in file order.
    std::vector<std::string> columns_except(const std::vector<std::string>& excluded) const
    {
        for (const auto& name : excluded) column(name);
        std::vector<std::string> kept;
        for (const auto& c : columns_)
            if (std::find(excluded.begin(), excluded.end(), c) == excluded.end()) kept.push_back(c);
        return kept;
    }

    /// The text of one field (quotes removed).
    std::string_view cell(std::size_t row, std::size_t column) const
    {
        if (row >= rows() || column >= columns_.size())
            throw value_error("lepton: '" + source_ + "': no cell (" + std::to_string(row) + ", " +
                              std::to_string(column) + ") in a table of " + std::to_string(rows()) + " rows and " +
                              std::to_string(columns_.size()) + " columns");
        const std::size_t i = row * columns_.size() + column;
        return std::string_view(text_).substr(begin(i), ends_[i] - begin(i));
    }
    /// Whether a field holds one of the missing-value markers of `csv_options::missing`.
    bool is_missing(std::size_t row, std::size_t column) const
    {
        const std::string_view text = trimmed(cell(row, column));
        return std::find(missing_.begin(), missing_.end(), text) != missing_.end();
    }

    /// The named columns as numbers [rows, columns.size()], in the order asked for.
    /// A missing value or a field that is not a finite number throws `io_error`
    /// naming the file, the line and the column.
    template <class T = float>
    tensor<T, 2> numbers(const std::vector<std::string>& names) const
    {
        const std::vector<std::size_t> picked = positions(names);
        tensor<T, 2> out(std::array<std::size_t, 2>{rows(), picked.size()});
        for (std::size_t r = 0; r < rows(); ++r)
            for (std::size_t c = 0; c < picked.size(); ++c) out(r, c) = static_cast<T>(number(r, picked[c]));
        return out;
    }
    /// Every column as numbers [rows, columns].
    template <class T = float>
    tensor<T, 2> numbers() const
    {
        return numbers<T>(columns_);
    }

    /// The distinct values of a column, sorted: class names for `labels`. A missing value throws `io_error`.
    std::vector<std::string> categories(std::string_view name) const
    {
        const std::size_t c = column(name);
        std::vector<std::string> found;
        for (std::size_t r = 0; r < rows(); ++r) found.emplace_back(present(r, c));
        std::sort(found.begin(), found.end());
        found.erase(std::unique(found.begin(), found.end()), found.end());
        return found;
    }
    /// A column as class labels: each value's position in `classes`. A missing
    /// value or one that is not in `classes` throws `io_error` naming the line.
    std::vector<std::int32_t> labels(std::string_view name, const std::vector<std::string>& classes) const
    {
        const std::size_t c = column(name);
        std::vector<std::int32_t> out(rows());
        for (std::size_t r = 0; r < rows(); ++r) {
            const std::string_view text = present(r, c);
            const auto at = std::find(classes.begin(), classes.end(), text);
            if (at == classes.end())
                throw io_error(where(r, c) + ": '" + std::string(text) + "' is not one of the " +
                               std::to_string(classes.size()) + " classes given");
            out[r] = static_cast<std::int32_t>(at - classes.begin());
        }
        return out;
    }

    /// The table without the rows that miss a value in any of `names` (pandas'
    /// `dropna(subset=...)`); compare `rows()` to see how many went.
    Table drop_missing(const std::vector<std::string>& names) const
    {
        const std::vector<std::size_t> picked = positions(names);
        Table out;
        out.source_ = source_;
        out.columns_ = columns_;
        out.missing_ = missing_;
        for (std::size_t r = 0; r < rows(); ++r) {
            if (std::any_of(picked.begin(), picked.end(), [&](std::size_t c) { return is_missing(r, c); })) continue;
            std::vector<std::string_view> fields;
            for (std::size_t c = 0; c < columns_.size(); ++c) fields.push_back(cell(r, c));
            out.add_record(fields, lines_[r]);
        }
        return out;
    }

private:
    friend struct detail::csv_builder;
    friend Table parse_csv(std::string_view, std::string, const csv_options&);

    std::size_t begin(std::size_t i) const noexcept { return i ? ends_[i - 1] : 0; }
    std::vector<std::size_t> positions(const std::vector<std::string>& names) const
    {
        std::vector<std::size_t> at;
        for (const auto& name : names) at.push_back(column(name));
        return at;
    }
    static std::string_view trimmed(std::string_view s) noexcept
    {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    }
    std::string where(std::size_t row, std::size_t column) const
    {
        return "lepton: '" + source_ + "': line " + std::to_string(lines_[row]) + ", column " +
               std::to_string(column + 1) + " ('" + columns_[column] + "')";
    }
    std::string_view present(std::size_t row, std::size_t column) const
    {
        if (is_missing(row, column)) throw io_error(where(row, column) + ": missing value");
        return trimmed(cell(row, column));
    }
    double number(std::size_t row, std::size_t column) const
    {
        std::string_view text = present(row, column);
        if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && end == text.data() + text.size() && !std::isfinite(value)))
            throw io_error(where(row, column) + ": '" + std::string(text) + "' is not a finite number");
        if (ec != std::errc() || end != text.data() + text.size())
            throw io_error(where(row, column) + ": '" + std::string(text) + "' is not a number");
        return value;
    }
    /// Appends a record's fields (strings or string views).
    template <class Fields>
    void add_record(const Fields& fields, std::size_t line)
    {
        for (const auto& f : fields) {
            text_.append(f);
            ends_.push_back(text_.size());
        }
        lines_.push_back(line);
    }

    std::string source_;
    std::vector<std::string> columns_, missing_;
    std::string text_;               // every field's text, one after the other
    std::vector<std::size_t> ends_;  // where each field (row-major) ends in text_
    std::vector<std::size_t> lines_; // the line each record starts on
};

namespace detail {

/// What libcsv's callbacks build. They run inside C code, so they never
/// throw: the first error is kept and thrown once csv_parse returns.
struct csv_builder {
    csv_builder(Table& t, bool has_header) : table(&t), header(has_header) {}

    Table* table;
    bool header;
    std::size_t line = 0;  // the line being fed to the parser
    std::size_t record_line = 0;
    std::vector<std::string> fields;
    std::exception_ptr error;

    static void on_field(void* text, std::size_t size, void* self) noexcept
    {
        auto& b = *static_cast<csv_builder*>(self);
        if (b.error) return;
        try {
            const std::string_view s(static_cast<const char*>(text), size);
            // The record starts as many lines up as its first field has line breaks.
            if (b.fields.empty()) b.record_line = b.line - std::size_t(std::count(s.begin(), s.end(), '\n'));
            b.fields.emplace_back(s);
        } catch (...) {
            b.error = std::current_exception();
        }
    }
    static void on_record(int, void* self) noexcept
    {
        auto& b = *static_cast<csv_builder*>(self);
        if (b.error) return;
        try {
            b.finish_record();
        } catch (...) {
            b.error = std::current_exception();
        }
    }
    void finish_record();
};

} // namespace detail

/// Parses CSV text; `source` names it in error messages. Throws `io_error`
/// for malformed text (naming the line and byte), a record whose field count
/// differs from the first record's, a header naming a column twice, or text
/// with no records at all.
inline Table parse_csv(std::string_view text, std::string source, const csv_options& options = {})
{
    Table table;
    table.source_ = std::move(source);
    table.missing_ = options.missing;
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);

    csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) throw std::bad_alloc();
    struct release {
        csv_parser* p;
        ~release() { csv_free(p); }
    } released{&parser};
    csv_set_delim(&parser, static_cast<unsigned char>(options.delimiter));
    csv_set_quote(&parser, static_cast<unsigned char>(options.quote));

    detail::csv_builder builder(table, options.header);
    auto fail = [&](std::size_t line, std::string what) {
        throw io_error("lepton: '" + table.source_ + "': line " + std::to_string(line) + ": " + what);
    };
    auto rethrow = [&] {
        if (builder.error) std::rethrow_exception(builder.error);
    };
    // Fed a line at a time, so that the callbacks know the line they are on.
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t newline = text.find('\n', at);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
        ++builder.line;
        const std::size_t fed = csv_parse(&parser, text.data() + at, end - at, detail::csv_builder::on_field,
                                          detail::csv_builder::on_record, &builder);
        rethrow();
        if (fed != end - at) {
            const int code = csv_error(&parser);
            if (code == CSV_ENOMEM || code == CSV_ETOOBIG) throw std::bad_alloc();
            fail(builder.line, std::string(csv_strerror(code)) + " at byte " + std::to_string(fed + 1) +
                                   " of the line (a quote inside an unquoted field, or text after a closing quote)");
        }
        at = end;
    }
    if (csv_fini(&parser, detail::csv_builder::on_field, detail::csv_builder::on_record, &builder) != 0)
        fail(builder.line, "the text ends inside a quoted field (a closing quote is missing on this line or before it)");
    rethrow();
    if (table.columns_.empty()) throw io_error("lepton: '" + table.source_ + "': no records (the text is empty)");
    return table;
}

/// Reads a CSV file (or a gzip-compressed one) into a `Table`; see `parse_csv`
/// for what is checked. A file that cannot be read throws `io_error`.
inline Table read_csv(const std::filesystem::path& path, const csv_options& options = {})
{
    const std::string name = path.string();
    gzFile file = gzopen(name.c_str(), "rb");
    if (!file) throw io_error("lepton: cannot open '" + name + "'");
    std::string text;
    std::array<char, 1 << 16> chunk;
    for (;;) {
        const int got = gzread(file, chunk.data(), unsigned(chunk.size()));
        if (got < 0) {
            int code = 0;
            const std::string message = gzerror(file, &code);
            gzclose(file);
            throw io_error("lepton: '" + name + "': corrupt compressed data near offset " + std::to_string(text.size()) +
                           " (" + message + ")");
        }
        if (got == 0) break;
        text.append(chunk.data(), std::size_t(got));
    }
    gzclose(file);
    return parse_csv(text, name, options);
}

inline void detail::csv_builder::finish_record()
{
    if (table->columns_.empty()) {
        // The first record: the header, or the first row of data naming nothing.
        if (header) {
            for (std::size_t i = 0; i < fields.size(); ++i) {
                const std::string_view name = Table::trimmed(fields[i]);
                const auto earlier = std::find(table->columns_.begin(), table->columns_.end(), name);
                if (earlier != table->columns_.end())
                    throw io_error("lepton: '" + table->source_ + "': line " + std::to_string(record_line) + ": column " +
                                   std::to_string(i + 1) + " is named '" + std::string(name) + "' as column " +
                                   std::to_string(earlier - table->columns_.begin() + 1) + " is");
                table->columns_.emplace_back(name);
            }
        } else {
            for (std::size_t i = 0; i < fields.size(); ++i) table->columns_.push_back(std::to_string(i));
            table->add_record(fields, record_line);
        }
    } else if (fields.size() != table->columns_.size()) {
        throw io_error("lepton: '" + table->source_ + "': line " + std::to_string(record_line) + ": " +
                       std::to_string(fields.size()) + " fields, expected " + std::to_string(table->columns_.size()) +
                       (header ? " (as the header names)" : " (as the first record has)"));
    } else {
        table->add_record(fields, record_line);
    }
    fields.clear();
}

} // namespace lepton::data
