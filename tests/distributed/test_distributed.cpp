// Data-parallel training over MPI. CTest runs this program under
// `mpirun -np 2`, over shared memory and over TCP on loopback; every rank
// runs every test case in the same order (they are collective), and each
// rank can compute the single-process reference on its own.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <span>
#include <tuple>
#include <string>
#include <vector>

#include <lepton/distributed/data_parallel.hpp>
#include <lepton/distributed/mpi.hpp>
#include <lepton/io/checkpoint.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/batchnorm.hpp>
#include <lepton/layers/conv2d.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/flatten.hpp>
#include <lepton/layers/pooling.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/metrics/accuracy.hpp>
#include <lepton/metrics/macro_f1.hpp>
#include <lepton/nn/network.hpp>
#include <lepton/optim/adam.hpp>
#include <lepton/optim/sgd.hpp>
#include <lepton/train/callbacks/early_stopping.hpp>
#include <lepton/train/callbacks/model_checkpoint.hpp>
#include <lepton/data/subset.hpp>
#include <lepton/train/fit.hpp>

using namespace lepton;
namespace dist = lepton::distributed;

namespace {

dist::mpi::group* world = nullptr;

using SmallCNN = Sequential<Input<1, 8, 8>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<16>, ReLU, Dense<3>>;
using Other = Sequential<Input<1, 8, 8>, Flatten, Dense<3>>;

/// n 8x8 images of three classes (a bright row, column or diagonal) with noise.
data::Dataset<float, 3> patterns(std::size_t n, std::uint64_t seed)
{
    data::Dataset<float, 3> d;
    d.features.resize({n, 1, 8, 8});
    random_engine rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const int label = int(rng.below(3));
        const std::size_t at = rng.below(8);
        for (std::size_t y = 0; y < 8; ++y)
            for (std::size_t x = 0; x < 8; ++x) {
                const bool on = label == 0 ? y == at : label == 1 ? x == at : x == y;
                d.features(i, 0, y, x) = float((on ? 1.0 : 0.0) + rng.uniform(-0.3, 0.3));
            }
        d.labels.push_back(label);
    }
    return d;
}

/// A loader that fails on batch 1 when told to, as an ImageLoader does on a file it cannot decode.
struct failing_loader {
    static constexpr std::size_t sample_rank = 3, target_rank = 0;
    data::BatchLoader<float, 3> inner;
    bool fails;
    void start_epoch() { inner.start_epoch(); }
    std::size_t batches() const { return inner.batches(); }
    void shard(std::size_t rank, std::size_t ranks) { inner.shard(rank, ranks); }
    auto operator[](std::size_t b)
    {
        if (fails && b == 1) throw io_error("lepton test: an image of this rank's piece cannot be decoded");
        return inner[b];
    }
};

/// The loss of every batch of a `fit` run.
struct batch_losses : Callback<float> {
    std::vector<double> values;
    void on_batch_end(training_context<float>&, std::size_t, const logs& l) override { values.push_back(l.get("loss")); }
};

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

/// Largest |a - b| / max |b| over two parameter buffers.
double relative(std::span<const float> a, std::span<const float> b)
{
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return diff / scale;
}

} // namespace

