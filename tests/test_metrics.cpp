// Metrics against hand-computed values, scikit-learn's classification report
// text, PNG files read back with stb_image, and the charts.
#include <doctest/doctest.h>

#include <lepton/io/plot.hpp>
#include <lepton/io/png.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/metrics/classification_report.hpp>
#include <lepton/metrics/confusion_matrix.hpp>
#include <lepton/metrics/macro_f1.hpp>

#if LEPTON_HAS_PNG
// The decoder, compiled in this translation unit only.
#define STB_IMAGE_IMPLEMENTATION
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif
#endif

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace lepton;
using metrics::average;

namespace {

tensor<float, 2> logits(std::vector<std::vector<float>> rows)
{
    tensor<float, 2> t({rows.size(), rows.empty() ? 0 : rows[0].size()});
    for (std::size_t r = 0; r < rows.size(); ++r)
        for (std::size_t c = 0; c < rows[r].size(); ++c) t(r, c) = rows[r][c];
    return t;
}

// One-hot logits that predict `predicted`.
tensor<float, 2> predicting(const std::vector<std::int32_t>& predicted, std::size_t classes)
{
    tensor<float, 2> t({predicted.size(), classes});
    t.fill(-1.0f);
    for (std::size_t r = 0; r < predicted.size(); ++r) t(r, std::size_t(predicted[r])) = 2.0f;
    return t;
}

// The 3-class example of every test below:
//   true      0 0 0 0 1 1 1 2 2 2
//   predicted 0 0 1 2 1 1 0 2 2 1
// confusion matrix (rows true, columns predicted):
//   [2 1 1]   support   4 3 3
//   [1 2 0]   predicted 3 4 3
//   [0 1 2]   diagonal  2 2 2
// precision 2/3, 2/4, 2/3; recall 2/4, 2/3, 2/3; F1 = 2tp / (support + predicted) = 4/7, 4/7, 4/6;
// accuracy 6/10; macro P = R = 11/18, macro F1 = (4/7 + 4/7 + 2/3) / 3 = 38/63;
// weighted P = (4 2/3 + 3 1/2 + 3 2/3) / 10 = 37/60, weighted R = 6/10,
// weighted F1 = (4 4/7 + 3 4/7 + 3 2/3) / 10 = 6/10.
const std::vector<std::int32_t> y_true{0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
const std::vector<std::int32_t> y_pred{0, 0, 1, 2, 1, 1, 0, 2, 2, 1};

metrics::confusion_matrix example_matrix()
{
    metrics::confusion_matrix m(3);
    m.add(y_true, y_pred);
    return m;
}

std::string temp_path(const std::string& name)
{
    return (std::filesystem::temp_directory_path() / ("lepton_test_" + name)).string();
}

} // namespace

TEST_CASE("metrics: accuracy takes the first largest logit and accumulates over batches")
{
    metrics::accuracy<float> acc;
    CHECK(acc.name() == "accuracy");
    CHECK(acc.result() == 0.0);
    // Row 1 ties classes 0 and 1: the prediction is 0.
    acc.update(logits({{0.1f, 0.7f, 0.2f}, {1.0f, 1.0f, 0.0f}, {3.0f, -1.0f, 2.0f}}), std::vector<std::int32_t>{1, 1, 0});
    CHECK(acc.correct() == 2);
    CHECK(acc.result() == doctest::Approx(2.0 / 3.0));
    acc.update(logits({{0.0f, 0.0f, 5.0f}}), std::vector<std::int32_t>{0});
    CHECK(acc.total() == 4);
    CHECK(acc.result() == 0.5);
    acc.reset();
    CHECK(acc.result() == 0.0);
    acc.update(predicting(y_pred, 3), y_true);
    CHECK(acc.result() == doctest::Approx(0.6));

    CHECK_THROWS_AS(acc.update(logits({{0.0f, 1.0f}}), std::vector<std::int32_t>{2}), value_error);
    CHECK_THROWS_AS(acc.update(logits({{0.0f, 1.0f}}), std::vector<std::int32_t>{0, 1}), shape_error);
    CHECK_THROWS_AS(acc.update(logits({{0.5f}}), std::vector<std::int32_t>{0}), shape_error);
}

TEST_CASE("metrics: top-k accuracy counts ties in the label's favour")
{
    // Logits strictly larger than the label's: row 0: 1 (0.5), row 1: 0 (three-way tie),
    // row 2: 2 (0.9, 0.8), row 3: 2 (0.3, 0.3); a row is correct when that count < k.
    const auto z = logits({{0.1f, 0.5f, 0.3f, 0.2f}, {0.4f, 0.4f, 0.4f, 0.1f}, {0.9f, 0.8f, 0.1f, 0.7f},
                           {0.2f, 0.2f, 0.3f, 0.3f}});
    const std::vector<std::int32_t> labels{2, 2, 3, 0};
    metrics::top_k_accuracy<float> top1(1), top2(2), top3(3), top9(9);
    CHECK(top2.name() == "top2_accuracy");
    CHECK(metrics::top_k_accuracy<float>(5).name() == "top5_accuracy");
    for (auto* m : {&top1, &top2, &top3, &top9}) m->update(z, labels);
    CHECK(top1.result() == 0.25);
    CHECK(top2.result() == 0.5);
    CHECK(top3.result() == 1.0);
    CHECK(top9.result() == 1.0);
    // A NaN at the label is never in the top k.
    top9.update(logits({{std::numeric_limits<float>::quiet_NaN(), 0.0f}}), std::vector<std::int32_t>{0});
    CHECK(top9.result() == 0.8);
    CHECK_THROWS_AS(metrics::top_k_accuracy<float>(0), value_error);
}

TEST_CASE("metrics: binary accuracy thresholds sigmoid(logit), inclusive at the threshold")
{
    metrics::binary_accuracy<float> half;
    CHECK(half.name() == "binary_accuracy");
    CHECK(half.logit_threshold() == 0.0);
    // sigmoid(0) = 0.5 >= 0.5 predicts 1; -1e-7 predicts 0.
    half.update(logits({{0.0f}, {-1e-7f}, {2.0f}, {-3.0f}}), std::vector<std::int32_t>{1, 0, 1, 1});
    CHECK(half.correct() == 3);
    CHECK(half.result() == 0.75);

    // Threshold 0.75: logit(0.75) = log 3; sigmoid(log 3) = 3/4 exactly.
    metrics::binary_accuracy<double> q(0.75);
    CHECK(q.logit_threshold() == doctest::Approx(std::log(3.0)));
    tensor<double, 2> z({3, 1});
    z(0, 0) = std::log(3.0);
    z(1, 0) = std::nextafter(std::log(3.0), 0.0);
    z(2, 0) = 0.9;  // sigmoid(0.9) = 0.711 < 0.75
    q.update(z, std::vector<std::int32_t>{1, 1, 1});
    CHECK(q.correct() == 1);

    metrics::binary_accuracy<float> all(0.0), none(1.0);
    const auto big = logits({{-1e30f}, {1e30f}});
    all.update(big, std::vector<std::int32_t>{1, 1});
    none.update(big, std::vector<std::int32_t>{0, 0});
    CHECK(all.result() == 1.0);
    CHECK(none.result() == 1.0);

    CHECK_THROWS_AS(metrics::binary_accuracy<float>(1.5), value_error);
    CHECK_THROWS_AS(half.update(logits({{0.0f}}), std::vector<std::int32_t>{2}), value_error);
    CHECK_THROWS_AS(half.update(logits({{0.0f, 1.0f}}), std::vector<std::int32_t>{1}), shape_error);
}

TEST_CASE("metrics: confusion matrix counts and per-class scores of the 3-class example")
{
    const auto m = example_matrix();
    const std::size_t expected[3][3] = {{2, 1, 1}, {1, 2, 0}, {0, 1, 2}};
    for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t p = 0; p < 3; ++p) CHECK(m.count(t, p) == expected[t][p]);
    CHECK(m.total() == 10);
    CHECK(m.support(0) == 4);
    CHECK(m.support(1) == 3);
    CHECK(m.predicted(1) == 4);
    CHECK(m.accuracy() == doctest::Approx(0.6));

