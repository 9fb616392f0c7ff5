// fit / evaluate / predict, callbacks and learning-rate schedules.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/losses/bce_with_logits.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/optim/schedules.hpp>
#include <lepton/optim/sgd.hpp>
#include <lepton/train/callbacks/csv_logger.hpp>
#include <lepton/train/callbacks/early_stopping.hpp>
#include <lepton/train/callbacks/lr_scheduler.hpp>
#include <lepton/train/callbacks/model_checkpoint.hpp>
#include <lepton/train/fit.hpp>

#if __has_include(<xtensor/misc/xmanipulation.hpp>)
#include <xtensor/misc/xmanipulation.hpp>
#else
#include <xtensor/xmanipulation.hpp>
#endif

using namespace lepton;

namespace {

using Classifier = Sequential<Input<2>, Dense<8>, ReLU, Dense<2>>;

/// Two well-separated clusters: label 1 when x + y > 0, with a margin.
data::Dataset<float, 1> clusters(std::size_t n, std::uint64_t seed)
{
    data::Dataset<float, 1> d;
    d.features.resize({n, 2});
    random_engine rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const int label = int(i % 2);
        const double cx = label ? 1.5 : -1.5;
        d.features(i, 0) = float(cx + rng.uniform(-0.5, 0.5));
        d.features(i, 1) = float(cx + rng.uniform(-0.5, 0.5));
        d.labels.push_back(label);
    }
    return d;
}

std::shared_ptr<metrics::metric<float>> accuracy() { return std::make_shared<metrics::accuracy<float>>(); }

/// A context whose "weights" are a plain vector, for driving callbacks by hand.
struct fake_training {
    std::vector<float> weights{1, 2, 3};
    double lr = 0.1;
    std::vector<std::string> saved;
    training_context<float> ctx;
    fake_training()
    {
        ctx.snapshot = [this] { return weights; };
        ctx.restore = [this](const std::vector<float>& s) { weights = s; };
        ctx.learning_rate = [this] { return lr; };
        ctx.set_learning_rate = [this](double v) { lr = v; };
    }
};

logs val_loss(double v)
{
    logs l;
    l.set("loss", 0.5);
    l.set("val_loss", v);
    return l;
}

} // namespace

TEST_CASE("fit reaches 100% on a separable problem; evaluate and predict agree")
{
    set_num_threads(1);
    const auto train = clusters(256, 1), test = clusters(128, 2);
    Classifier net(3);
    Adam optimizer(net, {.lr = 0.02});
    CrossEntropyLoss<float> loss;
    const History h = fit(net, optimizer, loss, train,
                          {.epochs = 8, .batch_size = 32, .validation = &test, .metrics = {accuracy()},
                           .verbose = verbosity::silent});
    REQUIRE(h.epochs() == 8);
    CHECK(h["loss"].back() < h["loss"].front());
    CHECK(h["accuracy"].back() == 1.0);
    CHECK(h["val_accuracy"].back() == 1.0);
    CHECK(h["lr"].back() == doctest::Approx(0.02));

    const logs e = evaluate(net, loss, test, {.batch_size = 50, .metrics = {accuracy()}});
    CHECK(e.get("accuracy") == 1.0);
    CHECK(e.get("loss") == doctest::Approx(h["val_loss"].back()).epsilon(1e-5));
    CHECK(evaluate(net, loss, test).get("loss") == doctest::Approx(e.get("loss")));  // no metrics: loss only

    const auto out = predict(net, test.features, 50);
    REQUIRE(out.shape()[0] == 128);
    net.eval();
    const auto& direct = net.forward(test.features);
    for (std::size_t i = 0; i < out.size(); ++i) CHECK(out.data()[i] == doctest::Approx(direct.data()[i]));
}

TEST_CASE("evaluate that fails on a bad label leaves the network in the mode it had")
{
    auto test = clusters(64, 2);
    test.labels[40] = 5;  // two classes
    Classifier net(3);
    CrossEntropyLoss<float> loss;
    for (const bool training : {true, false}) {
        CAPTURE(training);
        net.train(training);
        CHECK_THROWS_WITH_AS(evaluate(net, loss, test, {.batch_size = 16}), doctest::Contains("label 5"), value_error);
        CHECK(net.is_training() == training);
    }
}

