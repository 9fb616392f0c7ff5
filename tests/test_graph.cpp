// Graphs, sparse features and graph layers: hand-computed values, gradient
// checks on small random graphs, sparse-versus-dense agreement, bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <lepton/data/cora.hpp>
#include <lepton/layers/activation.hpp>
#include <lepton/layers/dense.hpp>
#include <lepton/layers/dropout.hpp>
#include <lepton/layers/gat_conv.hpp>
#include <lepton/layers/graph_conv.hpp>
#include <lepton/layers/sage_conv.hpp>
#include <lepton/losses/cross_entropy.hpp>
#include <lepton/nn/network.hpp>

#include "gradient_helpers.hpp"

using namespace lepton;

namespace {

using edge_list = std::vector<std::pair<std::size_t, std::size_t>>;

/// A path 0 - 1 - 2 - 3 and an isolated node 4.
Graph path_graph()
{
    const edge_list edges{{0, 1}, {1, 2}, {2, 3}};
    return Graph(5, edges, graph_options{.symmetrize = true});
}

/// A directed graph with a self loop (2 -> 2), a repeated edge, a node with no
/// incoming edges (0) and an isolated node (6).
Graph directed_graph()
{
    const edge_list edges{{0, 1}, {1, 2}, {2, 2}, {3, 1}, {4, 3}, {1, 4}, {5, 4}, {2, 5}, {0, 5}, {0, 1}};
    return Graph(7, edges);
}

template <class Net>
typename Net::input_type node_features(std::size_t nodes, std::uint64_t seed)
{
    return lepton_test::random_input<Net>(nodes, seed);
}

using lepton_test::set_parameters;

} // namespace

TEST_CASE("Graph: symmetrised edges, remaining self loops and GCN weights")
{
    const Graph g = path_graph();
    CHECK(g.node_count() == 5);
    CHECK(g.edge_count() == 6);
    CHECK(g.is_symmetric());
    const adjacency& loops = g.with_self_loops();
    CHECK(loops.edge_count() == 11);  // 6 edges + 5 loops
    CHECK(loops.in_degree(1) == 3);
    CHECK(loops.in_degree(4) == 1);
    // Edge 0 -> 1 has weight 1 / sqrt(deg 1 * deg 0) = 1 / sqrt(3 * 2).
    const auto w = g.gcn_weights<double>();
    bool found = false;
    for (std::size_t e = loops.offsets()[1]; e < loops.offsets()[2]; ++e)
        if (loops.sources()[e] == 0) {
            CHECK(w[e] == doctest::Approx(1 / std::sqrt(6.0)));
            found = true;
        }
    CHECK(found);

    const Graph d = directed_graph();
    CHECK_FALSE(d.is_symmetric());
    CHECK(d.edge_count() == 9);                   // the repeated 0 -> 1 counts once
    CHECK(d.with_self_loops().edge_count() == 9 + 6);  // 2 -> 2 exists already
    CHECK(d.edges().in_degree(0) == 0);
}

TEST_CASE("Graph: an edge naming a node outside the graph is an error that names it")
{
    const edge_list edges{{0, 1}, {1, 5}};
    try {
        Graph(5, edges);
        FAIL("no error");
    } catch (const value_error& e) {
        const std::string what = e.what();
        CHECK(what.find("edge 1 (1 -> 5)") != std::string::npos);
        CHECK(what.find("5 nodes") != std::string::npos);
    }
}