TEST_CASE("sharded BatchLoader: the ranks' pieces make up the batches of one process with ranks x the batch")
{
    for (const std::size_t n : {std::size_t(64), std::size_t(100), std::size_t(129), std::size_t(3)}) {
        const auto d = patterns(n, 3);
        data::BatchLoader<float, 3> whole(d, 3 * 16, true, 9);
        std::vector<data::BatchLoader<float, 3>> ranks;
        for (std::size_t r = 0; r < 3; ++r) {
            ranks.emplace_back(d, 16, true, 9);
            ranks.back().shard(r, 3);
        }
        for (int epoch = 0; epoch < 2; ++epoch) {
            whole.start_epoch();
            for (auto& l : ranks) l.start_epoch();
            REQUIRE(ranks[0].batches() == whole.batches());
            for (std::size_t b = 0; b < whole.batches(); ++b) {
                const std::vector<std::int32_t> expected(whole[b].labels.begin(), whole[b].labels.end());
                const auto expected_x = whole[b].features;
                std::vector<std::int32_t> got;
                std::vector<float> got_x;
                std::vector<std::size_t> sizes;
                for (auto& l : ranks) {
                    auto piece = l[b];
                    got.insert(got.end(), piece.labels.begin(), piece.labels.end());
                    got_x.insert(got_x.end(), piece.features.begin(), piece.features.end());
                    sizes.push_back(piece.labels.size());
                    CHECK(l.global_batch_samples(b) == expected.size());
                }
                CHECK(got == expected);
                CHECK(std::equal(got_x.begin(), got_x.end(), expected_x.begin(), expected_x.end()));
                // As even as possible: sizes differ by at most one, larger first.
                CHECK(sizes.front() - sizes.back() <= 1);
            }
        }
    }
    // A last batch with fewer samples than ranks: left out for training, split (some pieces empty) for evaluation.
    const auto d = patterns(3 * 8 + 2, 3);
    data::BatchLoader<float, 3> training(d, 8), evaluation(d, 8);
    training.shard(2, 3);
    evaluation.shard(2, 3, /*every_rank_gets_samples=*/false);
    CHECK(training.batches() == 1);
    CHECK(evaluation.batches() == 2);
    CHECK(evaluation[1].labels.size() == 0);  // ranks 0 and 1 take the last two samples
    data::BatchLoader<float, 3> l(patterns(4, 1), 2);
    CHECK_THROWS_AS(l.shard(2, 2), value_error);
}

TEST_CASE("gradient buckets: last tensors first, about the bucket size, never across a frozen tensor")
{
    // Four tensors of 100 floats (400 bytes) with padding gaps; the second frozen.
    const std::vector<parameter_range> tensors{{0, 100}, {112, 212, true}, {224, 324}, {336, 436}};
    auto b = dist::make_buckets(tensors, 4, {.bucket_bytes = 400, .first_bucket_bytes = 400});
    REQUIRE(b.size() == 3);
    CHECK((b[0].begin == 336 && b[0].end == 436));
    CHECK((b[1].begin == 224 && b[1].end == 324));
    CHECK((b[2].begin == 0 && b[2].end == 100));
    b = dist::make_buckets(tensors, 4, {.bucket_bytes = 800, .first_bucket_bytes = 400});
    REQUIRE(b.size() == 3);
    b = dist::make_buckets(tensors, 4, {.bucket_bytes = 800, .first_bucket_bytes = 800});
    REQUIRE(b.size() == 2);
    CHECK((b[0].begin == 224 && b[0].end == 436));  // the padding between them rides along
    CHECK((b[1].begin == 0 && b[1].end == 100));
    b = dist::make_buckets(tensors, 4, {.bucket_bytes = 0});
    REQUIRE(b.size() == 2);  // one bucket but for the frozen tensor between
}

#if defined(OPEN_MPI)
TEST_CASE("on Open MPI, a group asks for the ring all-reduce unless mpirun chose an algorithm")
{
    // The variable as the tool interface reads it after `world` was made.
    int provided = 0, index = 0, count = 0, algorithm = -1;
    REQUIRE(MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) == MPI_SUCCESS);
    REQUIRE(MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) == MPI_SUCCESS);
    MPI_T_cvar_handle handle;
    REQUIRE(MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) == MPI_SUCCESS);
    REQUIRE(MPI_T_cvar_read(handle, &algorithm) == MPI_SUCCESS);
    MPI_T_cvar_handle_free(&handle);
    MPI_T_finalize();
    const char* chosen = std::getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm");
    CHECK(algorithm == (chosen ? std::atoi(chosen) : 1));
}
#endif

TEST_CASE("DataParallel starts every rank from rank 0's parameters")
{
    SmallCNN net(100 + std::uint64_t(world->rank()));  // a different start on every rank
    const SmallCNN rank0(100);
    dist::DataParallel replicas(net, *world);
    CHECK(std::equal(net.parameters().begin(), net.parameters().end(), rank0.parameters().begin()));
    CHECK(replicas.parameters_agree());
    net.parameters()[0] += float(world->rank());
    CHECK(replicas.parameters_agree() == (world->size() == 1));
    CHECK(dist::parameters_agree(net, *world) == (world->size() == 1));
}

