// Runs an example in its short mode and checks what it says it writes.
//
//   check_example [--accuracy NAME]... [--value NAME]... [--png FILE]... [--csv FILE]...
//                 [--file FILE]... [--text-after MARKER] [--clean DIR] -- PROGRAM ARGS...
//
// --accuracy NAME    stdout has a line "NAME: <number>" with a number in [0, 1]
// --value NAME       stdout has a line "NAME: <number>" with a finite number
// --png FILE         FILE exists after the run, decodes as an image (read back
//                    with stb_image) and is not a single flat colour
// --csv FILE         FILE has a header and at least one row, every row as wide
//                    as the header, and every cell of the rows a finite number
// --file FILE        FILE exists after the run and is not empty
// --text-after M     the lines after the line that starts with M hold some text
// --clean DIR        DIR is removed before the run, so old files do not count
// The program's stdout is echoed. Exit status 0 when it ran and every check
// passed; otherwise each failure is printed and the status is 1.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif

namespace {

int failures = 0;

void fail(const std::string& what)
{
    std::fprintf(stderr, "check_example: %s\n", what.c_str());
    ++failures;
}

std::string quoted(const std::string& arg)
{
    std::string out = "'";
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/// The line "NAME: <number>" holds a finite number, in [0, 1] when `unit` is set.
void check_number(const std::vector<std::string>& lines, const std::string& name, bool unit)
{
    const std::string prefix = name + ": ";
    for (const auto& line : lines) {
        if (!line.starts_with(prefix)) continue;
        char* end = nullptr;
        const double value = std::strtod(line.c_str() + prefix.size(), &end);
        if (end == line.c_str() + prefix.size() || !std::isfinite(value) || (unit && (value < 0 || value > 1)))
            fail("'" + line + (unit ? "' does not hold an accuracy in [0, 1]" : "' does not hold a finite number"));
        return;
    }
    fail("no line '" + prefix + "<number>' in the output");
}

void check_png(const std::string& path)
{
    int w = 0, h = 0, channels = 0;
    unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &channels, 0);
    if (!pixels) {
        fail(path + ": not a readable image (" + (std::filesystem::exists(path) ? stbi_failure_reason() : "missing") + ")");
        return;
    }
    const std::size_t n = std::size_t(w) * std::size_t(h) * std::size_t(channels);
    bool varied = false;
    for (std::size_t i = std::size_t(channels); i < n && !varied; ++i) varied = pixels[i] != pixels[i % std::size_t(channels)];
    stbi_image_free(pixels);
    if (!varied) fail(path + ": the image is one flat colour");
    std::printf("check_example: %s: %dx%d, %d channels\n", path.c_str(), w, h, channels);
}

std::vector<std::string> split_csv(const std::string& line)
{
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    return cells;
}

void check_csv(const std::string& path)
{
    std::ifstream in(path);
    if (!in) return fail(path + ": missing");
    std::string line;
    if (!std::getline(in, line) || line.empty()) return fail(path + ": no header row");
    const std::size_t columns = split_csv(line).size();
    std::size_t rows = 0;
    while (std::getline(in, line)) {
        ++rows;
        const auto cells = split_csv(line);
        if (cells.size() != columns)
            return fail(path + ": row " + std::to_string(rows) + " has " + std::to_string(cells.size()) +
                        " cells, the header " + std::to_string(columns));
        for (const auto& cell : cells) {
            char* end = nullptr;
            const double v = std::strtod(cell.c_str(), &end);
            if (cell.empty() || *end != '\0' || !std::isfinite(v))
                return fail(path + ": row " + std::to_string(rows) + ": '" + cell + "' is not a finite number");
        }
    }
    if (rows == 0) return fail(path + ": a header and no rows");
    std::printf("check_example: %s: %zu columns, %zu rows\n", path.c_str(), columns, rows);
}

void check_text_after(const std::vector<std::string>& lines, const std::string& marker)
{
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (!lines[i].starts_with(marker)) continue;
        std::size_t printable = 0;
        for (std::size_t j = i + 1; j < lines.size(); ++j)
            for (char c : lines[j]) printable += c > ' ' && c < 127;
        if (printable == 0) fail("nothing but blanks after '" + marker + "'");
        return;
    }
    fail("no line starting with '" + marker + "' in the output");
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> accuracies, values, pngs, csvs, files, markers, command;
    std::string clean;
    int i = 1;
    for (; i < argc && std::string_view(argv[i]) != "--"; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "check_example: %s needs a value\n", argv[i]);
            return 2;
        }
        const std::string value = argv[++i];
        if (flag == "--accuracy") accuracies.push_back(value);
        else if (flag == "--value") values.push_back(value);
        else if (flag == "--png") pngs.push_back(value);
        else if (flag == "--csv") csvs.push_back(value);
        else if (flag == "--file") files.push_back(value);
        else if (flag == "--text-after") markers.push_back(value);
        else if (flag == "--clean") clean = value;
        else {
            std::fprintf(stderr, "check_example: unknown flag %s\n", argv[i - 1]);
            return 2;
        }
    }
    std::string line_cmd;
    for (++i; i < argc; ++i) {
        if (!line_cmd.empty()) line_cmd += ' ';
        line_cmd += quoted(argv[i]);
    }
    if (line_cmd.empty()) {
        std::fprintf(stderr, "check_example: no program after --\n");
        return 2;
    }
    if (!clean.empty()) std::filesystem::remove_all(clean);

    std::FILE* pipe = popen(line_cmd.c_str(), "r");
    if (!pipe) {
        std::perror("check_example: popen");
        return 2;
    }
    std::string output;
    std::array<char, 4096> buffer;
    for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
        output.append(buffer.data(), n);
        std::fwrite(buffer.data(), 1, n, stdout);
    }
    const int status = pclose(pipe);
    std::fflush(stdout);
    if (status != 0) fail("the program exited with status " + std::to_string(WEXITSTATUS(status)));

    const auto lines = lines_of(output);
    for (const auto& name : accuracies) check_number(lines, name, true);
    for (const auto& name : values) check_number(lines, name, false);
    for (const auto& path : pngs) check_png(path);
    for (const auto& path : csvs) check_csv(path);
    for (const auto& path : files) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec || size == 0) fail(path + ": " + (ec ? "missing (" + ec.message() + ")" : std::string("empty")));
        else std::printf("check_example: %s: %ju bytes\n", path.c_str(), std::uintmax_t(size));
    }
    for (const auto& marker : markers) check_text_after(lines, marker);
    return failures == 0 ? 0 : 1;
}