TEST_CASE("sparse_matrix: construction checks, triplets, normalisation")
{
    CHECK_THROWS_AS(sparse_matrix<float>(2, 3, {0, 1}, {0}, {1.f}), value_error);            // offsets too short
    CHECK_THROWS_AS(sparse_matrix<float>(1, 3, {0, 2}, {2, 1}, {1.f, 2.f}), value_error);     // unsorted
    CHECK_THROWS_AS(sparse_matrix<float>(1, 3, {0, 1}, {3}, {1.f}), value_error);              // column out of range
    CHECK_THROWS_AS(sparse_matrix<float>(2, 3, {0, 4, 2}, {0, 1}, {1.f, 2.f}), value_error);  // offset past the entries
    CHECK_THROWS_AS(sparse_matrix<float>::from_triplets(2, 2, {{2, 0, 1.f}}), value_error);

    auto m = sparse_matrix<double>::from_triplets(2, 4, {{1, 3, 1.0}, {0, 2, 2.0}, {0, 0, 1.0}, {1, 3, 2.0}});
    CHECK(m.nonzeros() == 3);
    m.row_normalize();
    const auto d = m.to_dense();
    CHECK(d(0, 0) == doctest::Approx(1.0 / 3));
    CHECK(d(0, 2) == doctest::Approx(2.0 / 3));
    CHECK(d(1, 3) == doctest::Approx(1.0));  // duplicates summed to 3, then normalised
}

TEST_CASE("sparse_matrix refuses sizes its arrays cannot describe and entries outside it, naming them")
{
    using M = sparse_matrix<float>;
    // rows + 1 wraps to 0: the offsets were read from an empty array (a null read) before.
    CHECK_THROWS_WITH_AS(M(SIZE_MAX, 3, {}, {}, {}), doctest::Contains("rows are more than row offsets can hold"),
                         value_error);
    // from_triplets allocated no offsets, then wrote past them (a heap overflow) before.
    CHECK_THROWS_WITH_AS(M::from_triplets(SIZE_MAX, 3, {{0, 0, 1.f}}), doctest::Contains("rows are more than"), value_error);
    CHECK_THROWS_WITH_AS(M::from_triplets(SIZE_MAX, 3, {}), doctest::Contains("rows are more than"), value_error);
    // Column indices are 32-bit: column 2^32 + 1 was stored as 1, out of order, before.
    const std::size_t wide = (std::size_t{1} << 32) + 2;
    CHECK_THROWS_WITH_AS(M::from_triplets(1, wide, {{0, 3, 1.f}, {0, (std::size_t{1} << 32) + 1, 2.f}}),
                         doctest::Contains("4294967298 columns are more than 4294967296 (column indices are 32-bit)"),
                         value_error);
    CHECK_THROWS_AS(M(1, wide, {0, 0}, {}, {}), value_error);
    CHECK_NOTHROW(M(1, M::max_cols, {0, 1}, {std::uint32_t(M::max_cols - 1)}, {1.f}));
    CHECK_THROWS_WITH_AS(M::from_triplets(2, 2, {{0, 1, 1.f}, {1, 2, 1.f}}),
                         doctest::Contains("entry 1 at (1, 2) is outside a 2 x 2 matrix"), value_error);
    // Dense shapes from run-time sizes (to_dense, every buffer a layer sizes) are counted before xtensor
    // computes strides from them: a product past PTRDIFF_MAX was a signed overflow inside xtensor before.
    CHECK_THROWS_WITH_AS(checked_element_count<float>(std::array<std::size_t, 2>{SIZE_MAX, 2}),
                         doctest::Contains("a tensor of shape [18446744073709551615, 2] has more elements than memory can index"),
                         shape_error);
    CHECK_THROWS_AS(checked_element_count<double>(std::array<std::size_t, 2>{std::size_t{1} << 31, std::size_t{1} << 30}),
                    shape_error);
    CHECK(checked_element_count<double>(std::array<std::size_t, 2>{std::size_t{1} << 30, std::size_t{1} << 29}) ==
          std::size_t{1} << 59);
    tensor<float, 2> buffer;
    CHECK_THROWS_AS(ensure_shape(buffer, std::array<std::size_t, 2>{std::size_t{1} << 40, std::size_t{1} << 40}), shape_error);
    CHECK(checked_element_count<float>(std::array<std::size_t, 3>{SIZE_MAX, 0, 7}) == 0);
}