TEST_CASE("ranks that built different networks get an error, not a hang")
{
    if (world->rank() == 0) {
        SmallCNN net;
        CHECK_THROWS_AS(dist::DataParallel(net, *world), dist::replica_mismatch);
    } else {
        Other net;
        CHECK_THROWS_AS(dist::DataParallel(net, *world), dist::replica_mismatch);
    }
}

TEST_CASE("backward averages the gradients of every rank's batch, in any bucket size")
{
    const int ranks = world->size();
    std::vector<data::Dataset<float, 3>> batches;
    for (int r = 0; r < ranks; ++r) batches.push_back(patterns(16, 50 + std::uint64_t(r)));
    // What one process would get: the mean of the ranks' gradients.
    SmallCNN reference(7);
    std::vector<double> expected(reference.gradients().size(), 0.0);
    CrossEntropyLoss<float> loss;
    for (int r = 0; r < ranks; ++r) {
        reference.zero_grad();
        loss(reference.forward(batches[std::size_t(r)].features), batches[std::size_t(r)].labels);
        reference.backward(loss.gradient());
        for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += reference.gradients()[i] / double(ranks);
    }
    double scale = 0;
    for (const double g : expected) scale = std::max(scale, std::abs(g));
    std::vector<float> first;
    for (const std::size_t bucket : {std::size_t(64), std::size_t(1024), std::size_t(0)}) {
        SmallCNN net(7);
        dist::DataParallel replicas(net, *world, {.bucket_bytes = bucket, .first_bucket_bytes = bucket});
        const auto& mine = batches[std::size_t(world->rank())];
        net.zero_grad();
        loss(net.forward(mine.features), mine.labels);
        replicas.backward(loss.gradient());
        CAPTURE(bucket);
        CHECK(replicas.buckets().size() >= 1);
        if (bucket == 64) {
            CHECK(replicas.buckets().size() > 3);
            // The Dense layers' buckets left while the convolution's gradients were being computed.
            CHECK(replicas.overlapped_buckets() > 0);
            CHECK(replicas.overlapped_buckets() < replicas.buckets().size());
        }
        if (bucket == 0) CHECK(replicas.overlapped_buckets() == 0);  // one bucket waits for the first layer
        double diff = 0;
        for (std::size_t i = 0; i < expected.size(); ++i) diff = std::max(diff, std::abs(net.gradients()[i] - expected[i]));
        CHECK(diff <= 1e-6 * scale);
        // The bucket size changes when each slice travels, not the sums.
        if (first.empty())
            first.assign(net.gradients().begin(), net.gradients().end());
        else
            CHECK(std::equal(first.begin(), first.end(), net.gradients().begin()));
    }
}

TEST_CASE("no_sync accumulates; the next backward reduces everything accumulated")
{
    CrossEntropyLoss<float> loss;
    const auto mine = patterns(24, 70 + std::uint64_t(world->rank()));
    auto part = [&](std::size_t k) {
        std::vector<std::size_t> rows(8);
        std::iota(rows.begin(), rows.end(), 8 * k);
        return data::select(mine, std::span<const std::size_t>(rows));
    };
    SmallCNN net(3), alone(3);
    dist::DataParallel replicas(net, *world);
    net.zero_grad();
    {
        auto guard = replicas.no_sync();
        for (std::size_t k = 0; k < 2; ++k) {
            const auto p = part(k);
            loss(net.forward(p.features), p.labels);
            replicas.backward(loss.gradient());
        }
    }
    const auto p = part(2);
    loss(net.forward(p.features), p.labels);
    replicas.backward(loss.gradient());
    // The same three backward passes in one process, then the average over ranks by hand.
    alone.zero_grad();
    for (std::size_t k = 0; k < 3; ++k) {
        const auto q = part(k);
        loss(alone.forward(q.features), q.labels);
        alone.backward(loss.gradient());
    }
    std::vector<double> sum(alone.gradients().begin(), alone.gradients().end());
    world->all_reduce_sum(sum);
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < sum.size(); ++i) {
        diff = std::max(diff, std::abs(net.gradients()[i] - sum[i] / world->size()));
        scale = std::max(scale, std::abs(sum[i]));
    }
    CHECK(diff <= 1e-6 * scale);
}

