// Tables: CSV files read through libcsv, seeded and stratified splits, and
// scalers saved in the same file as the network they were fitted for.
#include <doctest/doctest.h>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <lepton/data/csv.hpp>
#include <lepton/data/scaling.hpp>
#include <lepton/data/split.hpp>
#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>

using namespace lepton;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name)
{
    const fs::path dir = fs::temp_directory_path() / ("lepton_test_tables_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

using TableNet = Network<float, cpu, Input<3>, Dense<4>, ReLU, Dense<1>>;

std::vector<float> parameters_of(TableNet& net)
{
    return {net.parameters().data(), net.parameters().data() + net.parameters().size()};
}

std::vector<double> copy_of(std::span<const double> s) { return {s.begin(), s.end()}; }

} // namespace

TEST_CASE("parse_csv: header, quoted fields with delimiters, quotes and line breaks, trimmed spaces, lines of records")
{
    const std::string text = "\xEF\xBB\xBF"
                             "name, age ,score\r\n"
                             "\"Smith, Jo\",41, 3.5\r\n"
                             "\n"
                             "\"said \"\"hi\"\"\",7,-2e3\n"
                             "\"two\nlines\",  9 ,+0.25\n"
                             "last,1,1";  // no line break at the end
    const data::Table t = data::parse_csv(text, "people.csv");
    REQUIRE(t.columns() == std::vector<std::string>{"name", "age", "score"});
    REQUIRE(t.rows() == 4);
    CHECK(t.cell(0, 0) == "Smith, Jo");
    CHECK(t.cell(1, 0) == "said \"hi\"");
    CHECK(t.cell(2, 0) == "two\nlines");
    CHECK(t.cell(2, 1) == "9");
    // Records start on lines 2, 4 (line 3 is empty), 5 and 7 (line 6 continues a quoted field).
    CHECK(t.line(0) == 2);
    CHECK(t.line(1) == 4);
    CHECK(t.line(2) == 5);
    CHECK(t.line(3) == 7);

    const auto x = t.numbers<double>({"score", "age"});  // in the order asked for
    REQUIRE(x.shape()[0] == 4);
    REQUIRE(x.shape()[1] == 2);
    CHECK(x(0, 0) == 3.5);
    CHECK(x(1, 0) == -2000.0);
    CHECK(x(2, 0) == 0.25);
    CHECK(x(0, 1) == 41.0);
    CHECK(x(3, 1) == 1.0);
    CHECK(t.columns_except({"name"}) == std::vector<std::string>{"age", "score"});
    CHECK_THROWS_WITH_AS(t.numbers<float>({"age", "weight"}),
                         doctest::Contains("'people.csv' has no column 'weight' (its columns: 'name', 'age', 'score')"),
                         value_error);
    CHECK_THROWS_WITH_AS(t.numbers<float>({"name"}),
                         doctest::Contains("'people.csv': line 2, column 1 ('name'): 'Smith, Jo' is not a number"), io_error);

    // Without a header the first record is data, and the columns are numbered.
    const data::Table plain = data::parse_csv("1;2\n3;4\n", "plain.csv", {.delimiter = ';', .header = false});
    CHECK(plain.columns() == std::vector<std::string>{"0", "1"});
    CHECK(plain.numbers<float>()(1, 1) == 4.0f);
}

TEST_CASE("parse_csv: malformed text, ragged records and bad headers throw io_error naming the file and the line")
{
    CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2\n3\n", "t.csv"),
                         doctest::Contains("'t.csv': line 3: 1 fields, expected 2 (as the header names)"), io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2,3\n", "t.csv"), doctest::Contains("line 2: 3 fields, expected 2"),
                         io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,x\"y\n", "t.csv"), doctest::Contains("'t.csv': line 2: "), io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,\"open\n2,3\n", "t.csv"),
                         doctest::Contains("'t.csv': line 3: the text ends inside a quoted field"), io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("a,b,a\n1,2,3\n", "t.csv"),
                         doctest::Contains("line 1: column 3 is named 'a' as column 1 is"), io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("", "empty.csv"), doctest::Contains("'empty.csv': no records"), io_error);
    CHECK_THROWS_WITH_AS(data::read_csv("/nonexistent/table.csv"), doctest::Contains("cannot open '/nonexistent/table.csv'"),
                         io_error);
}

