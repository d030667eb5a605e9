//===- TrainingStep.h - A forward function made one training step -*- C++
//-*-===//
//
// Loss, backward and optimizer update appended to a forward function, the
// step `tessel-compile --train` compiles (docs/design/training.md).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TRAIN_TRAININGSTEP_H
#define TESSEL_COMPILER_TRAIN_TRAININGSTEP_H

#include <string>

#include "absl/status/statusor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace tessel::train {

/// `cross_entropy:logits,labels[,dim=D]` (classes along D, 1 by default
/// as torch's; -1 for a language model's [batch, sequence, vocabulary]),
/// `mse:y,target`, or the name of a scalar result the model computes as
/// its loss.
struct LossSpec {
  enum class Kind { CrossEntropy, Mse, Output };
  Kind kind = Kind::Output;
  /// The result the loss reads (the loss itself for Output).
  std::string prediction;
  /// The loss's second input: a new argument of the step unless the
  /// function has an argument by that name.
  std::string target;
  /// CrossEntropy: the class dimension (negative: from the end).
  int64_t classDim = 1;
};

/// `sgd:lr=0.1[,weight_decay=..]`, `momentum:lr=0.1,beta=0.9`,
/// `adam:lr=1e-3[,beta1,beta2,eps,weight_decay]`, `adamw:...` with
/// PyTorch's formulas (torch.optim.SGD, Adam, AdamW).
struct OptimizerSpec {
  enum class Kind { Sgd, Momentum, Adam, AdamW };
  Kind kind = Kind::Sgd;
  double lr = 0, beta = 0.9, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
         weightDecay = 0;
};

/// Batch normalization in the step: `eval` (the default) normalizes with
/// the running statistics, which stay as they are (torch's model.eval();
/// name them --frozen); `train[:momentum=0.1]` with the batch's, as
/// torch's model.train() does: biased variance in the normalization, and
/// the running statistics updated as outputs of the step,
/// `(1 - momentum) running + momentum batch` (the variance unbiased).
struct BatchNormSpec {
  bool training = false;
  double momentum = 0.1;
};

absl::StatusOr<LossSpec> parseLoss(const std::string &text);
absl::StatusOr<BatchNormSpec> parseBatchNorm(const std::string &text);
absl::StatusOr<OptimizerSpec> parseOptimizer(const std::string &text);

/// The optimizer state each parameter carries, by PyTorch's names
/// (`momentum_buffer`; `exp_avg`, `exp_avg_sq`).
std::vector<std::string> stateNames(const OptimizerSpec &optimizer);

/// What the step names for plans, after each trained parameter:
/// `<parameter>.grad`, its gradient, and `<parameter>.updated`, its next
/// value before the result lays it out as the parameter.
inline constexpr const char *kGradientSuffix = ".grad";
inline constexpr const char *kUpdatedSuffix = ".updated";

/// The name of the step counter argument of Adam and AdamW.
inline constexpr const char *kStepCounter = "optimizer.step";

/// Rewrites `function` into one training step of its graph.parameter
/// arguments but those named in `frozen` (buffers such as batch-norm
/// statistics or attention masks, which ONNX files hold as weights too).
/// Arguments: the function's, then the loss's target if new, then per parameter
/// its optimizer state `<parameter>.<state>` (zeros before the first step),
/// then `optimizer.step` (Adam, AdamW: a float scalar, the steps taken).
/// Results: the loss, then the updated parameters, then the updated state,
/// then (batch norm in training) the updated running statistics, each
/// named as the argument it replaces at the next step. Errors name the spec's
/// tensor; where the IR is at fault (an op without a gradient rule) the
/// diagnostics go to the context's handler, as a pass's do, and the status
/// says which stage failed.
absl::Status buildTrainingStep(mlir::func::FuncOp function,
                               const LossSpec &loss,
                               const OptimizerSpec &optimizer,
                               const std::vector<std::string> &frozen = {},
                               const BatchNormSpec &batchNorm = {});

} // namespace tessel::train

#endif // TESSEL_COMPILER_TRAIN_TRAININGSTEP_H