TEST_CASE("frozen parameters are left out of the reduction")
{
    SmallCNN net(5);
    net.freeze(0);  // the convolution
    dist::DataParallel replicas(net, *world);
    const auto mine = patterns(16, 80 + std::uint64_t(world->rank()));
    CrossEntropyLoss<float> loss;
    net.zero_grad();
    loss(net.forward(mine.features), mine.labels);
    replicas.backward(loss.gradient());
    const std::size_t conv_end = net.parameter_ranges()[1].end;  // weight and bias of layer 0
    for (const auto& b : replicas.buckets()) CHECK(b.begin >= conv_end);
    bool zero = true;
    for (std::size_t i = 0; i < conv_end; ++i) zero = zero && net.gradients()[i] == 0.0f;
    CHECK(zero);
}

TEST_CASE("fit on 2 ranks x batch 32 follows 1 process x batch 64, and the ranks end bitwise equal")
{
    // 600 samples: the last global batch has 24 (12 per rank); 579: 3, split 2 and 1.
    for (const std::size_t n : {std::size_t(600), std::size_t(579)}) {
        CAPTURE(n);
        const auto train = patterns(n, 11), test = patterns(200, 12);
        const auto per_rank = std::size_t(64 / world->size());
        auto run = [&](dist::process_group* group, std::size_t batch) {
            SmallCNN net(21);
            Adam optimizer(net, {.lr = 1e-2});
            CrossEntropyLoss<float> loss;
            auto losses = std::make_shared<batch_losses>();
            auto history = fit(net, optimizer, loss, train,
                               {.epochs = 3, .batch_size = batch, .seed = 4, .validation = &test,
                                .metrics = {std::make_shared<metrics::accuracy<float>>(),
                                             std::make_shared<metrics::macro_f1<float>>()},
                                .callbacks = {losses}, .verbose = verbosity::silent, .process_group = group});
            return std::tuple(std::move(net), losses->values, std::move(history));
        };
        auto [alone, alone_losses, alone_history] = run(nullptr, 64);
        auto [net, losses, history] = run(world, per_rank);
        REQUIRE(losses.size() == alone_losses.size());
        CHECK(losses.size() == 3 * ((n + 63) / 64));
        double worst = 0;
        for (std::size_t i = 0; i < losses.size(); ++i) worst = std::max(worst, relative(losses[i], alone_losses[i]));
        CHECK(worst <= 1e-5);
        CHECK(relative(net.parameters(), alone.parameters()) <= 1e-4);
        for (const char* key : {"loss", "accuracy", "macro_f1", "val_loss", "val_accuracy", "val_macro_f1"}) {
            CAPTURE(key);
            CHECK(relative(history[key].back(), alone_history[key].back()) <= 1e-5);
        }
        CHECK(history["val_accuracy"].back() > 0.8);  // it learned (chance: 1/3)
        // Every rank holds the same parameters, bit for bit.
        std::vector<float> root(net.parameters().begin(), net.parameters().end());
        world->broadcast(std::as_writable_bytes(std::span<float>(root)), 0);
        CHECK(std::equal(root.begin(), root.end(), net.parameters().begin()));
    }
}

TEST_CASE("evaluate splits the set between ranks and gives every rank the whole set's results")
{
    const SmallCNN trained(31);
    SmallCNN net = trained;
    const auto test = patterns(333, 13);
    CrossEntropyLoss<float> loss;
    auto acc = std::make_shared<metrics::accuracy<float>>();
    const logs alone = evaluate(net, loss, test, {.batch_size = 50, .metrics = {acc}});
    const logs split = evaluate(net, loss, test, {.batch_size = 50, .metrics = {acc}, .process_group = world});
    CHECK(relative(split.get("loss"), alone.get("loss")) <= 1e-6);
    CHECK(split.get("accuracy") == alone.get("accuracy"));
    CHECK(acc->total() == 333);
}