TEST_CASE("fit prints one line per epoch when not on a terminal")
{
    const auto train = clusters(64, 1);
    Classifier net(1);
    SGD optimizer(net, {.lr = 0.1});
    CrossEntropyLoss<float> loss;
    std::FILE* out = std::tmpfile();
    REQUIRE(out);
    fit(net, optimizer, loss, train,
        {.epochs = 2, .batch_size = 16, .metrics = {accuracy()}, .verbose = verbosity::line, .out = out});
    std::rewind(out);
    std::string text;
    for (int c; (c = std::fgetc(out)) != EOF;) text += char(c);
    std::fclose(out);
    CHECK(text.find("Epoch 1/2 - 4/4 - ") != std::string::npos);
    CHECK(text.find("Epoch 2/2 - 4/4 - ") != std::string::npos);
    CHECK(text.find(" - loss: ") != std::string::npos);
    CHECK(text.find(" - accuracy: ") != std::string::npos);
    CHECK(text.find("samples/s") != std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
}

TEST_CASE("EarlyStopping stops after `patience` epochs without improvement and restores the best weights")
{
    fake_training t;
    EarlyStopping<float> es({.monitor = "val_loss", .patience = 2, .restore_best_weights = true});
    es.on_train_begin(t.ctx);
    const double losses[] = {1.0, 0.8, 0.9, 0.85, 0.7};
    int epoch = 0;
    for (; epoch < 5 && !t.ctx.stop_training; ++epoch) {
        t.weights[0] = float(10 * epoch);  // weights change every epoch
        es.on_epoch_end(t.ctx, epoch, val_loss(losses[epoch]));
    }
    CHECK(epoch == 4);  // epochs 2 and 3 did not improve on 0.8
    CHECK(es.stopped_epoch() == 3);
    CHECK(es.best_epoch() == 1);
    CHECK(t.weights[0] == 10.0f);  // the weights of epoch 1

    SUBCASE("min_delta: a smaller change is no improvement")
    {
        fake_training u;
        EarlyStopping<float> strict({.monitor = "val_loss", .patience = 1, .min_delta = 0.15});
        strict.on_train_begin(u.ctx);
        strict.on_epoch_end(u.ctx, 0, val_loss(1.0));
        strict.on_epoch_end(u.ctx, 1, val_loss(0.9));
        CHECK(u.ctx.stop_training);
    }
    SUBCASE("accuracy is maximised")
    {
        fake_training u;
        EarlyStopping<float> acc({.monitor = "val_accuracy", .patience = 1});
        acc.on_train_begin(u.ctx);
        logs l;
        for (double a : {0.5, 0.6, 0.7}) {
            l.set("val_accuracy", a);
            acc.on_epoch_end(u.ctx, 0, l);
        }
        CHECK_FALSE(u.ctx.stop_training);
    }
}

TEST_CASE("EarlyStopping inside fit ends the History at the stopping epoch")
{
    const auto train = clusters(64, 1), test = clusters(64, 2);
    Classifier net(1);
    SGD optimizer(net, {.lr = 0.0});  // nothing changes, so val_loss never improves after epoch 0
    CrossEntropyLoss<float> loss;
    auto es = std::make_shared<EarlyStopping<float>>(EarlyStoppingOptions{.patience = 2});
    const History h = fit(net, optimizer, loss, train,
                          {.epochs = 10, .batch_size = 16, .validation = &test, .callbacks = {es},
                           .verbose = verbosity::silent});
    CHECK(es->stopped_epoch() == 2);
    CHECK(h.epochs() == 3);
}

TEST_CASE("a NaN loss stops training and restores the weights of the last good epoch")
{
    const auto train = clusters(64, 1);
    Classifier net(1);
    Adam optimizer(net, {.lr = 0.01});
    CrossEntropyLoss<float> loss;
    std::vector<float> after_epoch_2;
    auto poison = std::make_shared<LambdaCallback<float>>();
    poison->epoch_end = [&](training_context<float>& ctx, int epoch, const logs&) {
        if (epoch != 1) return;
        after_epoch_2.assign(ctx.parameters.begin(), ctx.parameters.end());
        for (auto& w : ctx.parameters) w = std::nanf("");  // the next batch's loss is NaN
    };
    std::FILE* out = std::tmpfile();
    const History h = fit(net, optimizer, loss, train,
                          {.epochs = 5, .batch_size = 16, .callbacks = {poison}, .verbose = verbosity::line, .out = out});
    std::rewind(out);
    std::string text;
    for (int c; (c = std::fgetc(out)) != EOF;) text += char(c);
    std::fclose(out);
    CHECK(h.epochs() == 2);
    REQUIRE(after_epoch_2.size() == net.parameters().size());
    for (std::size_t i = 0; i < after_epoch_2.size(); ++i) REQUIRE(net.parameters()[i] == after_epoch_2[i]);
    CHECK(text.find("TerminateOnNaN: loss became nan at batch 1") != std::string::npos);
    CHECK(text.find("end of epoch 2") != std::string::npos);
}

TEST_CASE("schedules give the documented values")
{
    const schedules::step_decay step{0.1, 3, 0.5};
    CHECK(step(0) == doctest::Approx(0.1));
    CHECK(step(2) == doctest::Approx(0.1));
    CHECK(step(3) == doctest::Approx(0.05));
    CHECK(step(7) == doctest::Approx(0.025));
    const schedules::exponential_decay exp_decay{0.2, 0.9};
    CHECK(exp_decay(0) == doctest::Approx(0.2));
    CHECK(exp_decay(2) == doctest::Approx(0.2 * 0.81));
    const schedules::cosine_warmup cosine{1.0, 10, 2, 0.0};
    CHECK(cosine(0) == doctest::Approx(0.5));
    CHECK(cosine(1) == doctest::Approx(1.0));
    CHECK(cosine(2) == doctest::Approx(1.0));
    CHECK(cosine(6) == doctest::Approx(0.5));
    CHECK(cosine(10) == doctest::Approx(0.0));
    const schedules::cosine_warmup floor{1.0, 4, 0, 0.1};
    CHECK(floor(2) == doctest::Approx(0.1 + 0.9 * 0.5));
}

TEST_CASE("LearningRateScheduler sets the optimizer's rate before every epoch")
{
    const auto train = clusters(32, 1);
    Classifier net(1);
    SGD optimizer(net, {.lr = 1.0});
    CrossEntropyLoss<float> loss;
    auto sched = std::make_shared<LearningRateScheduler<float>>(schedules::step_decay{0.1, 2, 0.1});
    const History h =
        fit(net, optimizer, loss, train, {.epochs = 4, .batch_size = 16, .callbacks = {sched}, .verbose = verbosity::silent});
    CHECK(h["lr"][0] == doctest::Approx(0.1));
    CHECK(h["lr"][1] == doctest::Approx(0.1));
    CHECK(h["lr"][2] == doctest::Approx(0.01));
    CHECK(h["lr"][3] == doctest::Approx(0.01));
}

TEST_CASE("ReduceLROnPlateau multiplies the rate after `patience` stalled epochs, then cools down")
{
    fake_training t;
    ReduceLROnPlateau<float> plateau({.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.02});
    plateau.on_train_begin(t.ctx);
    const double losses[] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
    std::vector<double> lrs;
    for (int e = 0; e < 8; ++e) {
        plateau.on_epoch_end(t.ctx, e, val_loss(losses[e]));
        lrs.push_back(t.lr);
    }
    // Keras' rule: epoch 0 improves; 1, 2 stall -> 0.05 and one cooldown epoch (3, which still counts as
    // the first stalled epoch after it); 4 stalls -> 0.025; 5 cools down; 6 -> 0.0125, held at min_lr 0.02.
    const std::vector<double> expected{0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02};
    for (std::size_t i = 0; i < 8; ++i) CHECK(lrs[i] == doctest::Approx(expected[i]));
    for (int e = 8; e < 20; ++e) plateau.on_epoch_end(t.ctx, e, val_loss(1.0));
    CHECK(t.lr == doctest::Approx(0.02));  // never below min_lr
}

TEST_CASE("ModelCheckpoint with save_best_only saves only on improvement")
{
    fake_training t;
    ModelCheckpoint<float> ckpt([&](const std::string& path) { t.saved.push_back(path); },
                                {.path = "model-{epoch}.safetensors", .save_best_only = true});
    ckpt.on_train_begin(t.ctx);
    const double losses[] = {1.0, 1.2, 0.7, std::nan(""), 0.6};
    for (int e = 0; e < 5; ++e) ckpt.on_epoch_end(t.ctx, e, val_loss(losses[e]));
    const std::vector<std::string> expected{"model-1.safetensors", "model-3.safetensors", "model-5.safetensors"};
    CHECK(t.saved == expected);
}

TEST_CASE("CSVLogger writes a header and a row per epoch")
{
    const auto path = std::filesystem::temp_directory_path() / "lepton_csv_logger_test.csv";
    fake_training t;
    CSVLogger<float> csv(path.string());
    csv.on_train_begin(t.ctx);
    for (int e = 0; e < 2; ++e) {
        logs l;
        l.set("loss", 0.5 / (e + 1));
        l.set("val_loss", 0.25);
        csv.on_epoch_end(t.ctx, e, l);
    }
    csv.on_train_end(t.ctx);
    std::ifstream in(path);
    std::string header, row0, row1;
    std::getline(in, header);
    std::getline(in, row0);
    std::getline(in, row1);
    CHECK(header == "epoch,loss,val_loss");
    CHECK(row0 == "0,0.5,0.25");
    CHECK(row1 == "1,0.25,0.25");
    in.close();
    CSVLogger<float> more(path.string(), /*append=*/true);  // continues the file without a second header
    more.on_train_begin(t.ctx);
    logs l;
    l.set("loss", 0.125);
    l.set("val_loss", 0.25);
    more.on_epoch_end(t.ctx, 2, l);
    more.on_train_end(t.ctx);
    std::ifstream again(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(again, line);) lines.push_back(line);
    CHECK(lines == std::vector<std::string>{"epoch,loss,val_loss", "0,0.5,0.25", "1,0.25,0.25", "2,0.125,0.25"});
    std::filesystem::remove(path);
}

TEST_CASE("BCEWithLogitsLoss takes 0/1 labels, as fit passes them")
{
    tensor<double, 2> logits({2, 1});
    logits(0, 0) = 2;
    logits(1, 0) = -1;
    BCEWithLogitsLoss<double> bce;
    const std::vector<std::int32_t> labels{1, 1};
    CHECK(bce(logits, labels) == doctest::Approx((std::log1p(std::exp(-2.0)) + std::log1p(std::exp(1.0))) / 2));
    CHECK_THROWS_AS(bce(logits, std::vector<std::int32_t>{1, 2}), value_error);
}

#include <lepton/io/checkpoint.hpp>

TEST_CASE("ModelCheckpoint inside fit writes weights that load back into a fresh network")
{
    const auto dir = std::filesystem::temp_directory_path() / "lepton_fit_checkpoint";
    std::filesystem::create_directories(dir);
    const auto train = clusters(64, 1), test = clusters(64, 2);
    Classifier net(1);
    Adam optimizer(net, {.lr = 0.01});
    CrossEntropyLoss<float> loss;
    auto ckpt = model_checkpoint(net, {.path = (dir / "epoch-{epoch}.safetensors").string()});
    fit(net, optimizer, loss, train,
        {.epochs = 3, .batch_size = 16, .validation = &test, .callbacks = {ckpt}, .verbose = verbosity::silent});
    for (const char* name : {"epoch-1.safetensors", "epoch-2.safetensors", "epoch-3.safetensors"})
        REQUIRE(std::filesystem::exists(dir / name));
    CHECK(ckpt->last_saved() == (dir / "epoch-3.safetensors").string());
    Classifier restored(99);
    io::load_weights(restored, (dir / "epoch-3.safetensors").string());
    for (std::size_t i = 0; i < net.parameters().size(); ++i) REQUIRE(restored.parameters()[i] == net.parameters()[i]);
    std::filesystem::remove_all(dir);
}

#include <lepton/layers/batchnorm.hpp>

TEST_CASE("copying a network copies its parameters and its BatchNorm statistics")
{
    using Net = Network<double, cpu, Input<3>, Dense<4>, BatchNorm1D<>>;
    Net net(1);
    tensor<double, 2> x({5, 3});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(double(i));
    net.train();
    net.forward(x);  // moves the running statistics away from 0 and 1
    Net copy(net);
    Net assigned(7);
    assigned = net;
    for (Net* other : {&copy, &assigned}) {
        net.eval();
        const tensor<double, 2> expected = net.forward(x);
        Net& o = *other;
        o.eval();
        const auto& got = o.forward(x);
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(got.data()[i] == expected.data()[i]);
        CHECK(o.layer<1>().num_batches_tracked() == 1);
    }
}

TEST_CASE("a non-finite batch leaves BatchNorm's running statistics as they were")
{
    // PyTorch folds a NaN batch into running_mean and running_var, and every
    // evaluation afterwards is NaN; Lepton skips the update for the channels
    // the batch made non-finite, so a fit run with terminate_on_nan off keeps
    // usable statistics.
    using Net = Network<double, cpu, Input<2>, BatchNorm1D<>>;
    Net net(1);
    tensor<double, 2> x({4, 2});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(double(i) + 1);
    net.train();
    net.forward(x);
    auto values = [](std::span<const double> s) { return std::vector<double>(s.begin(), s.end()); };
    const std::vector<double> mean = values(net.layer<0>().running_mean()), var = values(net.layer<0>().running_var());
    x(2, 0) = std::nan("");
    x(1, 1) = INFINITY;
    net.forward(x);
    CHECK(values(net.layer<0>().running_mean()) == mean);
    CHECK(values(net.layer<0>().running_var()) == var);
    // A finite batch afterwards updates them again.
    x(2, 0) = 0.25;
    x(1, 1) = -0.5;
    net.forward(x);
    CHECK(values(net.layer<0>().running_mean()) != mean);
    for (const double v : net.layer<0>().running_var()) CHECK(std::isfinite(v));
}

TEST_CASE("fit with terminate_on_nan off keeps BatchNorm's statistics finite through a NaN batch")
{
    using Net = Sequential<Input<2>, Dense<8>, BatchNorm1D<>, ReLU, Dense<2>>;
    auto train = clusters(64, 1);
    train.features(5, 1) = std::nanf("");  // one poisoned sample
    Net net(1);
    SGD optimizer(net, {.lr = 0.0});  // the weights stay finite; only the statistics could go bad
    CrossEntropyLoss<float> loss;
    fit(net, optimizer, loss, train, {.epochs = 1, .batch_size = 16, .terminate_on_nan = false, .verbose = verbosity::silent});
    CHECK(net.layer<1>().num_batches_tracked() == 4);
    for (const float v : net.layer<1>().running_mean()) CHECK(std::isfinite(v));
    for (const float v : net.layer<1>().running_var()) CHECK(std::isfinite(v));
}

TEST_CASE("predict takes any xtensor expression of the network's shape and refuses another rank")
{
    const auto test = clusters(40, 2);
    Classifier net(3);
    const auto expected = predict(net, test.features, 16);
    auto same = [&](const auto& got) {
        REQUIRE(got.shape() == expected.shape());
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(got.data()[i] == expected.data()[i]);
    };
    // Column-major storage, a strided view (every sample, transposed twice), double values, an expression.
    xt::xtensor<float, 2, xt::layout_type::column_major> column_major = test.features;
    same(predict(net, column_major, 16));
    same(predict(net, xt::transpose(xt::transpose(test.features)), 16));
    const tensor<double, 2> wider = xt::cast<double>(test.features);
    same(predict(net, wider, 16));
    same(predict(net, test.features * 1.0f, 7));
    tensor<float, 3> wrong_rank({40, 2, 1});
    CHECK_THROWS_WITH_AS(predict(net, wrong_rank), doctest::Contains("expects inputs of shape [N, 2] (rank 2), got shape [40, 2, 1]"),
                         shape_error);
    tensor<float, 2> wrong_width({40, 3});
    CHECK_THROWS_AS(predict(net, wrong_width), shape_error);
}