    CHECK(m.precision(0) == doctest::Approx(2.0 / 3));
    CHECK(m.precision(1) == doctest::Approx(0.5));
    CHECK(m.precision(2) == doctest::Approx(2.0 / 3));
    CHECK(m.recall(0) == doctest::Approx(0.5));
    CHECK(m.recall(1) == doctest::Approx(2.0 / 3));
    CHECK(m.recall(2) == doctest::Approx(2.0 / 3));
    CHECK(m.f1(0) == doctest::Approx(4.0 / 7));
    CHECK(m.f1(1) == doctest::Approx(4.0 / 7));
    CHECK(m.f1(2) == doctest::Approx(2.0 / 3));

    for (auto a : {average::micro}) {
        CHECK(m.precision(a) == doctest::Approx(0.6));
        CHECK(m.recall(a) == doctest::Approx(0.6));
        CHECK(m.f1(a) == doctest::Approx(0.6));
    }
    CHECK(m.precision(average::macro) == doctest::Approx(11.0 / 18));
    CHECK(m.recall(average::macro) == doctest::Approx(11.0 / 18));
    CHECK(m.f1(average::macro) == doctest::Approx(38.0 / 63));
    CHECK(m.precision(average::weighted) == doctest::Approx(37.0 / 60));
    CHECK(m.recall(average::weighted) == doctest::Approx(0.6));
    CHECK(m.f1(average::weighted) == doctest::Approx(0.6));

