// Fine-tuning: what moves between networks, what a frozen BatchNorm does, and freezing ranges.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/nn/block.hpp>
#include <lepton/nn/named.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/nn/transfer.hpp>
#include <lepton/optim/sgd.hpp>
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
