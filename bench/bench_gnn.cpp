// Graph networks on Cora (2,708 nodes, 13,264 adjacency entries with self
// loops, 49,216 non-zero features): a two-layer GCN forward and forward +
// backward, and a two-layer GAT forward + backward. With libtorch installed,
// the same GCN written as a careful libtorch user would (torch::mm with sparse
// COO adjacency and features; dense features as a second row) runs alongside.
#include "peak.hpp"

#include <lepton/lepton.hpp>

#ifdef LEPTON_BENCH_TORCH
#include <torch/torch.h>
#endif

using namespace lepton;
using lepton_bench::report_flops;

namespace {

const data::node_dataset<float>& cora()
{
    static const auto d = [] {
        auto c = data::load_cora(LEPTON_DATA_DIR "/cora");
        c.features.row_normalize();
        return c;
    }();
    return d;
}

constexpr std::size_t hidden = 16, classes = 7;

/// Multiply-adds x2 of the sparse and dense products of the GCN's forward pass.
double gcn_forward_flops()
{
    const double nnz_x = double(cora().features.nonzeros()), nnz_a = double(cora().graph.with_self_loops().edge_count());
    const double n = double(cora().graph.node_count());
    return 2 * (nnz_x * hidden + nnz_a * hidden + n * hidden * classes + nnz_a * classes);
}
/// Backward adds Â dY, both weight gradients and dH: about twice the forward without X's product.
double gcn_backward_flops()
{
    const double nnz_x = double(cora().features.nonzeros()), nnz_a = double(cora().graph.with_self_loops().edge_count());
    const double n = double(cora().graph.node_count());
    return 2 * (nnz_a * classes + 2 * n * hidden * classes + nnz_a * hidden + nnz_x * hidden);
}

using GCN = Sequential<Input<1433>, GraphConv<hidden>, ReLU, GraphConv<classes>>;
using GAT = Sequential<Input<1433>, GATConv<8, 8>, ELU, GATConv<classes, 1, head_merge::mean>>;

template <class Net>
void lepton_graph_net(benchmark::State& state, bool backward, double flops)
{
    set_num_threads(int(state.range(0)));
    Net net(1);
    net.eval();
    tensor<float, 2> dy({cora().graph.node_count(), classes});
    dy.fill(0.01f);
    for (auto _ : state) {
        net.forward(cora().graph, cora().features);
        if (backward) {
            net.zero_grad();
            net.backward(dy);
        }
        benchmark::DoNotOptimize(net.gradients().data());
    }
    report_flops(state, flops);
}

void BM_LeptonGCN_Forward(benchmark::State& s) { lepton_graph_net<GCN>(s, false, gcn_forward_flops()); }
void BM_LeptonGCN_ForwardBackward(benchmark::State& s)
{
    lepton_graph_net<GCN>(s, true, gcn_forward_flops() + gcn_backward_flops());
}
void BM_LeptonGAT_ForwardBackward(benchmark::State& s)
{
    // Dominated by the 1433 -> 64 projection of the sparse features and its weight gradient.
    const double nnz_x = double(cora().features.nonzeros()), nnz_a = double(cora().graph.with_self_loops().edge_count());
    lepton_graph_net<GAT>(s, true, 2 * 2 * (nnz_x * 64 + nnz_a * 64 * 2 + nnz_a * 7 * 2));
}

#ifdef LEPTON_BENCH_TORCH
torch::Tensor sparse_adjacency()
{
    const adjacency& a = cora().graph.with_self_loops();
    const auto w = cora().graph.gcn_weights<float>();
    auto index = torch::empty({2, std::int64_t(a.edge_count())}, torch::kLong);
    auto values = torch::empty({std::int64_t(a.edge_count())});
    for (std::size_t i = 0; i < a.node_count(); ++i)
        for (std::size_t e = a.offsets()[i]; e < a.offsets()[i + 1]; ++e) {
            index[0][std::int64_t(e)] = std::int64_t(i);
            index[1][std::int64_t(e)] = std::int64_t(a.sources()[e]);
            values[std::int64_t(e)] = w[e];
        }
    const auto n = std::int64_t(a.node_count());
    return torch::sparse_coo_tensor(index, values, {n, n}).coalesce();
}

torch::Tensor sparse_features()
{
    const auto& x = cora().features;
    auto index = torch::empty({2, std::int64_t(x.nonzeros())}, torch::kLong);
    auto values = torch::empty({std::int64_t(x.nonzeros())});
    for (std::size_t r = 0; r < x.rows(); ++r)
        for (std::size_t k = x.row_offsets()[r]; k < x.row_offsets()[r + 1]; ++k) {
            index[0][std::int64_t(k)] = std::int64_t(r);
            index[1][std::int64_t(k)] = std::int64_t(x.columns()[k]);
            values[std::int64_t(k)] = x.values()[k];
        }
    return torch::sparse_coo_tensor(index, values, {std::int64_t(x.rows()), std::int64_t(x.cols())}).coalesce();
}

void torch_gcn(benchmark::State& state, bool backward, bool dense_features)
{
    torch::set_num_threads(int(state.range(0)));
    const auto adj = sparse_adjacency();
    const auto x = dense_features ? sparse_features().to_dense() : sparse_features();
    auto w1 = (torch::rand({1433, std::int64_t(hidden)}) - 0.5).mul_(0.1).requires_grad_(backward);
    auto b1 = torch::zeros({std::int64_t(hidden)}).requires_grad_(backward);
    auto w2 = (torch::rand({std::int64_t(hidden), std::int64_t(classes)}) - 0.5).requires_grad_(backward);
    auto b2 = torch::zeros({std::int64_t(classes)}).requires_grad_(backward);
    const auto dy = torch::full({std::int64_t(cora().graph.node_count()), std::int64_t(classes)}, 0.01f);
    auto forward = [&] {
        auto h = torch::relu(torch::mm(adj, torch::mm(x, w1)) + b1);
        return torch::mm(adj, torch::mm(h, w2)) + b2;
    };
    for (auto _ : state) {
        if (backward) {
            for (auto* p : {&w1, &b1, &w2, &b2}) p->mutable_grad() = torch::Tensor();
            forward().backward(dy);
            benchmark::DoNotOptimize(w1.grad().data_ptr());
        } else {
            torch::NoGradGuard no_grad;
            benchmark::DoNotOptimize(forward().data_ptr());
        }
    }
    report_flops(state, gcn_forward_flops() + (backward ? gcn_backward_flops() : 0.0));
}

void BM_TorchGCN_Forward(benchmark::State& s) { torch_gcn(s, false, false); }
void BM_TorchGCN_ForwardBackward(benchmark::State& s) { torch_gcn(s, true, false); }
void BM_TorchGCN_DenseFeatures_Forward(benchmark::State& s) { torch_gcn(s, false, true); }
void BM_TorchGCN_DenseFeatures_ForwardBackward(benchmark::State& s) { torch_gcn(s, true, true); }
#endif

} // namespace

#define LEPTON_GNN_ARGS(name) BENCHMARK(name)->Arg(1)->Arg(2)->ArgName("threads")
LEPTON_GNN_ARGS(BM_LeptonGCN_Forward);
LEPTON_GNN_ARGS(BM_LeptonGCN_ForwardBackward);
LEPTON_GNN_ARGS(BM_LeptonGAT_ForwardBackward);
#ifdef LEPTON_BENCH_TORCH
LEPTON_GNN_ARGS(BM_TorchGCN_Forward);
LEPTON_GNN_ARGS(BM_TorchGCN_ForwardBackward);
LEPTON_GNN_ARGS(BM_TorchGCN_DenseFeatures_Forward);
LEPTON_GNN_ARGS(BM_TorchGCN_DenseFeatures_ForwardBackward);
#endif

LEPTON_BENCHMARK_MAIN()
