// Regression on a table: eight features in different units, one real-valued
// target, a small MLP trained with MSELoss and reported as RMSE and R^2.
//
// The table is generated here, so its noise floor is known: the target is
//     y = 3 sin(x0 / 2) + 2 x1^2 + x2 x4 + 0.002 x3 + e,   e ~ N(0, 0.2^2),
// with x0 in [0, 10], x1 in [-1, 1], x2 ~ N(0, 1), x3 in [100, 2000] (a large
// scale), x4 in [0, 1] and three features x5-x7 that do not matter. No model
// can beat an RMSE of 0.2 on new samples (the noise), which fixes the best
// possible R^2 too; a least-squares line, solved in closed form, is the baseline.
// Features are standardised with statistics of the training split only.
// Usage: tabular_regression [--short] [seed] [epochs]
// (--short: 2,000 training samples for 10 epochs, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <array>
#include <cmath>
#include <cstdio>

using namespace lepton;

namespace {

constexpr std::size_t features = 8;
constexpr double noise = 0.2;

data::Dataset<float, 1, 1> generate(std::size_t n, random_engine& rng)
{
    data::Dataset<float, 1, 1> d;
    d.features.resize({n, features});
    d.targets.resize({n, 1});
    for (std::size_t i = 0; i < n; ++i) {
        std::array<double, features> x{rng.uniform(0, 10), rng.uniform(-1, 1), rng.normal(), rng.uniform(100, 2000),
                                       rng.uniform(0, 1), 5 * rng.normal(), 5 * rng.normal(), 5 * rng.normal()};
        const double y = 3 * std::sin(x[0] / 2) + 2 * x[1] * x[1] + x[2] * x[4] + 0.002 * x[3] + noise * rng.normal();
        for (std::size_t f = 0; f < features; ++f) d.features(i, f) = float(x[f]);
        d.targets(i, 0) = float(y);
    }
    return d;
}

/// Test RMSE of the least-squares line fitted on `train` (normal equations, Gaussian elimination in double).
double linear_baseline_rmse(const data::Dataset<float, 1, 1>& train, const data::Dataset<float, 1, 1>& test)
{
    constexpr std::size_t k = features + 1;  // the features and a constant
    std::array<std::array<double, k + 1>, k> a{};  // [X^T X | X^T y]
    for (std::size_t i = 0; i < train.size(); ++i) {
        std::array<double, k> row;
        for (std::size_t f = 0; f < features; ++f) row[f] = train.features(i, f);
        row[features] = 1;
        for (std::size_t r = 0; r < k; ++r) {
            for (std::size_t c = 0; c < k; ++c) a[r][c] += row[r] * row[c];
            a[r][k] += row[r] * train.targets(i, 0);
        }
    }
    for (std::size_t p = 0; p < k; ++p) {
        std::size_t best = p;
        for (std::size_t r = p + 1; r < k; ++r)
            if (std::abs(a[r][p]) > std::abs(a[best][p])) best = r;
        std::swap(a[p], a[best]);
        for (std::size_t r = 0; r < k; ++r) {
            if (r == p) continue;
            const double factor = a[r][p] / a[p][p];
            for (std::size_t c = p; c <= k; ++c) a[r][c] -= factor * a[p][c];
        }
    }
    double squares = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
        double prediction = a[features][k] / a[features][features];
        for (std::size_t f = 0; f < features; ++f) prediction += a[f][k] / a[f][f] * test.features(i, f);
        squares += std::pow(prediction - test.targets(i, 0), 2);
    }
    return std::sqrt(squares / double(test.size()));
}

} // namespace

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 10 : 60));
    const std::size_t n_train = args.short_run() ? 2000 : 32000, n_val = 2000, n_test = 2000;

    random_engine rng(seed);
    auto train = generate(n_train, rng), validation = generate(n_val, rng), test = generate(n_test, rng);
    const double baseline = linear_baseline_rmse(train, test);

    data::Standardizer<float> scaler;
    scaler.fit(train.features);
    for (auto* d : {&train, &validation, &test}) scaler.transform(d->features);

    using MLP = Sequential<Input<features>, Dense<64>, ReLU, Dense<64>, ReLU, Dense<1>>;
    MLP net(seed);
    std::printf("%s", net.summary().c_str());
    Adam optimizer(net, {.lr = 2e-3});
    MSELoss<float> loss;
    auto rmse = [] { return std::make_shared<metrics::root_mean_squared_error<float>>(); };
    auto r2 = [] { return std::make_shared<metrics::r2_score<float>>(); };
    fit(net, optimizer, loss, train,
        {.epochs = epochs,
         .batch_size = 64,
         .seed = seed,
         .validation = &validation,
         .metrics = {rmse(), r2()},
         .callbacks = {std::make_shared<LearningRateScheduler<float>>(schedules::cosine_warmup{.base_lr = 2e-3, .total_epochs = epochs, .min_lr = 1e-4})}});

    const auto result = evaluate(net, loss, test, {.metrics = {rmse(), r2()}});
    double spread = 0, mean = 0;
    for (std::size_t i = 0; i < test.size(); ++i) mean += test.targets(i, 0) / double(test.size());
    for (std::size_t i = 0; i < test.size(); ++i) spread += std::pow(test.targets(i, 0) - mean, 2) / double(test.size());
    std::printf("\n%zu test samples: RMSE %.4f (noise floor %.4f; least-squares line %.4f), R^2 %.4f (best possible %.4f)\n",
                test.size(), result.get("rmse"), noise, baseline, result.get("r2"), 1 - noise * noise / spread);
    std::printf("test_rmse: %.4f\ntest_r2: %.4f\n", result.get("rmse"), result.get("r2"));
}
