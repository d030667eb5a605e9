//===- Autodiff.cpp - Reverse-mode differentiation of a function ----------===//
//
// --graph-autodiff: one forward sweep marks the float values that depend
// on a chosen argument, one backward sweep those the loss depends on; the
// values in both are active. Then, from the loss (seeded with one), each
// op with an active operand and a result gradient is asked for its
// operands' gradients by its GradientOpInterface rule, walking the block
// in reverse; gradients arriving along several uses are added. The rules'
// ops go before the return, so the forward values they read are live
// there; what a rule built for an operand that needs no gradient is
// erased at the end.
//
//===----------------------------------------------------------------------===//

#include "dialects/graph/GraphOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/autodiff/Passes.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

namespace tessel::autodiff {

#define GEN_PASS_DEF_AUTODIFFPASS
#include "passes/autodiff/Passes.h.inc"

namespace {

using mlir::Value;

bool isFloatTensor(Value value) {
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
  return type && mlir::isa<mlir::FloatType>(type.getElementType());
}

std::string argumentName(mlir::func::FuncOp function, unsigned index) {
  if (auto name = function.getArgAttrOfType<mlir::StringAttr>(
          index, graph::GraphDialect::kNameAttr))
    return name.str();
  return "arg" + std::to_string(index);
}

Value splat(mlir::OpBuilder &builder, mlir::Location loc, double value,
            mlir::Type type) {
  auto tensorType = mlir::cast<mlir::RankedTensorType>(type);
  auto element = mlir::cast<mlir::FloatType>(tensorType.getElementType());
  return graph::ConstantOp::create(
      builder, loc,
      mlir::DenseElementsAttr::get(tensorType,
                                   mlir::FloatAttr::get(element, value)));
}

/// The chosen arguments `value` depends on, quoted and comma-separated
/// (for a diagnostic).
std::string reachingArguments(mlir::func::FuncOp function, Value value,
                              const llvm::DenseSet<Value> &chosen) {
  llvm::DenseSet<Value> seen;
  llvm::SmallVector<Value> stack = {value};
  llvm::SmallVector<unsigned> found;
  while (!stack.empty()) {
    Value v = stack.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(v)) {
      if (chosen.contains(v))
        found.push_back(argument.getArgNumber());
      continue;
    }
    llvm::append_range(stack, v.getDefiningOp()->getOperands());
  }
  llvm::sort(found);
  std::string names;
  for (unsigned index : found)
    names +=
        (names.empty() ? "'" : ", '") + argumentName(function, index) + "'";
  return names;
}

} // namespace