    // The same counts from logits, in two batches.
    metrics::confusion_matrix from_logits(3);
    const std::vector<std::int32_t> p1(y_pred.begin(), y_pred.begin() + 4), t1(y_true.begin(), y_true.begin() + 4);
    const std::vector<std::int32_t> p2(y_pred.begin() + 4, y_pred.end()), t2(y_true.begin() + 4, y_true.end());
    from_logits.update(predicting(p1, 3), t1);
    from_logits.update(predicting(p2, 3), t2);
    CHECK(from_logits.rows() == m.rows());
    from_logits.reset();
    CHECK(from_logits.total() == 0);

    CHECK_THROWS_AS(metrics::confusion_matrix(0), value_error);
    CHECK_THROWS_AS(from_logits.add(3, 0), value_error);
    CHECK_THROWS_AS(from_logits.add(0, -1), value_error);
    CHECK_THROWS_AS(from_logits.update(predicting({0}, 4), std::vector<std::int32_t>{0}), shape_error);
    CHECK_THROWS_AS(m.count(0, 3), value_error);
}

TEST_CASE("metrics: confusion matrix of one logit per row and two classes")
{
    metrics::confusion_matrix m(2);
    // Predictions 1 (logit 0 counts as sigmoid 0.5), 0, 1, 0 against labels 1, 1, 0, 0.
    m.update(logits({{0.0f}, {-0.5f}, {3.0f}, {-2.0f}}), std::vector<std::int32_t>{1, 1, 0, 0});
    CHECK(m.count(1, 1) == 1);
    CHECK(m.count(1, 0) == 1);
    CHECK(m.count(0, 1) == 1);
    CHECK(m.count(0, 0) == 1);
}