TEST_CASE("callbacks decide alike on every rank; rank 0 writes the checkpoint, every rank can load it")
{
    const auto train = patterns(256, 14), test = patterns(128, 15);
    const std::string path = (std::filesystem::temp_directory_path() / "lepton_test_distributed.safetensors").string();
    if (world->rank() == 0) std::filesystem::remove(path);
    world->barrier();
    SmallCNN net(41);
    SGD optimizer(net, {.lr = 0.0});  // nothing improves after the first epoch: early stopping ends it
    CrossEntropyLoss<float> loss;
    auto history = fit(net, optimizer, loss, train,
                       {.epochs = 10, .batch_size = 16, .validation = &test,
                        .callbacks = {std::make_shared<EarlyStopping<float>>(EarlyStoppingOptions{.patience = 1}),
                                      model_checkpoint(net, {.path = path})},
                        .verbose = verbosity::silent, .process_group = world});
    double epochs[2] = {double(history.epochs()), double(history.epochs()) * double(history.epochs())};
    world->all_reduce_sum(std::span<double>(epochs));
    CHECK(epochs[0] * epochs[0] == epochs[1] * world->size());  // the same count on every rank
    CHECK(history.epochs() < 10);
    REQUIRE(std::filesystem::exists(path));
    SmallCNN loaded(99);
    io::load_weights(loaded, path);
    CHECK(std::equal(loaded.parameters().begin(), loaded.parameters().end(), net.parameters().begin()));
    world->barrier();
    if (world->rank() == 0) std::filesystem::remove(path);
}

TEST_CASE("a callback that fails on one rank stops every rank with an error, not a hang")
{
    const auto train = patterns(128, 16);
    CrossEntropyLoss<float> loss;
    auto run = [&](std::shared_ptr<Callback<float>> callback) {
        SmallCNN net(51);
        SGD optimizer(net, {.lr = 0.1});
        fit(net, optimizer, loss, train,
            {.epochs = 2, .batch_size = 16, .callbacks = {callback}, .verbose = verbosity::silent,
             .process_group = world});
    };
    SUBCASE("rank 0 cannot write the checkpoint")
    {
        SmallCNN net(52);
        const std::string path = "/nonexistent_lepton_directory/checkpoint.safetensors";
        if (world->rank() == 0)
            CHECK_THROWS_AS(run(model_checkpoint(net, {.path = path})), io_error);
        else
            CHECK_THROWS_WITH_AS(run(model_checkpoint(net, {.path = path})),
                                 doctest::Contains("rank 0 failed in writing the checkpoint"), dist::rank_failure);
    }
    SUBCASE("a batch callback throws on the last rank only, mid-epoch and at an epoch's last batch")
    {
        const std::size_t per_epoch = (128 + 16 * std::size_t(world->size()) - 1) / (16 * std::size_t(world->size()));
        for (const std::size_t failing_batch : {std::size_t(1), per_epoch - 1}) {
            CAPTURE(failing_batch);
            const int last = world->size() - 1;
            auto failing = std::make_shared<LambdaCallback<float>>();
            failing->batch_end = [&](training_context<float>& ctx, std::size_t b, const logs&) {
                if (ctx.rank == last && b == failing_batch) throw value_error("lepton test: this rank's callback fails");
            };
            if (world->rank() == last) {
                CHECK_THROWS_WITH_AS(run(failing), "lepton test: this rank's callback fails", value_error);
            } else {
                try {
                    run(failing);
                    FAIL("fit returned although another rank failed");
                } catch (const dist::rank_failure& e) {
                    CHECK(e.failed_ranks() == std::vector<int>{last});
                    CHECK(std::string(e.what()).find("on_batch_end") != std::string::npos);
                }
            }
        }
    }
    world->barrier();  // the group still works for the next case
}