TEST_CASE("Table: missing values are reported with line and column, or their rows dropped; labels from class names")
{
    const data::Table t = data::parse_csv("x,y,kind\n"
                                          "1,2,cat\n"
                                          "3,NA,dog\n"
                                          "4,5,\n"
                                          "6,nan,cat\n"
                                          "7,8,dog\n",
                                          "pets.csv");
    CHECK(t.is_missing(1, 1));
    CHECK(t.is_missing(2, 2));
    CHECK_FALSE(t.is_missing(0, 1));
    CHECK_THROWS_WITH_AS(t.numbers<float>({"x", "y"}), doctest::Contains("'pets.csv': line 3, column 2 ('y'): missing value"),
                         io_error);
    CHECK_THROWS_WITH_AS(t.categories("kind"), doctest::Contains("line 4, column 3 ('kind'): missing value"), io_error);

    const data::Table kept = t.drop_missing({"y", "kind"});
    REQUIRE(kept.rows() == 2);
    CHECK(kept.line(1) == 6);  // lines stay those of the file
    const auto classes = kept.categories("kind");
    CHECK(classes == std::vector<std::string>{"cat", "dog"});
    CHECK(kept.labels("kind", classes) == std::vector<std::int32_t>{0, 1});
    CHECK_THROWS_WITH_AS(kept.labels("kind", {"cat"}), doctest::Contains("line 6, column 3 ('kind'): 'dog' is not one of the 1 classes"),
                         io_error);
    // Only the columns asked about count: x has no missing values.
    CHECK(t.drop_missing({"x"}).rows() == 5);

    const data::Table odd = data::parse_csv("v\n1e999\ninf\n", "odd.csv");
    CHECK_THROWS_WITH_AS(odd.numbers<double>(), doctest::Contains("line 2, column 1 ('v'): '1e999' is not a finite number"),
                         io_error);
    CHECK_THROWS_WITH_AS(data::parse_csv("v\n-inf\n", "inf.csv").numbers<double>(),
                         doctest::Contains("line 2, column 1 ('v'): '-inf' is not a finite number"), io_error);
}