TEST_CASE("metrics: zero denominators give 0, as scikit-learn's default")
{
    metrics::confusion_matrix empty(3);
    CHECK(empty.accuracy() == 0.0);
    for (auto a : {average::micro, average::macro, average::weighted}) {
        CHECK(empty.precision(a) == 0.0);
        CHECK(empty.recall(a) == 0.0);
        CHECK(empty.f1(a) == 0.0);
    }
    // Class 2 is neither present nor predicted; class 1 is present but never predicted.
    metrics::confusion_matrix m(3);
    m.add(std::vector<std::int32_t>{0, 1, 1, 0}, std::vector<std::int32_t>{0, 0, 0, 0});
    CHECK(m.precision(1) == 0.0);  // 0 / 0
    CHECK(m.recall(1) == 0.0);     // 0 / 2
    CHECK(m.f1(1) == 0.0);         // 0 / 2
    CHECK(m.precision(2) == 0.0);
    CHECK(m.recall(2) == 0.0);
    CHECK(m.f1(2) == 0.0);
    // Class 0: P = 2/4, R = 1, F1 = 4/6. The zeros count in the macro mean.
    CHECK(m.precision(average::macro) == doctest::Approx(0.5 / 3));
    CHECK(m.f1(average::macro) == doctest::Approx((2.0 / 3) / 3));
    CHECK(m.f1(average::weighted) == doctest::Approx((2 * (2.0 / 3)) / 4));
}

TEST_CASE("metrics: macro F1 as a metric through the abstract interface")
{
    std::vector<std::shared_ptr<metrics::metric<float>>> ms{std::make_shared<metrics::macro_f1<float>>(),
                                                            std::make_shared<metrics::accuracy<float>>()};
    CHECK(ms[0]->name() == "macro_f1");
    CHECK(ms[0]->result() == 0.0);
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& m : ms) m->reset();
        const std::vector<std::int32_t> t1(y_true.begin(), y_true.begin() + 5), p1(y_pred.begin(), y_pred.begin() + 5);
        const std::vector<std::int32_t> t2(y_true.begin() + 5, y_true.end()), p2(y_pred.begin() + 5, y_pred.end());
        for (const auto& m : ms) {
            m->update(predicting(p1, 3), t1);
            m->update(predicting(p2, 3), t2);
        }
        CHECK(ms[0]->result() == doctest::Approx(38.0 / 63));
        CHECK(ms[1]->result() == doctest::Approx(0.6));
    }
    const auto& f = dynamic_cast<const metrics::macro_f1<float>&>(*ms[0]);
    CHECK(f.matrix().rows() == example_matrix().rows());
    CHECK_THROWS_AS(metrics::macro_f1<float>().matrix(), value_error);
}

TEST_CASE("metrics: counts of two parts added give the whole's result (data-parallel ranks)")
{
    const std::vector<std::int32_t> t1(y_true.begin(), y_true.begin() + 4), p1(y_pred.begin(), y_pred.begin() + 4);
    const std::vector<std::int32_t> t2(y_true.begin() + 4, y_true.end()), p2(y_pred.begin() + 4, y_pred.end());
    auto check = [&](auto make, double expected) {
        auto first = make(), second = make();
        first->update(predicting(p1, 3), t1);
        second->update(predicting(p2, 3), t2);
        std::vector<double> sum = first->counts();
        const std::vector<double> other = second->counts();
        REQUIRE(!sum.empty());
        REQUIRE(sum.size() == other.size());
        for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
        first->set_counts(sum);
        CHECK(first->result() == doctest::Approx(expected));
    };
    check([] { return std::make_shared<metrics::macro_f1<float>>(); }, 38.0 / 63);
    check([] { return std::make_shared<metrics::accuracy<float>>(); }, 0.6);
    auto f1 = std::make_shared<metrics::macro_f1<float>>();
    CHECK(f1->counts().empty());  // the number of classes is not known before a batch
    CHECK(metrics::macro_f1<float>(3).counts() == std::vector<double>(9, 0.0));
}