TEST_CASE("spmm matches a dense product for every feature-width path")
{
    random_engine rng(3);
    std::vector<triplet<float>> entries;
    for (std::size_t r = 0; r < 9; ++r)
        for (std::size_t c = 0; c < 6; ++c)
            if (rng.uniform() < 0.4) entries.push_back({r, c, float(rng.uniform(-1, 1))});
    const auto a = sparse_matrix<float>::from_triplets(9, 6, entries);
    const auto dense = a.to_dense();
    for (std::size_t f : {1, 7, 8, 16, 19, 33}) {
        CAPTURE(f);
        std::vector<float> b(6 * f), c(9 * f, 5.f), ct(6 * f, 0.f), b9(9 * f);
        for (auto& v : b) v = float(rng.uniform(-1, 1));
        for (auto& v : b9) v = float(rng.uniform(-1, 1));
        kernels::spmm(detail::csr_of(a), b.data(), f, c.data());
        kernels::spmm_transposed_accumulate(detail::csr_of(a), b9.data(), f, ct.data());
        for (std::size_t i = 0; i < 9; ++i)
            for (std::size_t j = 0; j < f; ++j) {
                double ref = 0;
                for (std::size_t k = 0; k < 6; ++k) ref += dense(i, k) * b[k * f + j];
                CHECK(c[i * f + j] == doctest::Approx(ref).epsilon(1e-5));
            }
        for (std::size_t k = 0; k < 6; ++k)
            for (std::size_t j = 0; j < f; ++j) {
                double ref = 0;
                for (std::size_t i = 0; i < 9; ++i) ref += dense(i, k) * b9[i * f + j];
                CHECK(ct[k * f + j] == doctest::Approx(ref).epsilon(1e-5));
            }
    }
}

TEST_CASE("GraphConv forward on a 5-node path, computed by hand")
{
    // Y = D^-1/2 (A + I) D^-1/2 X W^T + b with W = [[1, 0], [0, 2]], b = [0.5, -1];
    // degrees with loops: 2, 3, 3, 2, 1.
    Network<double, cpu, Input<2>, GraphConv<2>> net;
    set_parameters(net, {1, 0, 0, 2, 0.5, -1});
    tensor<double, 2> x({5, 2});
    for (std::size_t i = 0; i < 5; ++i) {
        x(i, 0) = double(i + 1);
        x(i, 1) = 1;
    }
    const Graph g = path_graph();
    const auto& y = net.forward(g, x);
    const double s6 = std::sqrt(6.0);
    const double col0[] = {1.0 / 2 + 2 / s6, 1 / s6 + 2.0 / 3 + 3.0 / 3, 2.0 / 3 + 3.0 / 3 + 4 / s6, 3 / s6 + 4.0 / 2, 5};
    const double ones[] = {1.0 / 2 + 1 / s6, 1 / s6 + 2.0 / 3, 2.0 / 3 + 1 / s6, 1 / s6 + 1.0 / 2, 1};
    for (std::size_t i = 0; i < 5; ++i) {
        CAPTURE(i);
        CHECK(y(i, 0) == doctest::Approx(col0[i] + 0.5));
        CHECK(y(i, 1) == doctest::Approx(2 * ones[i] - 1));
    }
}

TEST_CASE("SAGEConv forward by hand: mean of in-neighbours plus root; isolated nodes get the root term")
{
    Network<double, cpu, Input<1>, SAGEConv<1>> net;
    set_parameters(net, {2.0 /* lin_l.weight */, 0.25 /* lin_l.bias */, -1.0 /* lin_r.weight */});
    tensor<double, 2> x({5, 1});
    for (std::size_t i = 0; i < 5; ++i) x(i, 0) = double(i + 1);
    const auto& y = net.forward(path_graph(), x);
    CHECK(y(0, 0) == doctest::Approx(2 * 2.0 + 0.25 - 1));
    CHECK(y(1, 0) == doctest::Approx(2 * (1 + 3) / 2.0 + 0.25 - 2));
    CHECK(y(3, 0) == doctest::Approx(2 * 3.0 + 0.25 - 4));
    CHECK(y(4, 0) == doctest::Approx(0.25 - 5));
}

