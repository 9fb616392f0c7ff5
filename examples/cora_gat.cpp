// Node classification on Cora with a graph attention network, the settings of
// Velickovic et al.: 8 heads of 8 features with ELU, one output head,
// dropout 0.6 on features and attention, Adam 0.005 with weight decay 5e-4,
// 200 full-graph epochs. Usage: cora_gat [--short] [seed] [data/cora directory]
// (--short: 20 epochs, as CI runs it)
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace lepton;

using GAT = Sequential<Input<1433>, Dropout<0.6>, GATConv<8, 8, head_merge::concat, 0.6>, ELU, Dropout<0.6>,
                       GATConv<7, 1, head_merge::mean, 0.6>>;

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const std::string dir = args.text(1, LEPTON_DATA_DIR "/cora");
    const int epochs = args.short_run() ? 20 : 200;
    auto cora = data::load_cora(dir);
    cora.features.row_normalize();

    GAT net(seed);
    std::printf("%s", GAT::summary().c_str());
    Adam optimizer(net, {.lr = 0.005, .weight_decay = 5e-4});
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
        optimizer.step();
        if (epoch % 20 == 0 || epoch == 1) {
            net.eval();
            const float val_loss = loss(net.forward(cora.graph, cora.features), cora.labels, cora.validation);
            std::printf("epoch %3d  loss %.4f  val_loss %.4f  val_accuracy %.4f\n", epoch, train_loss, val_loss,
                        accuracy(cora.validation));
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    net.eval();
    net.forward(cora.graph, cora.features);
    std::printf("%d epochs in %.2f s (%.2f ms per epoch)\n", epochs, seconds, 1e3 * seconds / epochs);
    std::printf("test_accuracy: %.4f\n", accuracy(cora.test));
}