TEST_CASE("metrics: classification report matches scikit-learn's text")
{
    // sklearn.metrics.classification_report(y_true, y_pred, target_names=["ant", "bee", "cat"]):
    // the scores of the example above at 4 digits (4/7 = 0.571428..., 37/60 = 0.616666..., 38/63 = 0.603174...).
    CHECK(metrics::classification_report(example_matrix(), {"ant", "bee", "cat"}) ==
          "              precision    recall  f1-score   support\n"
          "\n"
          "         ant     0.6667    0.5000    0.5714         4\n"
          "         bee     0.5000    0.6667    0.5714         3\n"
          "         cat     0.6667    0.6667    0.6667         3\n"
          "\n"
          "    accuracy                         0.6000        10\n"
          "   macro avg     0.6111    0.6111    0.6032        10\n"
          "weighted avg     0.6167    0.6000    0.6000        10\n");
    // Without names the labels are the indices.
    CHECK(metrics::classification_report(example_matrix()) ==
          "              precision    recall  f1-score   support\n"
          "\n"
          "           0     0.6667    0.5000    0.5714         4\n"
          "           1     0.5000    0.6667    0.5714         3\n"
          "           2     0.6667    0.6667    0.6667         3\n"
          "\n"
          "    accuracy                         0.6000        10\n"
          "   macro avg     0.6111    0.6111    0.6032        10\n"
          "weighted avg     0.6167    0.6000    0.6000        10\n");

    // classification_report([0, 1, 1, 0], [0, 1, 0, 0], labels=[0, 1, 2], digits=2,
    //                       target_names=["short", "a much longer name", "none"]):
    // the name column is 18 wide; class 2 has no samples and no predictions (0 by zero division).
    // P = 2/3, 1, 0; R = 1, 1/2, 0; F1 = 4/5, 2/3, 0; macro P = 5/9, R = 1/2, F1 = 22/45;
    // weighted P = (2 2/3 + 2) / 4 = 5/6, R = 3/4, F1 = (2 4/5 + 2 2/3) / 4 = 11/15.
    metrics::confusion_matrix m(3);
    m.add(std::vector<std::int32_t>{0, 1, 1, 0}, std::vector<std::int32_t>{0, 1, 0, 0});
    CHECK(metrics::classification_report(m, {"short", "a much longer name", "none"}, 2) ==
          "                    precision    recall  f1-score   support\n"
          "\n"
          "             short       0.67      1.00      0.80         2\n"
          "a much longer name       1.00      0.50      0.67         2\n"
          "              none       0.00      0.00      0.00         0\n"
          "\n"
          "          accuracy                           0.75         4\n"
          "         macro avg       0.56      0.50      0.49         4\n"
          "      weighted avg       0.83      0.75      0.73         4\n");
    CHECK_THROWS_AS(metrics::classification_report(m, {"a", "b"}), value_error);
}

TEST_CASE("metrics: confusion matrix as text")
{
    CHECK(example_matrix().to_string({"ant", "bee", "cat"}) ==
          "true\\pred  ant  bee  cat\n"
          "      ant    2    1    1\n"
          "      bee    1    2    0\n"
          "      cat    0    1    2\n");
    metrics::confusion_matrix m(2);
    for (int i = 0; i < 123; ++i) m.add(1, 1);
    CHECK(m.to_string() ==
          "true\\pred    0    1\n"
          "        0    0    0\n"
          "        1    0  123\n");
}

#if LEPTON_HAS_PNG

namespace {

struct decoded {
    int width = 0, height = 0, channels = 0;
    std::vector<std::uint8_t> pixels;
};

decoded read_png(const std::string& path)
{
    decoded d;
    unsigned char* p = stbi_load(path.c_str(), &d.width, &d.height, &d.channels, 0);
    REQUIRE(p != nullptr);
    d.pixels.assign(p, p + std::size_t(d.width) * std::size_t(d.height) * std::size_t(d.channels));
    stbi_image_free(p);
    return d;
}

std::size_t count_colour(const io::canvas& c, io::rgb colour)
{
    std::size_t n = 0;
    for (int y = 0; y < c.height(); ++y)
        for (int x = 0; x < c.width(); ++x) n += c.at(x, y) == colour;
    return n;
}

} // namespace

