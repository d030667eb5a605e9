//===- TrainingStep.cpp - A forward function made one training step -------===//

#include "compiler/train/TrainingStep.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dialects/graph/GraphBuilders.h"
#include "dialects/graph/GraphOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/autodiff/Passes.h"

namespace tessel::train {

namespace {
/// Gives the op computing `value` the name `name` (a NameLoc around its
/// location), so that plans can name it; not when the value is an
/// argument, one of several results, or already named.
void nameValue(mlir::Value value, const std::string &name) {
  mlir::Operation *op = value.getDefiningOp();
  if (!op || op->getNumResults() != 1 || mlir::isa<mlir::NameLoc>(op->getLoc()))
    return;
  op->setLoc(mlir::NameLoc::get(mlir::StringAttr::get(op->getContext(), name),
                                op->getLoc()));
}
} // namespace
namespace {

using mlir::RankedTensorType;
using mlir::Value;

RankedTensorType typeOf(Value value) {
  return mlir::cast<RankedTensorType>(value.getType());
}

std::string typeText(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

bool isFloatTensor(mlir::Type type) {
  auto tensor = mlir::dyn_cast<RankedTensorType>(type);
  return tensor && mlir::isa<mlir::FloatType>(tensor.getElementType());
}

std::string nameOf(mlir::DictionaryAttr attributes) {
  if (!attributes)
    return "";
  if (auto name =
          attributes.getAs<mlir::StringAttr>(graph::GraphDialect::kNameAttr))
    return name.str();
  return "";
}

/// Makes every batch norm of `function` normalize with its batch's
/// statistics (torch's training mode) and appends to `statistics` each
/// running statistic's next value (BatchNormSpec).
absl::Status useBatchStatistics(
    mlir::func::FuncOp function, const BatchNormSpec &spec,
    llvm::SmallVectorImpl<std::pair<unsigned, Value>> &statistics) {
  llvm::SmallVector<graph::BatchNormInferenceOp> norms;
  function.walk([&](graph::BatchNormInferenceOp op) { norms.push_back(op); });
  std::map<unsigned, std::string> owner;
  for (graph::BatchNormInferenceOp op : norms) {
    std::string where;
    if (auto name = mlir::dyn_cast<mlir::NameLoc>(op.getLoc())) {
      where = absl::StrCat("'", name.getName().str(), "'");
    } else {
      llvm::raw_string_ostream stream(where);
      op.getLoc().print(stream);
    }
    auto mean = mlir::dyn_cast<mlir::BlockArgument>(op.getMean());
    auto variance = mlir::dyn_cast<mlir::BlockArgument>(op.getVariance());
    for (mlir::BlockArgument statistic : {mean, variance}) {
      if (!statistic)
        return absl::InvalidArgumentError(absl::StrCat(
            "batch norm ", where,
            ": its statistics are computed by the model (an ONNX file "
            "exported in training mode normalizes with the batch's already), "
            "so there are no running statistics to update: export the model "
            "in eval mode and compile with --batch-norm train, or keep "
            "--batch-norm eval"));
      if (!function.getArgAttr(statistic.getArgNumber(),
                               graph::GraphDialect::kParameterAttr))
        return absl::InvalidArgumentError(
            absl::StrCat("batch norm ", where,
                         ": training mode updates its running "
                         "statistics, which must be weights of the model"));
      auto [it, fresh] = owner.emplace(statistic.getArgNumber(), where);
      if (!fresh)
        return absl::InvalidArgumentError(absl::StrCat(
            "batch norms ", it->second, " and ", where,
            " share the running statistic '",
            nameOf(function.getArgAttrDict(statistic.getArgNumber())),
            "' (torch.onnx.export merges equal weights: export the model "
            "with distinct running statistics)"));
    }
    mlir::OpBuilder builder(op);
    graph::GraphBuilder b(
        builder, mlir::FusedLoc::get(op.getContext(), {op.getLoc()},
                                     builder.getStringAttr("batch_norm")));
    Value x = op.getOperand();
    RankedTensorType type = typeOf(x);
    int64_t feature = op.getFeatureIndex();
    llvm::SmallVector<int64_t> dims;
    int64_t count = 1;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (d != feature) {
        dims.push_back(d);
        count *= type.getDimSize(d);
      }
    Value batchMean = b.reduce(graph::ReduceKind::Mean, x, dims);
    Value centered = b.sub(x, b.unreduce(batchMean, type, dims));
    Value batchVariance =
        b.reduce(graph::ReduceKind::Mean, b.mul(centered, centered), dims);
    Value normalized = graph::BatchNormInferenceOp::create(
        builder, op.getLoc(), type, x, op.getScale(), op.getOffset(), batchMean,
        batchVariance, op.getEpsilonAttr(), op.getFeatureIndexAttr());
    op.getResult().replaceAllUsesWith(normalized);
    double m = spec.momentum;
    double unbiased = count > 1 ? static_cast<double>(count) / (count - 1) : 1;
    statistics.emplace_back(mean.getArgNumber(),
                            b.add(b.scale(1 - m, mean), b.scale(m, batchMean)));
    statistics.emplace_back(
        variance.getArgNumber(),
        b.add(b.scale(1 - m, variance), b.scale(m * unbiased, batchVariance)));
    op.erase();
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<LossSpec> parseLoss(const std::string &text) {
  LossSpec spec;
  std::vector<std::string> kind = absl::StrSplit(text, absl::MaxSplits(':', 1));
  if (kind.size() == 1) {
    if (text.empty())
      return absl::InvalidArgumentError("--loss is empty");
    spec.kind = LossSpec::Kind::Output;
    spec.prediction = text;
    return spec;
  }
  std::vector<std::string> names = absl::StrSplit(kind[1], ',');
  if (kind[0] == "cross_entropy")
    spec.kind = LossSpec::Kind::CrossEntropy;
  else if (kind[0] == "mse")
    spec.kind = LossSpec::Kind::Mse;
  else
    return absl::InvalidArgumentError(
        absl::StrCat("unknown loss '", kind[0],
                     "' (cross_entropy:logits,labels, mse:y,target, or the "
                     "name of a scalar output)"));
  if (spec.kind == LossSpec::Kind::CrossEntropy && names.size() == 3) {
    std::vector<std::string> setting = absl::StrSplit(names[2], '=');
    if (setting.size() != 2 || setting[0] != "dim" ||
        !absl::SimpleAtoi(setting[1], &spec.classDim))
      return absl::InvalidArgumentError(absl::StrCat(
          "loss '", text, "': '", names[2], "' is not dim=<class dimension>"));
    names.pop_back();
  }
  if (names.size() != 2 || names[0].empty() || names[1].empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "loss '", text, "' needs two names: ", kind[0], ":prediction,target"));
  spec.prediction = names[0];
  spec.target = names[1];
  return spec;
}

absl::StatusOr<BatchNormSpec> parseBatchNorm(const std::string &text) {
  BatchNormSpec spec;
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  if (parts[0] == "eval" && parts.size() == 1)
    return spec;
  double momentum = 0;
  if (parts[0] != "train" ||
      (parts.size() == 2 && (!absl::ConsumePrefix(&parts[1], "momentum=") ||
                             !absl::SimpleAtod(parts[1], &momentum) ||
                             !(momentum > 0) || momentum > 1)))
    return absl::InvalidArgumentError(absl::StrCat(
        "batch norm '", text,
        "' is eval (running statistics) or train[:momentum=M] (batch "
        "statistics, running ones updated; 0 < M <= 1, 0.1 by default)"));
  spec.training = true;
  if (parts.size() == 2)
    spec.momentum = momentum;
  return spec;
}

absl::StatusOr<OptimizerSpec> parseOptimizer(const std::string &text) {
  OptimizerSpec spec;
  std::vector<std::string> kind = absl::StrSplit(text, absl::MaxSplits(':', 1));
  static const std::map<std::string, OptimizerSpec::Kind> kinds = {
      {"sgd", OptimizerSpec::Kind::Sgd},
      {"momentum", OptimizerSpec::Kind::Momentum},
      {"adam", OptimizerSpec::Kind::Adam},
      {"adamw", OptimizerSpec::Kind::AdamW}};
  auto found = kinds.find(kind[0]);
  if (found == kinds.end())
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown optimizer '", kind[0], "' (sgd, momentum, adam, adamw)"));
  spec.kind = found->second;
  if (spec.kind == OptimizerSpec::Kind::AdamW)
    spec.weightDecay = 0.01; // torch.optim.AdamW's default.
  bool adam = spec.kind == OptimizerSpec::Kind::Adam ||
              spec.kind == OptimizerSpec::Kind::AdamW;
  std::map<std::string, double *> fields = {
      {"lr", &spec.lr}, {"weight_decay", &spec.weightDecay}};
  if (spec.kind == OptimizerSpec::Kind::Momentum)
    fields["beta"] = &spec.beta;
  if (adam) {
    fields["beta1"] = &spec.beta1;
    fields["beta2"] = &spec.beta2;
    fields["eps"] = &spec.eps;
  }
  bool hasRate = false;
  if (kind.size() == 2)
    for (absl::string_view setting : absl::StrSplit(kind[1], ',')) {
      std::vector<std::string> pair = absl::StrSplit(setting, '=');
      double value = 0;
      auto field = pair.size() == 2 ? fields.find(pair[0]) : fields.end();
      if (field == fields.end()) {
        std::vector<std::string> known;
        for (const auto &[name, unused] : fields)
          known.push_back(name);
        return absl::InvalidArgumentError(absl::StrCat(
            "optimizer '", kind[0], "': '", setting, "' is not one of ",
            absl::StrJoin(known, ", "), " given as name=value"));
      }
      if (!absl::SimpleAtod(pair[1], &value) || !std::isfinite(value) ||
          value < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("optimizer '", kind[0], "': ", pair[0], "='", pair[1],
                         "' is not a number >= 0"));
      *field->second = value;
      hasRate |= pair[0] == "lr";
    }
  if (!hasRate || spec.lr <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer '", kind[0], "' needs a learning rate lr > 0, as ", kind[0],
        ":lr=0.1"));
  if (spec.beta >= 1 || spec.beta1 >= 1 || spec.beta2 >= 1)
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer '", kind[0], "': betas must be below 1"));
  return spec;
}

std::vector<std::string> stateNames(const OptimizerSpec &optimizer) {
  switch (optimizer.kind) {
  case OptimizerSpec::Kind::Sgd:
    return {};
  case OptimizerSpec::Kind::Momentum:
    return {"momentum_buffer"};
  case OptimizerSpec::Kind::Adam:
  case OptimizerSpec::Kind::AdamW:
    return {"exp_avg", "exp_avg_sq"};
  }
  return {};
}

absl::Status buildTrainingStep(mlir::func::FuncOp function,
                               const LossSpec &lossSpec,
                               const OptimizerSpec &optimizer,
                               const std::vector<std::string> &frozen,
                               const BatchNormSpec &batchNorm) {
  if (!function.getBody().hasOneBlock())
    return absl::InvalidArgumentError("the model's function has no body");
  mlir::Block &block = function.getBody().front();
  auto ret = mlir::cast<mlir::func::ReturnOp>(block.getTerminator());
  // Batch norm in training: the batch's statistics, and the running ones'
  // next values (argument, value) for the step's results.
  llvm::SmallVector<std::pair<unsigned, Value>> statistics;
  if (batchNorm.training)
    if (absl::Status status =
            useBatchStatistics(function, batchNorm, statistics);
        !status.ok())
      return status;
  auto argumentNamed = [&](const std::string &name) -> std::optional<unsigned> {
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (nameOf(function.getArgAttrDict(i)) == name)
        return i;
    return std::nullopt;
  };
  std::vector<std::string> outputs;
  std::optional<unsigned> predicted;
  for (unsigned i = 0; i < function.getNumResults(); ++i) {
    outputs.push_back(nameOf(function.getResultAttrDict(i)));
    if (outputs.back() == lossSpec.prediction)
      predicted = i;
  }
  if (!predicted)
    return absl::InvalidArgumentError(
        absl::StrCat("the loss reads '", lossSpec.prediction,
                     "', which is no output of the model (outputs: ",
                     absl::StrJoin(outputs, ", "), ")"));
  Value prediction = ret.getOperand(*predicted);
  if (!isFloatTensor(prediction.getType()))
    return absl::InvalidArgumentError(
        absl::StrCat("the loss reads '", lossSpec.prediction,
                     "', which is not a float tensor"));
  RankedTensorType predictionType = typeOf(prediction);

  // The class dimension of a cross entropy.
  int64_t classDim = lossSpec.classDim;
  if (lossSpec.kind == LossSpec::Kind::CrossEntropy) {
    if (classDim < 0)
      classDim += predictionType.getRank();
    if (classDim < 0 || classDim >= predictionType.getRank())
      return absl::InvalidArgumentError(absl::StrCat(
          "cross_entropy: dim=", lossSpec.classDim, " is not a dimension of '",
          lossSpec.prediction, "' (", typeText(predictionType), ")"));
  }

  // The loss's second input: the argument by that name, or a new one.
  Value target;
  mlir::OpBuilder argumentBuilder(function.getContext());
  // The attributes of an argument or result called `name`.
  auto named = [&](llvm::StringRef name) {
    return argumentBuilder.getDictionaryAttr(argumentBuilder.getNamedAttr(
        graph::GraphDialect::kNameAttr, argumentBuilder.getStringAttr(name)));
  };
  // A new last argument.
  auto addArgument = [&](mlir::Type type, llvm::StringRef name) {
    unsigned index = function.getNumArguments();
    (void)function.insertArgument(index, type, named(name), function.getLoc());
    return function.getArgument(index);
  };
  if (lossSpec.kind != LossSpec::Kind::Output) {
    mlir::Type wanted = predictionType;
    if (lossSpec.kind == LossSpec::Kind::CrossEntropy) {
      if (predictionType.getRank() < 2)
        return absl::InvalidArgumentError(
            absl::StrCat("cross_entropy: '", lossSpec.prediction, "' has type ",
                         typeText(predictionType),
                         "; logits must have a batch and a class dimension"));
      llvm::SmallVector<int64_t> shape(predictionType.getShape());
      shape.erase(shape.begin() + classDim);
      wanted = RankedTensorType::get(shape, argumentBuilder.getIntegerType(64));
    }
    if (std::optional<unsigned> index = argumentNamed(lossSpec.target)) {
      target = function.getArgument(*index);
      if (target.getType() != wanted)
        return absl::InvalidArgumentError(
            absl::StrCat("the loss's target '", lossSpec.target, "' has type ",
                         typeText(target.getType()), " but the loss needs ",
                         typeText(wanted)));
    } else {
      target = addArgument(wanted, lossSpec.target);
    }
  }

  // The step's own ops are located at what they derive from, tagged so
  // that no plan name (a NameLoc) refers to them.
  auto tagged = [&](mlir::Location loc, llvm::StringRef tag) {
    return mlir::FusedLoc::get(function.getContext(), {loc},
                               argumentBuilder.getStringAttr(tag));
  };
  mlir::OpBuilder opBuilder(ret);
  graph::GraphBuilder b(opBuilder, tagged(prediction.getLoc(), "loss"));
  Value loss;
  switch (lossSpec.kind) {
  case LossSpec::Kind::Output:
    if (predictionType.getNumElements() != 1)
      return absl::InvalidArgumentError(
          absl::StrCat("the loss output '", lossSpec.prediction, "' has type ",
                       typeText(predictionType), ", not one element"));
    loss = prediction;
    break;
  case LossSpec::Kind::Mse: {
    // torch.nn.MSELoss: the mean of the squared differences.
    Value difference = b.sub(prediction, target);
    loss = b.reduceAll(graph::ReduceKind::Mean, b.mul(difference, difference));
    break;
  }
  case LossSpec::Kind::CrossEntropy: {
    // torch.nn.CrossEntropyLoss with class indices: the mean over the
    // batch (and any further dimensions) of logsumexp(x) - x[label], the
    // label's logit picked by comparing an iota over the classes.
    llvm::SmallVector<int64_t, 1> classes = {classDim};
    Value shifted =
        b.sub(prediction,
              b.unreduce(b.reduce(graph::ReduceKind::Max, prediction, classes),
                         predictionType, classes));
    Value logSum = graph::LogOp::create(
        b.b, b.loc, b.sum(graph::ExpOp::create(b.b, b.loc, shifted), classes));
    Value mask = graph::classMask(b.b, b.loc, predictionType, target, classDim);
    Value picked = b.sum(b.where(mask, shifted), classes);
    loss = b.reduceAll(graph::ReduceKind::Mean, b.sub(logSum, picked));
    break;
  }
  }
  if (typeOf(loss).getRank() != 0)
    loss = graph::ReshapeOp::create(
        b.b, b.loc, RankedTensorType::get({}, typeOf(loss).getElementType()),
        loss);

  // Gradients of the loss alone, with respect to the parameters.
  ret->setOperands(loss);
  function.setFunctionType(argumentBuilder.getFunctionType(
      block.getArgumentTypes(), loss.getType()));
  mlir::Attribute lossName = named("loss");
  function.setAllResultAttrs(llvm::ArrayRef<mlir::Attribute>(lossName));
  mlir::FailureOr<llvm::SmallVector<unsigned>> parameters =
      autodiff::selectArguments(function, "parameters");
  if (mlir::failed(parameters))
    return absl::InvalidArgumentError("nothing to train");
  for (const std::string &name : frozen) {
    auto it = llvm::find_if(*parameters, [&](unsigned index) {
      return nameOf(function.getArgAttrDict(index)) == name;
    });
    if (it == parameters->end()) {
      std::vector<std::string> known;
      for (unsigned index : *parameters)
        known.push_back(nameOf(function.getArgAttrDict(index)));
      return absl::InvalidArgumentError(absl::StrCat(
          "frozen names '", name, "', which is no parameter of the model (",
          absl::StrJoin(known, ", "), ")"));
    }
    parameters->erase(it);
  }
  // Running statistics are updated, not trained.
  for (const auto &[argument, next] : statistics)
    llvm::erase(*parameters, argument);
  if (parameters->empty())
    return absl::InvalidArgumentError("every parameter is frozen");
  if (mlir::failed(autodiff::appendGradients(function, 0, *parameters)))
    return absl::InvalidArgumentError("the backward pass cannot be built");
  ret = mlir::cast<mlir::func::ReturnOp>(block.getTerminator());

  // The optimizer's state as arguments, then the update.
  std::vector<std::string> states = stateNames(optimizer);
  llvm::SmallVector<std::string> names;
  for (unsigned p : *parameters)
    names.push_back(nameOf(function.getArgAttrDict(p)));
  std::vector<std::vector<Value>> state(parameters->size());
  for (size_t i = 0; i < parameters->size(); ++i)
    for (const std::string &s : states) {
      state[i].push_back(
          addArgument(function.getArgument((*parameters)[i]).getType(),
                      names[i] + "." + s));
      // Stored as its parameter is (a fused weight viewed per part).
      if (mlir::Attribute stored = function.getArgAttr(
              (*parameters)[i], graph::GraphDialect::kStoredShapeAttr))
        function.setArgAttr(function.getNumArguments() - 1,
                            graph::GraphDialect::kStoredShapeAttr, stored);
    }
  bool adam = optimizer.kind == OptimizerSpec::Kind::Adam ||
              optimizer.kind == OptimizerSpec::Kind::AdamW;
  Value stepCount, newStepCount, rate, bias2Root;
  b.b.setInsertionPoint(ret);
  b.loc = tagged(function.getLoc(), "optimizer");
  if (adam) {
    mlir::Type element =
        typeOf(function.getArgument((*parameters)[0])).getElementType();
    RankedTensorType scalar = RankedTensorType::get({}, element);
    stepCount = addArgument(scalar, kStepCounter);
    newStepCount = b.add(stepCount, b.splat(1, scalar));
    auto correction = [&](double beta) {
      return b.sub(b.splat(1, scalar),
                   graph::PowOp::create(b.b, b.loc, b.splat(beta, scalar),
                                        newStepCount));
    };
    // torch: step_size = lr / (1 - beta1^t); the denominator is
    // sqrt(v) / sqrt(1 - beta2^t) + eps.
    rate = b.div(b.splat(optimizer.lr, scalar), correction(optimizer.beta1));
    bias2Root = graph::SqrtOp::create(b.b, b.loc, correction(optimizer.beta2));
  }

  llvm::SmallVector<Value> results = {ret.getOperand(0)};
  llvm::SmallVector<mlir::Attribute> resultNames = {
      function.getResultAttrDict(0)};
  llvm::SmallVector<Value> newState;
  llvm::SmallVector<std::string> newStateNames;
  for (size_t i = 0; i < parameters->size(); ++i) {
    Value p = function.getArgument((*parameters)[i]);
    Value g = ret.getOperand(1 + i);
    nameValue(g, names[i] + kGradientSuffix);
    b.loc = tagged(p.getLoc(), "optimizer");
    double lr = optimizer.lr, wd = optimizer.weightDecay;
    Value updated;
    switch (optimizer.kind) {
    case OptimizerSpec::Kind::Sgd:
      if (wd)
        g = b.add(g, b.scale(wd, p));
      updated = b.sub(p, b.scale(lr, g));
      break;
    case OptimizerSpec::Kind::Momentum: {
      if (wd)
        g = b.add(g, b.scale(wd, p));
      Value buffer = b.add(b.scale(optimizer.beta, state[i][0]), g);
      updated = b.sub(p, b.scale(lr, buffer));
      newState.push_back(buffer);
      newStateNames.push_back(names[i] + "." + states[0]);
      break;
    }
    case OptimizerSpec::Kind::Adam:
    case OptimizerSpec::Kind::AdamW: {
      Value base = p;
      if (optimizer.kind == OptimizerSpec::Kind::AdamW)
        base = b.scale(1 - lr * wd, p);
      else if (wd)
        g = b.add(g, b.scale(wd, p));
      Value m = b.add(b.scale(optimizer.beta1, state[i][0]),
                      b.scale(1 - optimizer.beta1, g));
      Value v = b.add(b.scale(optimizer.beta2, state[i][1]),
                      b.scale(1 - optimizer.beta2, b.mul(g, g)));
      Value denominator = b.add(b.div(graph::SqrtOp::create(b.b, b.loc, v),
                                      b.spread(bias2Root, typeOf(v))),
                                b.splatLike(optimizer.eps, v));
      updated =
          b.sub(base, b.mul(b.spread(rate, typeOf(m)), b.div(m, denominator)));
      newState.append({m, v});
      newStateNames.append(
          {names[i] + "." + states[0], names[i] + "." + states[1]});
      break;
    }
    }
    nameValue(updated, names[i] + kUpdatedSuffix);
    results.push_back(updated);
    resultNames.push_back(named(names[i]));
  }
  if (adam) {
    newState.push_back(newStepCount);
    newStateNames.push_back(kStepCounter);
  }
  for (auto [value, name] : llvm::zip(newState, newStateNames)) {
    results.push_back(value);
    resultNames.push_back(named(name));
  }
  for (const auto &[argument, next] : statistics) {
    results.push_back(next);
    resultNames.push_back(named(nameOf(function.getArgAttrDict(argument))));
  }
  ret->setOperands(results);
  function.setFunctionType(argumentBuilder.getFunctionType(
      block.getArgumentTypes(), mlir::ValueRange(results).getTypes()));
  function.setAllResultAttrs(resultNames);

  // Forward ops only the dropped outputs read.
  for (mlir::Operation *op = ret->getPrevNode(); op;) {
    mlir::Operation *previous = op->getPrevNode();
    if (mlir::isOpTriviallyDead(op))
      op->erase();
    op = previous;
  }
  if (mlir::failed(mlir::verify(function)))
    return absl::InvalidArgumentError(
        "the training step does not verify (a bug)");
  return absl::OkStatus();
}

} // namespace tessel::train