TEST_CASE("a bad label or an unreadable batch on one rank stops every rank with an error, not a hang")
{
    const int last = world->size() - 1;
    CrossEntropyLoss<float> loss;
    // On the other ranks: rank_failure naming the last rank and the step.
    auto expect_failure = [&](auto&& call, const char* step) {
        if (world->rank() == last) {
            CHECK_THROWS_WITH_AS(call(), doctest::Contains("label 7"), value_error);
        } else {
            try {
                call();
                FAIL("returned although another rank failed");
            } catch (const dist::rank_failure& e) {
                CHECK(e.failed_ranks() == std::vector<int>{last});
                CHECK(std::string(e.what()).find(step) != std::string::npos);
            }
        }
    };
    SUBCASE("training: the second batch's sample in the last rank's piece")
    {
        auto train = patterns(128, 17);
        const std::size_t per_rank = 16, global = per_rank * std::size_t(world->size());
        train.labels[global + per_rank * std::size_t(last) + 3] = 7;  // 3 classes
        SmallCNN net(53);
        SGD optimizer(net, {.lr = 0.1});
        expect_failure(
            [&] {
                fit(net, optimizer, loss, train,
                    {.epochs = 1, .batch_size = per_rank, .shuffle = false, .verbose = verbosity::silent,
                     .process_group = world});
            },
            "forward pass and loss");
    }
    SUBCASE("training: the last rank's loader cannot read its piece of the second batch")
    {
        const auto train = patterns(128, 19);
        failing_loader loader{data::BatchLoader<float, 3>(train, 16), world->rank() == last};
        SmallCNN net(55);
        SGD optimizer(net, {.lr = 0.1});
        if (world->rank() == last) {
            CHECK_THROWS_AS(fit(net, optimizer, loss, loader, {.epochs = 1, .verbose = verbosity::silent,
                                                                .process_group = world}),
                            io_error);
        } else {
            expect_failure([&] { fit(net, optimizer, loss, loader, {.epochs = 1, .verbose = verbosity::silent,
                                                                    .process_group = world}); },
                           "loading a batch");
        }
    }
    SUBCASE("evaluation: the last sample, in the last rank's piece of the last batch")
    {
        auto test = patterns(333, 18);
        test.labels.back() = 7;
        SmallCNN net(54);
        net.train();
        expect_failure([&] { evaluate(net, loss, test, {.batch_size = 50, .process_group = world}); },
                       "evaluating its share");
        CHECK(net.is_training());  // the mode it had, on every rank
    }
    world->barrier();
}

namespace {

using SyncNet = Sequential<Input<1, 8, 8>, Conv2D<4, 3>, SyncBatchNorm2D<>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>;
using PlainNet = Sequential<Input<1, 8, 8>, Conv2D<4, 3>, BatchNorm2D<>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>;

} // namespace

TEST_CASE("SyncBatchNorm2D: gradients and input gradients of the global batch")
{
    const int ranks = world->size();
    const auto whole = patterns(16 * std::size_t(ranks), 90);
    std::vector<std::size_t> mine_rows(16);
    std::iota(mine_rows.begin(), mine_rows.end(), 16 * std::size_t(world->rank()));
    const auto mine = data::select(whole, std::span<const std::size_t>(mine_rows));
    CrossEntropyLoss<float> loss;
    // One process with the whole batch and plain BatchNorm: what every rank must get.
    PlainNet reference(8);
    reference.zero_grad();
    loss(reference.forward(whole.features), whole.labels);
    const auto dx_all = reference.backward(loss.gradient(), true);
    SyncNet net(8);
    REQUIRE(std::equal(net.parameters().begin(), net.parameters().end(), reference.parameters().begin()));
    dist::DataParallel replicas(net, *world);
    net.zero_grad();
    loss(net.forward(mine.features), mine.labels);
    const auto dx = replicas.backward(loss.gradient(), true);
    CHECK(relative(net.gradients(), reference.gradients()) <= 1e-5);
    // This rank's input gradient is that of its own loss, the mean over its 16 samples.
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < dx.size(); ++i) {
        const double expected = double(dx_all.data()[16 * 64 * std::size_t(world->rank()) + i]) * ranks;
        diff = std::max(diff, std::abs(dx.data()[i] - expected));
        scale = std::max(scale, std::abs(expected));
    }
    CHECK(diff <= 1e-5 * scale);
    // The running statistics come from the global batch, on every rank.
    auto& bn = net.layer<1>();
    const auto& plain = reference.layer<1>();
    for (std::size_t c = 0; c < 4; ++c) {
        CHECK(bn.running_mean()[c] == doctest::Approx(plain.running_mean()[c]).epsilon(1e-5));
        CHECK(bn.running_var()[c] == doctest::Approx(plain.running_var()[c]).epsilon(1e-5));
    }
}