TEST_CASE("GATConv with zero attention vectors averages z over each neighbourhood and its self loop")
{
    Network<double, cpu, Input<1>, GATConv<1, 2, head_merge::mean>> net;
    // att_src, att_dst [1, 2, 1], bias [1], lin.weight [2, 1]
    set_parameters(net, {0, 0, 0, 0, 0.5, 1, 3});
    tensor<double, 2> x({5, 1});
    for (std::size_t i = 0; i < 5; ++i) x(i, 0) = double(i + 1);
    net.eval();
    const auto& y = net.forward(path_graph(), x);
    // Head outputs are 1 * mean(x) and 3 * mean(x); their mean is 2 * mean(x).
    CHECK(y(0, 0) == doctest::Approx(2 * (1 + 2) / 2.0 + 0.5));
    CHECK(y(1, 0) == doctest::Approx(2 * (1 + 2 + 3) / 3.0 + 0.5));
    CHECK(y(4, 0) == doctest::Approx(2 * 5.0 + 0.5));
    CHECK(net.layer<0>().attention().size() == 2 * 11);  // heads x (6 edges + 5 loops)
}

TEST_CASE("GATConv attention is a softmax over each node's incoming edges")
{
    Network<double, cpu, Input<3>, GATConv<2, 3>> net(5);
    const Graph g = directed_graph();
    net.eval();
    net.forward(g, node_features<decltype(net)>(7, 1));
    const auto& alpha = net.layer<0>().attention();
    const adjacency& a = g.with_self_loops();
    for (std::size_t i = 0; i < 7; ++i)
        for (std::size_t h = 0; h < 3; ++h) {
            double sum = 0;
            for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e) sum += alpha[e * 3 + h];
            CHECK(sum == doctest::Approx(1.0));
        }
}

TEST_CASE("graph layer gradients (double), undirected and directed graphs")
{
    const Graph path = path_graph(), directed = directed_graph();
    SUBCASE("GraphConv")
    {
        Network<double, cpu, Input<4>, GraphConv<3>, Tanh, GraphConv<2>> net(1);
        CHECK_GRADIENTS(testing::check_gradients(net, path, node_features<decltype(net)>(5, 2)));
        CHECK_GRADIENTS(testing::check_gradients(net, directed, node_features<decltype(net)>(7, 3)));
    }
    SUBCASE("GraphConv without bias")
    {
        Network<double, cpu, Input<3>, GraphConv<4, false>> net(2);
        CHECK_GRADIENTS(testing::check_gradients(net, directed, node_features<decltype(net)>(7, 4)));
    }
    SUBCASE("SAGEConv")
    {
        Network<double, cpu, Input<4>, SAGEConv<3>, ELU, SAGEConv<2>> net(3);
        CHECK_GRADIENTS(testing::check_gradients(net, path, node_features<decltype(net)>(5, 5)));
        CHECK_GRADIENTS(testing::check_gradients(net, directed, node_features<decltype(net)>(7, 6)));
    }
    SUBCASE("GATConv, concatenated heads")
    {
        Network<double, cpu, Input<4>, GATConv<3, 2>, ELU, GATConv<2, 3, head_merge::mean>> net(4);
        CHECK_GRADIENTS(testing::check_gradients(net, path, node_features<decltype(net)>(5, 7)));
        CHECK_GRADIENTS(testing::check_gradients(net, directed, node_features<decltype(net)>(7, 8)));
    }
    SUBCASE("GATConv with attention dropout in training")
    {
        Network<double, cpu, Input<3>, GATConv<2, 2, head_merge::concat, 0.4>> net(5);
        net.train();
        CHECK_GRADIENTS(testing::check_gradients(net, directed, node_features<decltype(net)>(7, 9)));
    }
}