TEST_CASE("png: written pixels read back exactly")
{
    const std::string path = temp_path("pixels.png");
    for (int channels = 1; channels <= 4; ++channels) {
        std::vector<std::uint8_t> px;
        for (int i = 0; i < 3 * 2 * channels; ++i) px.push_back(std::uint8_t(i * 37 + 5));
        io::write_png(path, 3, 2, channels, px.data());
        const decoded d = read_png(path);
        CHECK(d.width == 3);
        CHECK(d.height == 2);
        CHECK(d.channels == channels);
        CHECK(d.pixels == px);
    }
    std::filesystem::remove(path);

    const std::uint8_t px[3] = {1, 2, 3};
    CHECK_THROWS_WITH_AS(io::write_png("/nonexistent_dir/x.png", 1, 1, 3, px),
                         doctest::Contains("/nonexistent_dir/x.png"), io_error);
    CHECK_THROWS_AS(io::write_png(path, 0, 1, 3, px), value_error);
    CHECK_THROWS_AS(io::write_png(path, 1, 1, 5, px), value_error);
}

TEST_CASE("plot: learning curves have axes and one colour per series, and skip non-finite values")
{
    std::vector<double> loss, val_loss, acc;
    for (int e = 1; e <= 12; ++e) {
        loss.push_back(1.0 / e);
        val_loss.push_back(1.2 / e + 0.05);
        acc.push_back(0.5 + 0.03 * e);
    }
    val_loss[4] = std::nan("");
    acc[2] = std::numeric_limits<double>::infinity();
    const std::vector<io::curve> series{{"loss", loss}, {"val_loss", val_loss}, {"accuracy", acc},
                                        {"nothing finite", {std::nan(""), -std::numeric_limits<double>::infinity()}},
                                        {"empty", {}}};
    const io::canvas c = io::render_curves("training", series);
    CHECK(c.width() == 800);
    CHECK(c.height() == 500);
    // The legend swatch of a series is 22 x 3 pixels; a drawn curve adds many more of its colour.
    CHECK(count_colour(c, io::series_color(0)) > 300);
    CHECK(count_colour(c, io::series_color(1)) > 300);
    CHECK(count_colour(c, io::series_color(2)) > 300);
    CHECK(count_colour(c, io::series_color(3)) == 66);
    CHECK(count_colour(c, io::series_color(4)) == 66);
    std::size_t drawn = 0;  // non-white pixels in the middle of the plot area
    for (int y = 100; y < 400; ++y)
        for (int x = 200; x < 600; ++x) drawn += !(c.at(x, y) == io::rgb{255, 255, 255});
    CHECK(drawn > 1000);

    const std::string path = temp_path("curves.png");
    io::plot_curves(path, "training", series);
    const decoded d = read_png(path);
    CHECK(d.width == 800);
    CHECK(d.height == 500);
    CHECK(d.channels == 3);
    CHECK(d.pixels == c.pixels());
    // Other sizes, a single point, and no series at all.
    io::plot_options small;
    small.width = 320;
    small.height = 200;
    io::plot_curves(path, "one epoch", {{"loss", {0.5}}}, small);
    CHECK(read_png(path).width == 320);
    const io::canvas none = io::render_curves("nothing", {});
    CHECK(count_colour(none, io::series_color(0)) == 0);
    std::filesystem::remove(path);
}