TEST_CASE("SyncBatchNorm2D: finite-difference gradients in double of the loss summed over the ranks")
{
    using Net = Network<double, cpu, Input<2, 3, 3>, Conv2D<3, 2>, SyncBatchNorm2D<>, ReLU, Flatten, Dense<2>>;
    Net net(5);
    dist::DataParallel replicas(net, *world);
    // L = sum over ranks of w * sum(c * y) with this rank's inputs x and weights c, w = 1 / ranks.
    random_engine rng(60 + std::uint64_t(world->rank()));
    Net::input_type x(std::array<std::size_t, 4>{3, 2, 3, 3});
    Net::output_type c(std::array<std::size_t, 2>{3, 2});
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : c) v = rng.uniform(-1, 1);
    const double w = 1.0 / world->size();
    auto global_loss = [&] {
        const auto& y = net.forward(x);
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += w * c.data()[i] * y.data()[i];
        world->all_reduce_sum(std::span<double>(&l, 1));
        return l;
    };
    net.zero_grad();
    net.forward(x);
    const auto dx = replicas.backward(c, true);  // weight 1 / ranks
    const std::vector<double> analytic(net.gradients().begin(), net.gradients().end());
    constexpr double h = 1e-6;
    double worst = 0;
    for (std::size_t i = 0; i < analytic.size(); ++i) {
        double& p = net.parameters()[i];
        const double kept = p;
        p = kept + h;
        const double up = global_loss();
        p = kept - h;
        const double down = global_loss();
        p = kept;
        const double numeric = (up - down) / (2 * h);
        worst = std::max(worst, std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric)));
    }
    CHECK(worst <= 1e-6);
    // Rank q's inputs move every rank's output through the shared statistics; dx is rank q's
    // own loss's gradient (scaled back by 1 / w), so the global loss's is w * dx.
    double worst_input = 0;
    for (int q = 0; q < world->size(); ++q)
        for (std::size_t k = 0; k < x.size(); k += 5) {
            double& v = x.data()[k];
            const double kept = v;
            if (world->rank() == q) v = kept + h;
            const double up = global_loss();
            if (world->rank() == q) v = kept - h;
            const double down = global_loss();
            v = kept;
            if (world->rank() != q) continue;
            const double numeric = (up - down) / (2 * h);
            worst_input = std::max(worst_input, std::abs(numeric - w * dx.data()[k]) / std::max(1.0, std::abs(numeric)));
        }
    CHECK(worst_input <= 1e-6);
}

TEST_CASE("fit with SyncBatchNorm2D on 2 ranks x 16 follows BatchNorm2D on 1 process x 32; unsynchronised, it does not")
{
    const auto train = patterns(320, 16), test = patterns(100, 17);
    auto run = [&](auto net, dist::process_group* group, std::size_t batch) {
        Adam optimizer(net, {.lr = 1e-2});
        CrossEntropyLoss<float> loss;
        auto losses = std::make_shared<batch_losses>();
        fit(net, optimizer, loss, train,
            {.epochs = 2, .batch_size = batch, .seed = 5, .validation = &test, .callbacks = {losses},
             .verbose = verbosity::silent, .process_group = group});
        return losses->values;
    };
    const auto per_rank = std::size_t(32 / world->size());
    const auto alone = run(PlainNet(9), nullptr, 32);
    const auto synced = run(SyncNet(9), world, per_rank);
    const auto unsynced = run(PlainNet(9), world, per_rank);
    REQUIRE(synced.size() == alone.size());
    double worst = 0, unsynced_worst = 0;
    for (std::size_t i = 0; i < alone.size(); ++i) {
        worst = std::max(worst, relative(synced[i], alone[i]));
        unsynced_worst = std::max(unsynced_worst, relative(unsynced[i], alone[i]));
    }
    CHECK(worst <= 1e-5);
    CHECK(unsynced_worst > 1e-3);  // per-rank statistics: another training run
    CHECK(std::string(SyncNet::layer_type<1>::kind) == "SyncBatchNorm");
}

int main(int argc, char** argv)
{
    dist::mpi::environment mpi(argc, argv);
    dist::mpi::group group;
    world = &group;
    doctest::Context context(argc, argv);
    if (group.rank() != 0) context.setOption("minimal", true);  // one report; failures from every rank
    double failed = context.run() != 0 ? 1.0 : 0.0;
    group.all_reduce_sum(std::span<double>(&failed, 1));
    world = nullptr;
    return failed != 0 ? 1 : 0;
}