TEST_CASE("read_csv: the Breast Cancer Wisconsin table, plain and gzip-compressed")
{
    const fs::path path = fs::path(LEPTON_DATA_DIR) / "breast_cancer" / "breast_cancer.csv";
    const data::Table t = data::read_csv(path);
    REQUIRE(t.rows() == 569);
    REQUIRE(t.columns().size() == 31);
    CHECK(t.columns().front() == "mean radius");
    const auto x = t.numbers<double>(t.columns_except({"diagnosis"}));
    CHECK(x.shape()[1] == 30);
    CHECK(x(0, 0) == 17.99);
    CHECK(x(568, 29) == 0.07039);  // the last row's worst fractal dimension
    const auto classes = t.categories("diagnosis");
    REQUIRE(classes == std::vector<std::string>{"benign", "malignant"});
    const auto labels = t.labels("diagnosis", classes);
    CHECK(std::count(labels.begin(), labels.end(), 1) == 212);

    // The same bytes through zlib.
    const fs::path dir = fresh_dir("gzip");
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gzFile out = gzopen((dir / "cancer.csv.gz").c_str(), "wb");
    REQUIRE(out);
    REQUIRE(gzwrite(out, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    gzclose(out);
    const data::Table z = data::read_csv(dir / "cancer.csv.gz");
    CHECK(z.rows() == 569);
    CHECK(z.numbers<double>(t.columns_except({"diagnosis"})) == x);
}

TEST_CASE("split: seeded, disjoint, every sample once, sizes rounded up; stratified keeps class proportions")
{
    data::Dataset<float, 1> d;
    d.features.resize({103, 2});
    for (std::size_t i = 0; i < 103; ++i) {
        d.features(i, 0) = float(i);  // a sample's own index, to follow it
        d.features(i, 1) = 0;
        d.labels.push_back(i < 70 ? 0 : (i < 95 ? 1 : 2));  // 70 / 25 / 8
    }
    auto ids = [](const data::Dataset<float, 1>& part) {
        std::vector<int> out;
        for (std::size_t i = 0; i < part.size(); ++i) out.push_back(int(part.features(i, 0)));
        return out;
    };
    const auto parts = data::split(d, {.validation = 0.1, .test = 0.2, .seed = 3});
    CHECK(parts.test.size() == 21);        // ceil(20.6)
    CHECK(parts.validation.size() == 11);  // ceil(10.3)
    CHECK(parts.train.size() == 71);
    std::vector<int> all;
    for (const auto* p : {&parts.train, &parts.validation, &parts.test}) {
        const auto v = ids(*p);
        CHECK(std::is_sorted(v.begin(), v.end()));
        for (std::size_t i = 0; i < p->size(); ++i) CHECK(p->labels[i] == d.labels[std::size_t(v[i])]);
        all.insert(all.end(), v.begin(), v.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(all == [] { std::vector<int> v(103); for (int i = 0; i < 103; ++i) v[std::size_t(i)] = i; return v; }());
    CHECK(ids(data::split(d, {.validation = 0.1, .test = 0.2, .seed = 3}).test) == ids(parts.test));
    CHECK(ids(data::split(d, {.validation = 0.1, .test = 0.2, .seed = 4}).test) != ids(parts.test));

    const auto strat = data::split(d, {.validation = 0.1, .test = 0.2, .seed = 3, .stratify = true});
    CHECK(strat.test.size() == 21);
    CHECK(strat.validation.size() == 11);
    auto count = [](const data::Dataset<float, 1>& part, std::int32_t label) {
        return double(std::count(part.labels.begin(), part.labels.end(), label));
    };
    const double sizes[3] = {70, 25, 8};
    for (std::int32_t c = 0; c < 3; ++c) {
        CHECK(std::abs(count(strat.test, c) - sizes[c] * 21 / 103) < 1.0);
        CHECK(std::abs(count(strat.validation, c) - sizes[c] * 11 / 103) < 1.0);
    }

    CHECK_THROWS_WITH_AS(data::split(d, {.validation = 0.5, .test = 0.5}), doctest::Contains("leave none of 103 to train on"),
                         value_error);
    CHECK_THROWS_WITH_AS(data::split(d, {.test = -0.1}), doctest::Contains("the test fraction is -0.1"), value_error);
    data::Dataset<float, 1, 1> reg;
    reg.features.resize({10, 2});
    reg.targets.resize({10, 1});
    CHECK(data::split(reg, {.test = 0.3}).test.size() == 3);
    CHECK_THROWS_WITH_AS(data::split(reg, {.test = 0.3, .stratify = true}), doctest::Contains("stratify needs a data set of class labels"),
                         value_error);
}

TEST_CASE("scalers travel in the weights file and the checkpoint; bad or missing statistics change nothing")
{
    const fs::path dir = fresh_dir("scalers");
    tensor<float, 2> x({5, 3});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i * i % 7) - 2.5f;
    data::Standardizer<float> features;
    features.fit(x);
    data::MinMaxScaler<float> target;
    tensor<float, 2> first_column({5, 1});
    for (std::size_t i = 0; i < 5; ++i) first_column(i, 0) = x(i, 0);
    target.fit(first_column);

    TableNet a(1), b(2);
    io::save_weights(a, dir / "model.safetensors", {{"features", features}, {"target", target}});
    const io::safetensors_file file(dir / "model.safetensors");
    const io::tensor_info* mean = file.find("scaler.features.mean");
    REQUIRE(mean);
    CHECK(mean->type == io::dtype::F64);
    CHECK(mean->shape == std::vector<std::size_t>{3});
    CHECK(file.find("scaler.target.max"));

    data::Standardizer<float> features_back;
    data::MinMaxScaler<float> target_back;
    io::load_weights(b, dir / "model.safetensors", {{"features", features_back}, {"target", target_back}});
    CHECK(parameters_of(b) == parameters_of(a));
    CHECK(copy_of(features_back.mean()) == copy_of(features.mean()));
    CHECK(copy_of(features_back.stddev()) == copy_of(features.stddev()));
    CHECK(copy_of(target_back.max()) == copy_of(target.max()));
    tensor<float, 2> y1 = x, y2 = x;
    features.transform(y1);
    features_back.transform(y2);
    CHECK(y1 == y2);

    // Strict both ways: statistics not asked for are unexpected, those asked for must be there.
    TableNet c(3);
    const auto c_before = parameters_of(c);
    CHECK_THROWS_WITH_AS(io::load_weights(c, dir / "model.safetensors"),
                         doctest::Contains("unexpected tensors: 'scaler.features.mean'"), io_error);
    data::Standardizer<float> other;
    CHECK_THROWS_WITH_AS(io::load_weights(c, dir / "model.safetensors", {{"inputs", other}, {"features", features_back}}),
                         doctest::Contains("no tensor 'scaler.inputs.mean'"), io_error);
    CHECK(parameters_of(c) == c_before);
    CHECK(other.mean().empty());

    // Statistics the scaler refuses (a negative standard deviation) leave network and scalers as they were.
    {
        std::vector<io::tensor_ref> refs;
        std::vector<double> negative(3, -1.0);
        for (const auto& t : file.tensors())
            if (t.name == "scaler.features.stddev")
                refs.push_back({t.name, t.type, t.shape, std::as_bytes(std::span<const double>(negative))});
            else
                refs.push_back({t.name, t.type, t.shape, file.bytes(t)});
        io::write_safetensors(dir / "bad.safetensors", refs, file.metadata());
    }
    data::Standardizer<float> untouched = features_back;
    CHECK_THROWS_WITH_AS(io::load_weights(c, dir / "bad.safetensors", {{"features", untouched}, {"target", target_back}}),
                         doctest::Contains("bad.safetensors': the scaler 'features': Standardizer: feature 0"), io_error);
    CHECK(parameters_of(c) == c_before);
    CHECK(copy_of(untouched.stddev()) == copy_of(features.stddev()));

    // Saving refuses what it could not load back.
    data::Standardizer<float> unfitted;
    CHECK_THROWS_WITH_AS(io::save_weights(a, dir / "never.safetensors", {{"features", unfitted}}),
                         doctest::Contains("the scaler 'features' has not been fitted"), value_error);
    CHECK_THROWS_WITH_AS(io::save_weights(a, dir / "never.safetensors", {{"s", features}, {"s", target}}),
                         doctest::Contains("two scalers are named 's'"), value_error);
    CHECK(!fs::exists(dir / "never.safetensors"));

    // A checkpoint with a loader and scalers.
    Adam oa(a), ob(b);
    data::Dataset<float, 1, 1> set;
    set.features = x;
    set.targets.resize({5, 1});
    data::BatchLoader loader(set, 2, true, 9);
    io::save_checkpoint(dir / "checkpoint.safetensors", a, oa, 3, loader, {{"features", features}});
    data::Standardizer<float> restored;
    data::BatchLoader other_loader(set, 2, true, 1);
    CHECK(io::load_checkpoint(dir / "checkpoint.safetensors", b, ob, other_loader, {{"features", restored}}) == 3);
    CHECK(copy_of(restored.mean()) == copy_of(features.mean()));
    CHECK(other_loader.state() == loader.state());
    io::save_checkpoint(dir / "plain.safetensors", a, oa, 4, {{"features", features}});
    data::Standardizer<float> restored2;
    CHECK(io::load_checkpoint(dir / "plain.safetensors", b, ob, {{"features", restored2}}) == 4);
    CHECK(copy_of(restored2.stddev()) == copy_of(features.stddev()));
}

TEST_CASE("scalers: set_statistics checks what it is given; fit refuses NaN")
{
    data::Standardizer<double> s;
    CHECK_THROWS_WITH_AS(s.set_statistics({1, 2}, {1}), doctest::Contains("statistics of 2 and 1 features"), value_error);
    CHECK_THROWS_WITH_AS(s.set_statistics({1}, {-1}), doctest::Contains("the standard deviation >= 0"), value_error);
    CHECK(s.mean().empty());
    s.set_statistics({1, 2}, {2, 0});
    tensor<double, 2> x = {{3, 5}};
    s.transform(x);
    CHECK(x(0, 0) == 1.0);
    CHECK(x(0, 1) == 3.0);  // a feature that does not vary is only centred
    data::MinMaxScaler<double> m;
    CHECK_THROWS_WITH_AS(m.set_statistics({2}, {1}), doctest::Contains("min <= max"), value_error);
    tensor<double, 2> with_nan = {{1, std::nan("")}, {2, 3}};
    CHECK_THROWS_WITH_AS(m.fit(with_nan), doctest::Contains("sample 0 has NaN at feature 1"), value_error);
    CHECK_THROWS_WITH_AS(s.fit(with_nan), doctest::Contains("Standardizer: feature 1"), value_error);
}