TEST_CASE("plot: confusion-matrix heat map with counts in the cells")
{
    const auto m = example_matrix().rows();
    const io::canvas c = io::render_heatmap("confusion", m, {"ant", "bee", "cat"});
    // Three classes get 64-pixel cells: the largest count (2, on the diagonal) is dark blue, 0 is the
    // palest blue, and each cell has its number written over a few hundred of its pixels.
    const std::size_t dark = count_colour(c, {8, 48, 107}), pale = count_colour(c, {247, 251, 255});
    CHECK(dark > 3 * 64 * 64 - 600);
    CHECK(dark < 3 * 64 * 64);  // three cells hold a 2, minus their digits
    CHECK(pale > 2 * 64 * 64 - 400);
    CHECK(pale < 2 * 64 * 64);  // two cells hold a 0
    CHECK(count_colour(c, {255, 255, 255}) > 0);

    const std::string path = temp_path("heatmap.png");
    io::plot_heatmap(path, "confusion", m, {"ant", "bee", "cat"});
    const decoded d = read_png(path);
    CHECK(d.width == c.width());
    CHECK(d.height == c.height());
    CHECK(d.pixels == c.pixels());
    std::filesystem::remove(path);
    CHECK_THROWS_AS(io::render_heatmap("x", m, {"a", "b"}), value_error);
    CHECK_THROWS_AS(io::render_heatmap("x", std::vector<std::vector<int>>{{1, 2}}), value_error);
}

TEST_CASE("plot: image grid places scaled samples between 2-pixel borders")
{
    // Two 2x2 grey images in one row of two cells, scale 2, values in [-1, 1]:
    // -1 -> 0, 0 -> round(127.5) = 128, 1 -> 255, 0.5 -> round(191.25) = 191,
    // NaN -> 0, 2 -> 255 (clamped), -5 -> 0, 0.25 -> round(159.375) = 159.
    tensor<float, 4> images({2, 1, 2, 2});
    const float values[8] = {-1, 0, 1, 0.5f, std::nanf(""), 2, -5, 0.25f};
    std::copy(values, values + 8, images.data());
    const std::string path = temp_path("grid.png");
    io::save_image_grid(path, images, 1, 2, -1.0, 1.0, 2);
    const decoded d = read_png(path);
    REQUIRE(d.width == 14);  // 2 + 2 (4 + 2)
    REQUIRE(d.height == 8);  // 2 + (4 + 2)
    REQUIRE(d.channels == 1);
    const std::uint8_t bytes[2][2][2] = {{{0, 128}, {255, 191}}, {{0, 255}, {0, 159}}};
    std::vector<std::uint8_t> expected(14 * 8, 0);
    for (int i = 0; i < 2; ++i)
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 4; ++x) expected[std::size_t((2 + y) * 14 + 2 + i * 6 + x)] = bytes[i][y / 2][x / 2];
    CHECK(d.pixels == expected);

    // RGB, a 2x2 grid with one image: the channels are interleaved; empty cells stay black.
    tensor<double, 4> rgb({1, 3, 1, 1});
    rgb(0, 0, 0, 0) = 1.0;
    rgb(0, 1, 0, 0) = 0.0;
    rgb(0, 2, 0, 0) = 0.2;  // round(51) = 51
    io::save_image_grid(path, rgb, 2, 2);
    const decoded e = read_png(path);
    REQUIRE(e.width == 8);  // 2 + 2 (1 + 2)
    REQUIRE(e.channels == 3);
    std::vector<std::uint8_t> expected_rgb(8 * 8 * 3, 0);
    expected_rgb[(2 * 8 + 2) * 3 + 0] = 255;
    expected_rgb[(2 * 8 + 2) * 3 + 2] = 51;
    CHECK(e.pixels == expected_rgb);
    std::filesystem::remove(path);
    CHECK_THROWS_AS(io::save_image_grid(path, tensor<float, 4>({1, 2, 2, 2}), 1, 1), shape_error);
}

#else

TEST_CASE("png: without stb_image_write, writing a PNG throws io_error")
{
    const std::uint8_t px[3] = {1, 2, 3};
    CHECK_THROWS_AS(io::write_png(temp_path("x.png"), 1, 1, 3, px), io_error);
}

#endif