TEST_CASE("sparse node features give the dense result without densifying")
{
    const Graph g = directed_graph();
    random_engine rng(11);
    std::vector<triplet<double>> entries;
    for (std::size_t r = 0; r < 7; ++r)
        for (std::size_t c = 0; c < 9; ++c)
            if (rng.uniform() < 0.3) entries.push_back({r, c, rng.uniform(0, 1)});
    const auto sparse = sparse_matrix<double>::from_triplets(7, 9, entries);
    const tensor<double, 2> dense = sparse.to_dense();

    auto compare = [&](auto& net) {
        net.eval();
        net.zero_grad();
        const tensor<double, 2> y_dense = net.forward(g, dense);
        tensor<double, 2> dy(y_dense.shape());
        for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = std::sin(double(i));
        net.backward(dy);
        const std::vector<double> grads_dense(net.gradients().begin(), net.gradients().end());
        net.zero_grad();
        const tensor<double, 2> y_sparse = net.forward(g, sparse);
        net.backward(dy);
        for (std::size_t i = 0; i < y_dense.size(); ++i) CHECK(y_sparse.data()[i] == doctest::Approx(y_dense.data()[i]));
        for (std::size_t i = 0; i < grads_dense.size(); ++i)
            CHECK(net.gradients()[i] == doctest::Approx(grads_dense[i]));
    };
    SUBCASE("GraphConv after Dropout")
    {
        Network<double, cpu, Input<9>, Dropout<0.5>, GraphConv<4>, ReLU, GraphConv<3>> net(1);
        compare(net);
    }
    SUBCASE("SAGEConv")
    {
        Network<double, cpu, Input<9>, SAGEConv<4>> net(2);
        compare(net);
    }
    SUBCASE("GATConv")
    {
        Network<double, cpu, Input<9>, GATConv<3, 2>> net(3);
        compare(net);
    }
    SUBCASE("Dense")
    {
        Network<double, cpu, Input<9>, Dense<5>, Tanh, Dense<2>> net(4);
        compare(net);
    }
}

