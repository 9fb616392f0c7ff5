#pragma once
/// \file
/// Everything Lepton offers on the CPU, except the parts with a compile-time
/// cost of their own, which have their own headers: checkpoints
/// (`io/checkpoint.hpp`, `train/callbacks/model_checkpoint.hpp`: nlohmann_json)
/// and pictures (`io/plot.hpp`, `train/callbacks/history_plot.hpp`: stb_image_write),
/// and the one that needs a library linked: CSV tables (`data/csv.hpp`: libcsv).

#include "version.hpp"

#include "core/backend.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "tensor/tensor.hpp"

#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/im2col.hpp"
#include "kernels/parallel.hpp"
#include "kernels/spmm.hpp"

#include "graph/graph.hpp"
#include "graph/sparse_matrix.hpp"

#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/bidirectional.hpp"
#include "layers/conv2d.hpp"
#include "layers/conv_transpose2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/embedding.hpp"
#include "layers/flatten.hpp"
#include "layers/gat_conv.hpp"
#include "layers/geometry.hpp"
#include "layers/graph_conv.hpp"
#include "layers/gru.hpp"
#include "layers/input.hpp"
#include "layers/lstm.hpp"
#include "layers/pooling.hpp"
#include "layers/sage_conv.hpp"
#include "layers/softmax.hpp"
#include "layers/time_distributed.hpp"
#include "layers/upsample.hpp"

#include "layers/init.hpp"
#include "nn/block.hpp"
#include "nn/named.hpp"
#include "nn/network.hpp"
#include "nn/parallel.hpp"
#include "nn/residual.hpp"
#include "nn/transfer.hpp"

#include "losses/bce_with_logits.hpp"
#include "losses/cross_entropy.hpp"
#include "losses/huber.hpp"
#include "losses/l1.hpp"
#include "losses/mse.hpp"
#include "losses/reduction.hpp"

#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/schedules.hpp"
#include "optim/sgd.hpp"

#include "data/cora.hpp"
#include "data/dataset.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "data/scaling.hpp"
#include "data/split.hpp"
#include "data/subset.hpp"

#include "metrics/accuracy.hpp"
#include "metrics/classification_report.hpp"
#include "metrics/confusion_matrix.hpp"
#include "metrics/macro_f1.hpp"
#include "metrics/metric.hpp"
#include "metrics/multilabel.hpp"
#include "metrics/regression.hpp"


#include "train/callback.hpp"
#include "train/callbacks/csv_logger.hpp"
#include "train/callbacks/early_stopping.hpp"
#include "train/callbacks/lr_scheduler.hpp"
#include "train/callbacks/terminate_on_nan.hpp"
#include "train/fit.hpp"
#include "train/history.hpp"
#include "train/loop.hpp"
