// Classification of a table read from a CSV file: the Breast Cancer Wisconsin
// (Diagnostic) data (data/breast_cancer: 569 tumours, 30 measurements named in
// a header row, a text diagnosis). The workflow a Keras or scikit-learn user
// expects: columns picked by name, class names turned into labels, a seeded
// split stratified by class (60% train, 20% validation, 20% test), features
// standardised with statistics of the training part only, and the model saved
// together with that scaler, so that whoever loads it preprocesses new rows
// the same way; training stops early when the validation loss stops
// improving, with the best epoch's weights. The saved file is loaded back into a new network and scaler,
// which must predict exactly what the trained ones do.
// Usage: tabular_classification [--short] [seed] [epochs] [output_dir] [csv_file]
// (--short: 5 epochs, as CI runs it)
#include <lepton/data/csv.hpp>
#include <lepton/io/checkpoint.hpp>
#include <lepton/lepton.hpp>

#include "example_args.hpp"

#include <cstdio>
#include <filesystem>

using namespace lepton;

int main(int argc, char** argv)
{
    const example_args args(argc, argv);
    const auto seed = std::uint64_t(args.integer(0, 1));
    const int epochs = int(args.integer(1, args.short_run() ? 5 : 100));
    const std::filesystem::path out_dir = args.text(2, "tabular_classification_output");
    const std::string csv_path = args.text(3, LEPTON_DATA_DIR "/breast_cancer/breast_cancer.csv");

    const data::Table table = data::read_csv(csv_path);
    const auto feature_columns = table.columns_except({"diagnosis"});
    const auto classes = table.categories("diagnosis");  // {"benign", "malignant"}
    data::Dataset<float, 1> all;
    all.features = table.numbers<float>(feature_columns);
    all.labels = table.labels("diagnosis", classes);
    std::printf("%s: %zu rows, %zu feature columns, classes '%s' and '%s'\n", csv_path.c_str(), table.rows(),
                feature_columns.size(), classes[0].c_str(), classes[1].c_str());

    auto [train, validation, test] = data::split(all, {.validation = 0.2, .test = 0.2, .seed = seed, .stratify = true});
    std::printf("stratified split: %zu train, %zu validation, %zu test\n", train.size(), validation.size(), test.size());
    const auto raw_test = test.features;  // as new rows would arrive
    data::Standardizer<float> scaler;
    scaler.fit(train.features);
    for (auto* part : {&train, &validation, &test}) scaler.transform(part->features);

    using MLP = Sequential<Input<30>, Dense<32>, ReLU, Dropout<0.2>, Dense<2>>;
    MLP net(seed);
    std::printf("%s", net.summary().c_str());
    Adam optimizer(net, {.lr = 1e-3, .weight_decay = 1e-4});
    CrossEntropyLoss<float> loss;
    auto accuracy = [] { return std::make_shared<metrics::accuracy<float>>(); };
    fit(net, optimizer, loss, train,
        {.epochs = epochs,
         .batch_size = 16,
         .seed = seed,
         .validation = &validation,
         .metrics = {accuracy()},
         // 114 validation rows: stop once their loss has not improved for 8 epochs, keeping the best weights.
         .callbacks = {std::make_shared<EarlyStopping<float>>(
             EarlyStoppingOptions{.patience = 8, .restore_best_weights = true})}});
    const double test_accuracy = evaluate(net, loss, test, {.metrics = {accuracy()}}).get("accuracy");

    // The network and the scaler it needs, in one safetensors file.
    std::filesystem::create_directories(out_dir);
    const auto model_path = out_dir / "breast_cancer_mlp.safetensors";
    io::save_weights(net, model_path, {{"features", scaler}});
    std::printf("wrote %s (the network's weights and the feature scaler's statistics)\n", model_path.c_str());

    MLP reloaded(seed + 1);
    data::Standardizer<float> reloaded_scaler;
    io::load_weights(reloaded, model_path, {{"features", reloaded_scaler}});
    auto new_rows = raw_test;
    reloaded_scaler.transform(new_rows);
    if (predict(reloaded, new_rows) != predict(net, test.features)) {
        std::printf("the reloaded network and scaler predict differently\n");
        return 1;
    }
    std::printf("reloaded from %s: the same %zu test predictions\n", model_path.c_str(), test.size());
    std::printf("\ntest_accuracy: %.4f\n", test_accuracy);
}
