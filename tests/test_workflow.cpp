// Training workflows beyond classification from scratch: fine-tuning (what moves between networks, what a
// frozen BatchNorm does, freezing ranges) and data sets with target tensors (regression).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/losses/huber.hpp>
#include <lepton/losses/mse.hpp>
#include <lepton/losses/bce_with_logits.hpp>
#include <lepton/metrics/multilabel.hpp>
#include <lepton/metrics/regression.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/named.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/transfer.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/optim/sgd.hpp>
#include <lepton/data/scaling.hpp>
#include <lepton/data/subset.hpp>
#include <lepton/train/fit.hpp>

using namespace lepton;

namespace {

// Layers: 0 Dense, 1 BatchNorm1D, 2 ReLU, 3 Dense (the head).
using BNNet = Network<double, cpu, Input<6>, Dense<8>, BatchNorm1D<>, ReLU, Dense<3>>;
using NamedNet = Network<double, cpu, Input<6>, Named<"stem", Dense<8>>, Named<"body", Block<Dense<8>, BatchNorm1D<>>>,
                         ReLU, Named<"head", Dense<3>>>;

tensor<double, 2> inputs(std::size_t n, std::uint64_t seed)
{
    tensor<double, 2> x({n, 6});
    random_engine rng(seed);
    for (auto& v : x) v = 2.0 + 3.0 * rng.normal();  // far from BatchNorm's initial statistics (0, 1)
    return x;
}

data::Dataset<double, 1> small_set()
{
    data::Dataset<double, 1> d;
    d.features = inputs(24, 5);
    for (std::size_t i = 0; i < 24; ++i) d.labels.push_back(std::int32_t(i % 3));
    return d;
}

std::vector<double> copy_of(std::span<const double> s) { return {s.begin(), s.end()}; }

/// The values of the parameter tensors whose names start with `prefix`, in order.
template <class Net>
std::vector<double> values_under(Net& net, const std::string& prefix)
{
    std::vector<double> v;
    net.for_each_parameter([&](const std::string& name, double* data, double*, const parameter_shape& shape) {
        if (!name.starts_with(prefix)) return;
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        v.insert(v.end(), data, data + n);
    });
    return v;
}

bool contains(const std::vector<std::string>& names, const std::string& name)
{
    return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

TEST_CASE("transfer_parameters copies BatchNorm's running statistics and counter, and all_except leaves out a head")
{
    BNNet trained(1);
    trained.forward(inputs(16, 2));  // training mode: the batch moves the running statistics
    trained.forward(inputs(16, 3));
    REQUIRE(trained.layer<1>().num_batches_tracked() == 2);
    REQUIRE(trained.layer<1>().running_mean()[0] != 0.0);

    BNNet fresh(7);
    const auto fresh_head = values_under(fresh, "3.");
    const auto copied = transfer_parameters(trained, fresh, all_except({"3"}));
    CHECK(contains(copied, "0.weight"));
    CHECK(contains(copied, "1.running_mean"));
    CHECK(contains(copied, "1.running_var"));
    CHECK(contains(copied, "1.num_batches_tracked"));
    CHECK_FALSE(contains(copied, "3.weight"));
    CHECK_FALSE(contains(copied, "3.bias"));
    for (std::size_t c = 0; c < 8; ++c) {
        CHECK(fresh.layer<1>().running_mean()[c] == trained.layer<1>().running_mean()[c]);
        CHECK(fresh.layer<1>().running_var()[c] == trained.layer<1>().running_var()[c]);
    }
    CHECK(fresh.layer<1>().num_batches_tracked() == 2);
    // The head kept its own initialisation: the transferred network's outputs in
    // evaluation mode differ from the trained one's, its body's agree.
    CHECK(values_under(fresh, "3.") == fresh_head);
    CHECK(values_under(fresh, "0.") == values_under(trained, "0."));
    trained.eval();
    fresh.eval();
    const auto x = inputs(4, 9);
    const auto body_trained = copy_of(std::span<const double>(trained.forward(x).data(), 12));
    const auto body_fresh = copy_of(std::span<const double>(fresh.forward(x).data(), 12));
    CHECK(body_trained != body_fresh);
    CHECK(std::equal(trained.layer<2>().output().begin(), trained.layer<2>().output().end(),
                     fresh.layer<2>().output().begin()));
}

TEST_CASE("a frozen BatchNorm keeps and uses its running statistics in training mode, also under fit (Keras)")
{
    BNNet net(1);
    net.forward(inputs(16, 2));  // running statistics of a pretrained body
    net.freeze(0);
    net.freeze(1);
    const auto mean = copy_of(net.layer<1>().running_mean());
    const auto var = copy_of(net.layer<1>().running_var());
    const auto tracked = net.layer<1>().num_batches_tracked();
    const auto body = values_under(net, "0.");
    const auto norm = values_under(net, "1.");

    // In training mode its output is the evaluation-mode output, and so is the input gradient.
    const auto x = inputs(5, 4);
    const auto train_out = copy_of(std::span<const double>(net.forward(x).data(), 15));
    tensor<double, 2> dy({5, 3});
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = std::sin(double(i));
    const auto train_dx = copy_of(std::span<const double>(net.backward(dy, true).data(), 30));
    net.eval();
    const auto eval_out = copy_of(std::span<const double>(net.forward(x).data(), 15));
    const auto eval_dx = copy_of(std::span<const double>(net.backward(dy, true).data(), 30));
    CHECK(train_out == eval_out);
    CHECK(train_dx == eval_dx);

    // fit() puts the network in training mode every epoch: the statistics stay.
    net.train();
    SGD<double> sgd(net, {.lr = 0.1});
    CrossEntropyLoss<double> loss;
    fit(net, sgd, loss, small_set(), {.epochs = 2, .batch_size = 8, .verbose = verbosity::silent});
    CHECK(copy_of(net.layer<1>().running_mean()) == mean);
    CHECK(copy_of(net.layer<1>().running_var()) == var);
    CHECK(net.layer<1>().num_batches_tracked() == tracked);
    CHECK(values_under(net, "0.") == body);
    CHECK(values_under(net, "1.") == norm);
    // Thawed, it learns from batches again.
    net.unfreeze(1);
    net.forward(inputs(16, 6));
    CHECK(net.layer<1>().num_batches_tracked() == tracked + 1);
    CHECK(copy_of(net.layer<1>().running_mean()) != mean);
}

TEST_CASE("frozen_batchnorm::batch_statistics gives PyTorch's rule: a frozen BatchNorm still follows the mode")
{
    BNNet net(1);
    net.set_frozen_batchnorm(frozen_batchnorm::batch_statistics);
    net.freeze(1);
    const auto mean = copy_of(net.layer<1>().running_mean());
    const auto weights = values_under(net, "1.");
    net.forward(inputs(16, 2));
    CHECK(net.layer<1>().num_batches_tracked() == 1);
    CHECK(copy_of(net.layer<1>().running_mean()) != mean);
    // Its weight and bias stay frozen.
    SGD<double> sgd(net, {.lr = 0.1});
    CrossEntropyLoss<double> loss;
    fit(net, sgd, loss, small_set(), {.epochs = 1, .batch_size = 8, .verbose = verbosity::silent});
    CHECK(values_under(net, "1.") == weights);
    // A copy keeps the rule.
    BNNet copy(net);
    CHECK(copy.frozen_batchnorm_rule() == frozen_batchnorm::batch_statistics);
}

TEST_CASE("freeze_until freezes the layers before a layer index or a name")
{
    BNNet by_index(1);
    by_index.freeze_until(3);
    CHECK(by_index.is_frozen("0.weight"));
    CHECK(by_index.is_frozen("1.bias"));
    CHECK_FALSE(by_index.is_frozen("3.weight"));
    CHECK_THROWS_AS(by_index.freeze_until(std::size_t{5}), value_error);

    NamedNet by_name(1);
    by_name.freeze_until("body.1");
    CHECK(by_name.is_frozen("stem.weight"));
    CHECK(by_name.is_frozen("body.0.bias"));
    CHECK_FALSE(by_name.is_frozen("body.1.weight"));
    CHECK_FALSE(by_name.is_frozen("head.weight"));
    by_name.freeze_until("head");
    CHECK(by_name.is_frozen("body.1.weight"));
    CHECK_FALSE(by_name.is_frozen("head.bias"));
    CHECK_THROWS_AS(by_name.freeze_until("tail"), value_error);
}

namespace {

/// y = 2 x0 - x1 + 0.5 (+ noise of spread `noise`) for n samples of two features.
data::Dataset<double, 1, 1> linear_table(std::size_t n, double noise, std::uint64_t seed)
{
    data::Dataset<double, 1, 1> d;
    d.features.resize({n, 2});
    d.targets.resize({n, 1});
    random_engine rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        d.features(i, 0) = rng.uniform(-1, 1);
        d.features(i, 1) = rng.uniform(-1, 1);
        d.targets(i, 0) = 2 * d.features(i, 0) - d.features(i, 1) + 0.5 + noise * rng.normal();
    }
    return d;
}

} // namespace

TEST_CASE("regression metrics: MAE, RMSE and R^2 by hand, over batches, and scikit-learn's constant-target rule")
{
    metrics::mean_absolute_error<double> mae;
    metrics::root_mean_squared_error<double> rmse;
    metrics::r2_score<double> r2;
    static constexpr std::array<double, 3> out{1, 2, 3}, target{1, 2, 4};
    for (metrics::target_metric<double>* m : std::initializer_list<metrics::target_metric<double>*>{&mae, &rmse, &r2}) {
        m->update(std::span(out).first(2), std::span(target).first(2), 1);  // two batches
        m->update(std::span(out).last(1), std::span(target).last(1), 1);
    }
    CHECK(mae.result() == doctest::Approx(1.0 / 3));
    CHECK(rmse.result() == doctest::Approx(std::sqrt(1.0 / 3)));
    // mean 7/3: sum of squares about it 42/9; residual 1.
    CHECK(r2.result() == doctest::Approx(1.0 - 1.0 / (42.0 / 9.0)));
    // Two columns are averaged; a constant column scores 1 when exact, 0 otherwise.
    metrics::r2_score<double> two;
    static constexpr std::array<double, 6> o2{1, 5, 2, 5, 3, 5}, t2{1, 5, 2, 5, 4, 5};
    two.update(o2, t2, 2);
    CHECK(two.result() == doctest::Approx((1.0 - 1.0 / (42.0 / 9.0) + 1.0) / 2));
    CHECK_THROWS_AS(two.update(o2, t2, 3), shape_error);
    CHECK_THROWS_AS(mae.update(std::span(out), std::span(target).first(2), 1), shape_error);
}

TEST_CASE("regression metrics: counts of two parts added give the whole's result (data-parallel ranks)")
{
    // Two columns, the second with large values (where E[t^2] - E[t]^2 would cancel), split 3 + 4 rows.
    static constexpr std::array<double, 14> out{1.5, 1000.1, 2, 1001, 2.5, 999.7, 4, 1002.4, 1, 1000.2, 3.5, 998.9, 2, 1001.5};
    static constexpr std::array<double, 14> tgt{1, 1000, 2.5, 1001.2, 3, 999.5, 4.5, 1002, 0.5, 1000.5, 3, 999, 2, 1001};
    auto check = [&](auto make) {
        auto whole = make(), first = make(), second = make();
        whole.update(out, tgt, 2);
        first.update(std::span(out).first(6), std::span(tgt).first(6), 2);
        second.update(std::span(out).last(8), std::span(tgt).last(8), 2);
        std::vector<double> sum = first.counts();
        const std::vector<double> other = second.counts();
        REQUIRE(!sum.empty());
        REQUIRE(sum.size() == other.size());
        for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
        first.set_counts(sum);
        CHECK(first.result() == doctest::Approx(whole.result()).epsilon(1e-9));
    };
    check([] { return metrics::mean_absolute_error<double>(); });
    check([] { return metrics::root_mean_squared_error<double>(); });
    check([] { return metrics::r2_score<double>(); });
    CHECK(metrics::r2_score<double>().counts().empty());  // no sample: the columns are not known
}

TEST_CASE("a data set with target tensors: the loader keeps each target with its sample, select keeps them too")
{
    data::Dataset<double, 1, 2> d;  // targets of rank 2 per sample: [N, 2, 2]
    d.features.resize({7, 3});
    d.targets.resize({7, 2, 2});
    for (std::size_t i = 0; i < 7; ++i) {
        for (std::size_t f = 0; f < 3; ++f) d.features(i, f) = double(10 * i + f);
        for (std::size_t k = 0; k < 4; ++k) d.targets.data()[i * 4 + k] = double(10 * i) + 0.5 * double(k);
    }
    data::BatchLoader loader(d, 3, /*shuffle=*/true, 4);
    loader.start_epoch();
    std::vector<int> seen(7, 0);
    for (std::size_t b = 0; b < loader.batches(); ++b) {
        const auto batch = loader[b];
        REQUIRE(batch.targets.shape()[0] == batch.features.shape()[0]);
        for (std::size_t i = 0; i < batch.features.shape()[0]; ++i) {
            const double id = batch.features(i, 0);
            ++seen[std::size_t(id / 10)];
            for (std::size_t k = 0; k < 4; ++k) CHECK(batch.targets.data()[i * 4 + k] == id + 0.5 * double(k));
        }
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
    const std::vector<std::size_t> picks{5, 1};
    const auto part = data::select(d, std::span<const std::size_t>(picks));
    CHECK(part.size() == 2);
    CHECK(part.targets(0, 1, 1) == 51.5);
    CHECK(part.features(1, 2) == 12.0);
    data::Dataset<double, 1, 1> short_targets;
    short_targets.features.resize({4, 2});
    short_targets.targets.resize({3, 1});
    CHECK_THROWS_WITH_AS(data::BatchLoader(short_targets, 2), doctest::Contains("4 samples but 3 targets"), shape_error);
}

TEST_CASE("fit and evaluate train a regression on float targets, with MSE and Huber losses and regression metrics")
{
    const auto train = linear_table(400, 0.05, 1), test = linear_table(200, 0.05, 2);
    auto rmse = [] { return std::make_shared<metrics::root_mean_squared_error<double>>(); };
    auto r2 = [] { return std::make_shared<metrics::r2_score<double>>(); };
    using Net = Network<double, cpu, Input<2>, Dense<1>>;
    Net net(1);
    Adam<double> adam(net, {.lr = 0.05});
    MSELoss<double> mse;
    const History h = fit(net, adam, mse, train,
                          {.epochs = 30, .batch_size = 32, .validation = &test, .metrics = {rmse(), r2()},
                           .verbose = verbosity::silent});
    CHECK(h["val_rmse"].size() == 30);
    CHECK(h["r2"].back() > 0.99);
    const auto result = evaluate(net, mse, test, {.metrics = {rmse(), r2()}});
    // The noise has spread 0.05: a fitted line gets close to it.
    CHECK(result.get("rmse") < 0.07);
    CHECK(result.get("r2") > 0.99);
    CHECK(result.get("loss") == doctest::Approx(result.get("rmse") * result.get("rmse")).epsilon(1e-6));
    // Any loss with a gradient() works, here Huber with an outlier-heavy table.
    Net robust(2);
    Adam<double> adam2(robust, {.lr = 0.05});
    HuberLoss<double> huber(0.1);
    auto noisy = linear_table(400, 0.05, 3);
    for (std::size_t i = 0; i < 400; i += 10) noisy.targets(i, 0) += 20.0;  // one sample in ten far off
    fit(robust, adam2, huber, noisy, {.epochs = 40, .batch_size = 32, .verbose = verbosity::silent});
    CHECK(evaluate(robust, mse, test, {.metrics = {rmse()}}).get("rmse") < 0.1);
}

TEST_CASE("Standardizer and MinMaxScaler: per-feature statistics of the training data, applied to other data")
{
    tensor<double, 2> train({4, 3}), test({2, 3});
    // Feature 0: 1, 2, 3, 4 (mean 2.5, biased stddev sqrt(1.25)); feature 1 constant; feature 2 in the thousands.
    const double rows[4][3] = {{1, 7, 1000}, {2, 7, 3000}, {3, 7, 2000}, {4, 7, 6000}};
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t f = 0; f < 3; ++f) train(i, f) = rows[i][f];
    test(0, 0) = 2.5, test(0, 1) = 8, test(0, 2) = 3000;
    test(1, 0) = 6, test(1, 1) = 7, test(1, 2) = 0;
    data::Standardizer<double> standard;
    standard.fit(train);
    CHECK(standard.mean()[0] == doctest::Approx(2.5));
    CHECK(standard.stddev()[0] == doctest::Approx(std::sqrt(1.25)));
    CHECK(standard.stddev()[1] == 0.0);
    auto scaled = test;
    standard.transform(scaled);
    CHECK(scaled(0, 0) == doctest::Approx(0.0));
    CHECK(scaled(1, 0) == doctest::Approx(3.5 / std::sqrt(1.25)));
    CHECK(scaled(0, 1) == doctest::Approx(1.0));  // a constant feature is only centred
    CHECK(scaled(0, 2) == doctest::Approx(0.0));
    standard.inverse_transform(scaled);
    for (std::size_t i = 0; i < test.size(); ++i) CHECK(scaled.data()[i] == doctest::Approx(test.data()[i]));
    data::MinMaxScaler<double> range;
    range.fit(train);
    auto ranged = test;
    range.transform(ranged);
    CHECK(ranged(0, 0) == doctest::Approx(0.5));
    CHECK(ranged(1, 0) == doctest::Approx(5.0 / 3.0));  // outside the training range: beyond 1
    CHECK(ranged(1, 2) == doctest::Approx(-0.2));
    tensor<double, 2> wrong({2, 4});
    CHECK_THROWS_WITH_AS(standard.transform(wrong), doctest::Contains("fitted on samples of 3 values"), shape_error);
    data::Standardizer<double> unfitted;
    CHECK_THROWS_AS(unfitted.transform(wrong), value_error);
}

TEST_CASE("multi-label precision, recall and F1 on logits, and fit with BCEWithLogitsLoss on float targets")
{
    // Arrays, not std::vector: g++ 12.2 at -O2 -march=native (AVX-512) compiled
    // `std::vector<double> targets{1, 1, 0, 0}` here into four 1.0s (one broadcast store).
    static constexpr std::array<double, 4> logits{2, -1, 0.5, -3}, targets{1, 1, 0, 0};
    metrics::multilabel_precision<double> precision;
    metrics::multilabel_recall<double> recall;
    metrics::multilabel_f1<double> f1, strict_f1(0.7);
    metrics::multilabel_precision<double> strict_precision(0.7);
    for (metrics::target_metric<double>* m :
         std::initializer_list<metrics::target_metric<double>*>{&precision, &recall, &f1, &strict_f1, &strict_precision})
        m->update(logits, targets, 2);
    // Threshold 0.5 (logit 0): predicted {1, 0, 1, 0} against {1, 1, 0, 0}: one of each.
    CHECK(precision.result() == doctest::Approx(0.5));
    CHECK(recall.result() == doctest::Approx(0.5));
    CHECK(f1.result() == doctest::Approx(0.5));
    // Threshold 0.7 (logit 0.85): only the first is predicted.
    CHECK(strict_precision.result() == doctest::Approx(1.0));
    CHECK(strict_f1.result() == doctest::Approx(2 * 1.0 * 0.5 / 1.5));
    CHECK_THROWS_AS(metrics::multilabel_f1<double>(1.0), value_error);

    // Label j of a sample is present when feature j is positive: a linear multi-label task.
    data::Dataset<double, 1, 1> tags;
    tags.features = inputs(300, 8);
    tags.targets.resize({300, 3});
    for (std::size_t i = 0; i < 300; ++i)
        for (std::size_t j = 0; j < 3; ++j) tags.targets(i, j) = tags.features(i, j) > 2.0 ? 1.0 : 0.0;
    Network<double, cpu, Input<6>, Dense<3>> net(1);
    Adam<double> adam(net, {.lr = 0.05});
    BCEWithLogitsLoss<double> bce;
    fit(net, adam, bce, tags, {.epochs = 30, .batch_size = 32, .verbose = verbosity::silent});
    const auto scores = evaluate(net, bce, tags, {.metrics = {std::make_shared<metrics::multilabel_f1<double>>()}});
    CHECK(scores.get("f1") > 0.95);
}
