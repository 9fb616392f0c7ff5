// Node classification on the Cora citation graph with a two-layer GCN,
// Kipf & Welling's settings: row-normalised bag-of-words features, 16 hidden
// units, ReLU, dropout 0.5, Adam 0.01, weight decay 5e-4 on the first layer,
// 200 full-graph epochs. Usage: cora_gcn [--short] [seed] [data/cora directory]
// (--short: 20 epochs, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace lepton;

using GCN = Sequential<Input<1433>, Dropout<0.5>, GraphConv<16>, ReLU, Dropout<0.5>, GraphConv<7>>;
static_assert(GCN::parameter_count == 1433 * 16 + 16 + 16 * 7 + 7);

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const std::string dir = args.text(1, LEPTON_DATA_DIR "/cora");
    const int epochs = args.short_run() ? 20 : 200;
    auto cora = data::load_cora(dir);
    cora.features.row_normalize();
    std::printf("Cora: %zu nodes, %zu directed edges, %zu features (%zu non-zero), %zu classes\n",
                cora.graph.node_count(), cora.graph.edge_count(), cora.features.cols(), cora.features.nonzeros(),
                cora.class_names.size());

    GCN net(seed);
    std::printf("%s", GCN::summary().c_str());
    Adam optimizer(net, {.lr = 0.01});
    CrossEntropyLoss<float> loss;
    auto accuracy = [&](const std::vector<std::size_t>& nodes) {
        return double(count_correct(net.output(), cora.labels, nodes)) / double(nodes.size());
    };

    const auto start = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        net.train();
        net.zero_grad();
        const float train_loss = loss(net.forward(cora.graph, cora.features), cora.labels, cora.train);
        net.backward(loss.gradient());
        // L2 penalty 5e-4/2 * |theta|^2 on the first graph convolution only, as Kipf & Welling.
        net.for_each_parameter([](const std::string& name, float* w, float* g, const parameter_shape& shape) {
            if (!name.starts_with("1.")) return;
            std::size_t n = 1;
            for (auto d : shape) n *= d;
            for (std::size_t i = 0; i < n; ++i) g[i] += 5e-4f * w[i];
        });
        optimizer.step();
        if (epoch % 20 == 0 || epoch == 1) {
            net.eval();
            const float val_loss = loss(net.forward(cora.graph, cora.features), cora.labels, cora.validation);
            std::printf("epoch %3d  loss %.4f  train_accuracy %.4f  val_loss %.4f  val_accuracy %.4f\n", epoch,
                        train_loss, accuracy(cora.train), val_loss, accuracy(cora.validation));
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    net.eval();
    net.forward(cora.graph, cora.features);
    std::printf("%d epochs in %.2f s (%.2f ms per epoch)\n", epochs, seconds, 1e3 * seconds / epochs);
    std::printf("test_accuracy: %.4f\n", accuracy(cora.test));
}