TEST_CASE("Dropout on sparse rows drops stored entries and scales the rest")
{
    // One stored 1 per row; the Dense weight's first row sums it, so y[r, 0] is the dropped value.
    Network<double, cpu, Input<9>, Dropout<0.5>, Dense<2, false>> net(6);
    set_parameters(net, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    std::vector<triplet<double>> entries;
    for (std::size_t r = 0; r < 40; ++r) entries.push_back({r, r % 9, 1.0});
    const auto x = sparse_matrix<double>::from_triplets(40, 9, entries);
    net.train();
    const auto& y = net.forward(x);
    std::size_t zeros = 0;
    for (std::size_t r = 0; r < 40; ++r) {
        CHECK((y(r, 0) == 0.0 || y(r, 0) == 2.0));
        zeros += y(r, 0) == 0.0;
    }
    CHECK(zeros > 5);
    CHECK(zeros < 35);
    net.eval();
    const auto& kept = net.forward(x);
    for (std::size_t r = 0; r < 40; ++r) CHECK(kept(r, 0) == 1.0);
}

TEST_CASE("graph input errors name the layer and the sizes")
{
    Network<double, cpu, Input<3>, GraphConv<2>> net;
    const Graph g = path_graph();
    try {
        net.forward(g, node_features<decltype(net)>(4, 1));
        FAIL("no error");
    } catch (const shape_error& e) {
        const std::string what = e.what();
        CHECK(what.find("layer 0 (GraphConv)") != std::string::npos);
        CHECK(what.find("5 nodes, got 4 rows") != std::string::npos);
    }
    CHECK_THROWS_AS(net.forward(node_features<decltype(net)>(5, 1)), std::logic_error);  // no graph
    CHECK_THROWS_AS(net.forward(g, node_features<Network<double, cpu, Input<4>, Dense<1>>>(5, 1)), shape_error);
    const auto wrong_width = sparse_matrix<double>::from_triplets(5, 4, {{0, 0, 1.0}});
    CHECK_THROWS_AS(net.forward(g, wrong_width), shape_error);
}

TEST_CASE("masked cross-entropy counts only the selected rows")
{
    tensor<double, 2> logits({3, 2});
    logits(0, 0) = 2;
    logits(0, 1) = 0;
    logits(1, 0) = 0;
    logits(1, 1) = 0;
    logits(2, 0) = -1;
    logits(2, 1) = 1;
    const std::vector<std::int32_t> labels{0, 1, 0};
    const std::vector<std::size_t> rows{0, 2};
    CrossEntropyLoss<double> loss;
    // Rows 0 and 2: -log softmax = log(1 + e^-2) and log(1 + e^2).
    CHECK(loss(logits, labels, rows) == doctest::Approx((std::log1p(std::exp(-2.0)) + std::log1p(std::exp(2.0))) / 2));
    CHECK(loss.gradient()(1, 0) == 0.0);
    CHECK(loss.gradient()(1, 1) == 0.0);
    CHECK(loss.gradient()(0, 1) == doctest::Approx(0.5 / (1 + std::exp(2.0))));
    CHECK(count_correct(logits, labels, rows) == 1);
    CHECK_THROWS_AS(loss(logits, labels, std::vector<std::size_t>{3}), value_error);
}

TEST_CASE("Cora loads with the Planetoid split")
{
    const auto cora = data::load_cora(LEPTON_DATA_DIR "/cora");
    CHECK(cora.graph.node_count() == 2708);
    CHECK(cora.graph.edge_count() == 2 * 5278);
    CHECK(cora.graph.is_symmetric());
    CHECK(cora.features.rows() == 2708);
    CHECK(cora.features.cols() == 1433);
    CHECK(cora.features.nonzeros() == 49216);
    CHECK(cora.class_names.size() == 7);
    CHECK(cora.class_names[3] == "Neural_Networks");
    CHECK(cora.train.size() == 140);
    CHECK(cora.validation.size() == 500);
    CHECK(cora.test.size() == 1000);
    CHECK(cora.test.front() == 1708);
    std::size_t neural = 0;
    for (auto l : cora.labels) neural += l == 3;
    CHECK(neural == 818);
}

TEST_CASE("a corrupt Cora file names the file and the line")
{
    const auto dir = std::filesystem::temp_directory_path() / "lepton_bad_cora";
    std::filesystem::create_directories(dir);
    for (const char* name : {"labels", "features", "edges", "train", "val", "test"})
        std::filesystem::copy_file(std::string(LEPTON_DATA_DIR "/cora/planetoid_cora.") + name + ".txt",
                                   dir / (std::string("planetoid_cora.") + name + ".txt"),
                                   std::filesystem::copy_options::overwrite_existing);
    {
        std::ofstream edges(dir / "planetoid_cora.edges.txt", std::ios::app);
        edges << "12\t2708\n";
    }
    try {
        data::load_cora(dir.string());
        FAIL("no error");
    } catch (const io_error& e) {
        const std::string what = e.what();
        CHECK(what.find("planetoid_cora.edges.txt' line 5280") != std::string::npos);
        CHECK(what.find("2708 is out of range") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
    CHECK_THROWS_AS(data::load_cora(dir.string()), io_error);  // missing files
}

TEST_CASE("a Cora features file that repeats a word is refused and leaves the labels as they were")
{
    const auto path = std::filesystem::temp_directory_path() / "lepton_cora_twice.features.txt";
    {
        std::ofstream out(path);
        out << "0\t1\t0 2\n1\t0\t3 1 3\n";  // node 1 lists word 3 twice
    }
    std::vector<std::int32_t> labels{7, 7};
    try {
        data::cora::read_features<float>(path.string(), 2, 4, 2, labels);
        FAIL("no error");
    } catch (const io_error& e) {
        const std::string what = e.what();
        CHECK(what.find("line 2") != std::string::npos);
        CHECK(what.find("word 3 appears twice") != std::string::npos);
    }
    CHECK(labels == std::vector<std::int32_t>{7, 7});
    {
        std::ofstream out(path);
        out << "0\t1\t0 2\n1\t0\t3 1\n";
    }
    const auto features = data::cora::read_features<float>(path.string(), 2, 4, 2, labels);
    CHECK(labels == std::vector<std::int32_t>{1, 0});
    CHECK(features.nonzeros() == 4);
    std::filesystem::remove(path);
}