mlir::FailureOr<llvm::SmallVector<unsigned>>
selectArguments(mlir::func::FuncOp function, llvm::StringRef wrt) {
  llvm::SmallVector<unsigned> chosen;
  auto isFloatArgument = [&](unsigned i) {
    return isFloatTensor(function.getArgument(i));
  };
  if (wrt == "parameters" || wrt == "all") {
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (isFloatArgument(i) &&
          (wrt == "all" ||
           function.getArgAttr(i, graph::GraphDialect::kParameterAttr)))
        chosen.push_back(i);
    if (chosen.empty())
      return function.emitError()
             << "graph-autodiff: no argument to differentiate with respect to: "
             << (wrt == "all" ? "the function has no float argument"
                              : "the function has no float argument marked "
                                "graph.parameter (wrt=parameters); name "
                                "them with wrt=a,b or use wrt=all");
    return chosen;
  }
  llvm::SmallVector<llvm::StringRef> names;
  wrt.split(names, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (llvm::StringRef name : names) {
    name = name.trim();
    std::optional<unsigned> match;
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (argumentName(function, i) == name)
        match = i;
    if (!match)
      return function.emitError() << "graph-autodiff: wrt names '" << name
                                  << "', which is no argument of the function";
    if (!isFloatArgument(*match))
      return function.emitError()
             << "graph-autodiff: argument '" << name << "' has type "
             << function.getArgument(*match).getType()
             << ", which has no gradient (not a float tensor)";
    if (!llvm::is_contained(chosen, *match))
      chosen.push_back(*match);
  }
  if (chosen.empty())
    return function.emitError() << "graph-autodiff: wrt names no argument";
  return chosen;
}

mlir::LogicalResult appendGradients(mlir::func::FuncOp function,
                                    unsigned lossIndex,
                                    llvm::ArrayRef<unsigned> arguments) {
  if (!function.getBody().hasOneBlock())
    return function.emitError()
           << "graph-autodiff: the function must have one block";
  mlir::Block &block = function.getBody().front();
  auto ret = mlir::dyn_cast<mlir::func::ReturnOp>(block.getTerminator());
  if (!ret)
    return function.emitError()
           << "graph-autodiff: the function must end in func.return";
  if (lossIndex >= ret.getNumOperands())
    return function.emitError()
           << "graph-autodiff: loss=" << lossIndex << " but the function has "
           << ret.getNumOperands() << " results";
  Value loss = ret.getOperand(lossIndex);
  auto lossType = mlir::dyn_cast<mlir::RankedTensorType>(loss.getType());
  if (!isFloatTensor(loss) || lossType.getNumElements() != 1)
    return function.emitError()
           << "graph-autodiff: the loss (result " << lossIndex
           << ") must be a float tensor of one element, not " << loss.getType();

  // Activity: float values that depend on a chosen argument (varied) and
  // that the loss depends on (useful).
  llvm::DenseSet<Value> chosen, varied, useful = {loss};
  for (unsigned index : arguments) {
    chosen.insert(function.getArgument(index));
    varied.insert(function.getArgument(index));
  }
  for (mlir::Operation &op : block.without_terminator())
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return varied.contains(v); }))
      for (Value result : op.getResults())
        if (isFloatTensor(result))
          varied.insert(result);
  for (mlir::Operation &op : llvm::reverse(block.without_terminator()))
    if (llvm::any_of(op.getResults(),
                     [&](Value v) { return useful.contains(v); }))
      for (Value operand : op.getOperands())
        useful.insert(operand);
  auto active = [&](Value v) {
    return varied.contains(v) && useful.contains(v);
  };

  mlir::Operation *lastForward = ret->getPrevNode();
  mlir::OpBuilder builder(ret);
  llvm::DenseMap<Value, Value> gradients;
  auto accumulate = [&](Value value, Value gradient) {
    Value &sum = gradients[value];
    sum = sum ? graph::AddOp::create(builder, gradient.getLoc(), sum, gradient)
              : gradient;
  };
  if (active(loss))
    gradients[loss] = splat(builder, loss.getLoc(), 1.0, loss.getType());

  // Walk the forward ops only (the rules add ops after them).
  llvm::SmallVector<mlir::Operation *> forward;
  for (mlir::Operation &op : block.without_terminator())
    forward.push_back(&op);
  for (mlir::Operation *op : llvm::reverse(forward)) {
    llvm::SmallVector<Value> resultGradients;
    bool reached = false;
    for (Value result : op->getResults()) {
      resultGradients.push_back(gradients.lookup(result));
      reached |= static_cast<bool>(resultGradients.back());
    }
    if (!reached || llvm::none_of(op->getOperands(), active))
      continue;
    auto rule = mlir::dyn_cast<graph::GradientOpInterface>(op);
    if (!rule) {
      std::string through;
      for (Value operand : op->getOperands())
        if (active(operand)) {
          through = reachingArguments(function, operand, chosen);
          break;
        }
      return op->emitOpError()
             << "has no gradient rule, and the gradient of the loss with "
                "respect to "
             << through << " flows through it";
    }
    llvm::SmallVector<Value> operandGradients;
    if (mlir::failed(
            rule.buildGradients(builder, resultGradients, operandGradients)))
      return mlir::failure();
    if (operandGradients.size() != op->getNumOperands())
      return op->emitOpError()
             << "gradient rule gave " << operandGradients.size()
             << " gradients for " << op->getNumOperands()
             << " operands (a rule bug)";
    for (auto [operand, gradient] :
         llvm::zip(op->getOperands(), operandGradients)) {
      if (!gradient || !active(operand))
        continue;
      if (gradient.getType() != operand.getType())
        return op->emitOpError() << "gradient rule gave " << gradient.getType()
                                 << " for an operand of type "
                                 << operand.getType() << " (a rule bug)";
      accumulate(operand, gradient);
    }
  }

  // The gradients as results; zeros where the loss does not depend on the
  // argument.
  llvm::SmallVector<Value> results(ret.getOperands());
  llvm::SmallVector<mlir::Attribute> resultAttributes;
  for (unsigned i = 0; i < ret.getNumOperands(); ++i)
    resultAttributes.push_back(function.getResultAttrDict(i)
                                   ? function.getResultAttrDict(i)
                                   : builder.getDictionaryAttr({}));
  for (unsigned index : arguments) {
    Value argument = function.getArgument(index);
    Value gradient = gradients.lookup(argument);
    if (!gradient)
      gradient = splat(builder, argument.getLoc(), 0.0, argument.getType());
    results.push_back(gradient);
    resultAttributes.push_back(builder.getDictionaryAttr(builder.getNamedAttr(
        graph::GraphDialect::kNameAttr,
        builder.getStringAttr(argumentName(function, index) + ".grad"))));
  }
  ret->setOperands(results);
  function.setFunctionType(builder.getFunctionType(
      block.getArgumentTypes(), mlir::ValueRange(results).getTypes()));
  function.setAllResultAttrs(resultAttributes);

  // What rules built for operands that needed no gradient goes; the rest
  // keeps its forward op's location, tagged `backward` (so that a name a
  // plan gives a forward tensor still means that tensor alone).
  mlir::StringAttr backward = builder.getStringAttr("backward");
  for (mlir::Operation *op = ret->getPrevNode(); op && op != lastForward;) {
    mlir::Operation *previous = op->getPrevNode();
    if (mlir::isOpTriviallyDead(op))
      op->erase();
    else
      op->setLoc(
          mlir::FusedLoc::get(op->getContext(), {op->getLoc()}, backward));
    op = previous;
  }
  return mlir::success();
}

namespace {

struct AutodiffPass : impl::AutodiffPassBase<AutodiffPass> {
  using AutodiffPassBase::AutodiffPassBase;

  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    mlir::FailureOr<llvm::SmallVector<unsigned>> arguments =
        selectArguments(function, wrt);
    if (mlir::failed(arguments) ||
        mlir::failed(appendGradients(function, loss, *arguments)))
      signalPassFailure();
  }
};

} // namespace
} // namespace tessel::autodiff
