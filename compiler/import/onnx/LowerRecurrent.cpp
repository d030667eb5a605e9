//===- LowerRecurrent.cpp - ONNX RNN, GRU and LSTM, unrolled --------------===//
//
// The recurrent ops over their static sequence length, unrolled into graph
// ops: the input projection of every step as one contraction, then per
// step the recurrent contraction, the gates and the state update. Every
// piece has a sharding rule, so the batch splits (and the hidden features,
// as contractions do); the sequence runs in order on every device.
// sequence_lens masks steps past a sequence's end (the state holds, the
// output is zero), in either direction.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

enum class Cell { Rnn, Gru, Lstm };

/// One of ONNX's recurrent activations, with its alpha and beta.
struct Activation {
  std::string name;
  double alpha = 0, beta = 0;
};

class Unroller {
public:
  Unroller(NodeLowering &node, Cell cell) : node(node), cell(cell) {}

  LogicalResult run();

private:
  Value slice(Value value, llvm::ArrayRef<int64_t> start,
              llvm::ArrayRef<int64_t> limit) {
    llvm::SmallVector<int64_t> steps(start.size(), 1);
    return *node.create<graph::SliceOp>(value, start, limit, steps);
  }
  /// Rows [from, from + count) of a [rows, cols] matrix, or elements of a
  /// vector.
  Value rows(Value value, int64_t from, int64_t count) {
    mlir::RankedTensorType type = typeOf(value);
    llvm::SmallVector<int64_t> start(type.getRank(), 0);
    llvm::SmallVector<int64_t> limit(type.getShape());
    start[0] = from;
    limit[0] = from + count;
    return slice(value, start, limit);
  }
  /// Columns [from, from + count) of a [batch, n] tensor.
  Value columns(Value value, int64_t from, int64_t count) {
    mlir::RankedTensorType type = typeOf(value);
    return slice(value, {0, from}, {type.getDimSize(0), from + count});
  }
  /// a x b^T for a [batch, k] and b [n, k].
  Value timesTransposed(Value a, Value b) {
    return *node.create<graph::DotGeneralOp>(
        a, b, llvm::ArrayRef<int64_t>{}, llvm::ArrayRef<int64_t>{},
        llvm::ArrayRef<int64_t>{typeOf(a).getRank() - 1},
        llvm::ArrayRef<int64_t>{1});
  }
  /// A [n] vector broadcast over the batch: [batch, n].
  Value overBatch(Value vector) {
    return graph::BroadcastInDimOp::create(
        node.builder, node.loc,
        mlir::RankedTensorType::get({batch, typeOf(vector).getDimSize(0)},
                                    element),
        vector, llvm::ArrayRef<int64_t>{1});
  }
  /// clip, then the activation.
  Value activate(const Activation &f, Value x);

  NodeLowering &node;
  Cell cell;
  int64_t steps = 0, batch = 0, hidden = 0, gates = 1;
  double clip = 0;
  mlir::Type element;
  std::vector<Activation> activations;
};

Value Unroller::activate(const Activation &f, Value x) {
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  if (clip > 0)
    x = graph::ClampOp::create(b, loc, x, b.getF64FloatAttr(-clip),
                               b.getF64FloatAttr(clip));
  const std::string &name = f.name;
  if (name == "Sigmoid")
    return graph::SigmoidOp::create(b, loc, x);
  if (name == "Tanh")
    return graph::TanhOp::create(b, loc, x);
  if (name == "Relu")
    return graph::ReluOp::create(b, loc, x);
  if (name == "Affine")
    return node.add(node.mul(x, node.splatLike(f.alpha, x)), node.splatLike(f.beta, x));
  if (name == "ScaledTanh")
    return node.mul(node.splatLike(f.alpha, x),
               graph::TanhOp::create(b, loc, node.mul(x, node.splatLike(f.beta, x))));
  if (name == "HardSigmoid")
    return graph::ClampOp::create(
        b, loc, node.add(node.mul(x, node.splatLike(f.alpha, x)), node.splatLike(f.beta, x)),
        b.getF64FloatAttr(0), b.getF64FloatAttr(1));
  if (name == "LeakyRelu") {
    Value positive = graph::CompareOp::create(
        b, loc, graph::ComparisonDirection::GT, x, node.splatLike(0, x));
    return graph::SelectOp::create(b, loc, positive, x,
                                   node.mul(x, node.splatLike(f.alpha, x)));
  }
  if (name == "Softsign")
    return graph::DivOp::create(
        b, loc, x, node.add(node.splatLike(1, x), graph::AbsOp::create(b, loc, x)));
  // Softplus: log(1 + e^x).
  return graph::LogOp::create(
      b, loc, node.add(node.splatLike(1, x), graph::ExpOp::create(b, loc, x)));
}

LogicalResult Unroller::run() {
  const NodeAttributes &attributes = node.attributes;
  gates = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
  FailureOr<Value> x = node.input(0), w = node.input(1), r = node.input(2);
  if (failed(x) || failed(w) || failed(r))
    return failure();
  mlir::RankedTensorType xType = typeOf(*x);
  element = xType.getElementType();
  if (!mlir::isa<mlir::FloatType>(element))
    return node.fail("X must be floating-point");
  if (xType.getRank() != 3)
    return node.fail("X must be [seq_length, batch_size, input_size] (or "
                     "batch first with layout = 1)");
  int64_t layout = attributes.getInt("layout", 0);
  Value input = *x;
  if (layout == 1) {
    input = *node.create<graph::TransposeOp>(input,
                                              llvm::ArrayRef<int64_t>{1, 0, 2});
  } else if (layout != 0) {
    return node.fail("layout must be 0 or 1");
  }
  steps = typeOf(input).getDimSize(0);
  batch = typeOf(input).getDimSize(1);
  int64_t inputSize = typeOf(input).getDimSize(2);
  hidden = attributes.getInt("hidden_size", 0);
  if (hidden < 1)
    return node.fail("hidden_size must be given and positive");
  std::string direction = attributes.getString("direction", "forward");
  int64_t directions = direction == "bidirectional" ? 2 : 1;
  if (direction != "forward" && direction != "reverse" &&
      direction != "bidirectional")
    return node.fail("direction '" + direction +
                     "' is not forward, reverse or bidirectional");
  clip = attributes.getFloat("clip", 0.0f);
  if (attributes.getInt("input_forget", 0) != 0)
    return node.fail("input_forget is not supported");
  bool linearBeforeReset = attributes.getInt("linear_before_reset", 0) != 0;
  int64_t g = gates * hidden;
  auto expect = [&](Value value, Shape shape, const char *name) {
    if (Shape(typeOf(value).getShape()) == shape &&
        typeOf(value).getElementType() == element)
      return success();
    std::string dims;
    for (int64_t d : shape)
      dims += (dims.empty() ? "" : "x") + std::to_string(d);
    return node.fail(std::string(name) + " must be " + dims +
                     " of X's element type");
  };
  if (failed(expect(*w, {directions, g, inputSize}, "W")) ||
      failed(expect(*r, {directions, g, hidden}, "R")))
    return failure();
  auto optional = [&](size_t i, Shape shape,
                      const char *name) -> FailureOr<Value> {
    if (!node.hasInput(i))
      return Value();
    FailureOr<Value> value = node.input(i);
    if (failed(value) || failed(expect(*value, shape, name)))
      return failure();
    return *value;
  };
  Shape stateShape = layout == 1 ? Shape{batch, directions, hidden}
                                 : Shape{directions, batch, hidden};
  FailureOr<Value> bias = optional(3, {directions, 2 * g}, "B");
  FailureOr<Value> initialH = optional(5, stateShape, "initial_h");
  FailureOr<Value> initialC =
      cell == Cell::Lstm ? optional(6, stateShape, "initial_c")
                         : FailureOr<Value>(Value());
  FailureOr<Value> peepholes =
      cell == Cell::Lstm ? optional(7, {directions, 3 * hidden}, "P")
                         : FailureOr<Value>(Value());
  if (failed(bias) || failed(initialH) || failed(initialC) ||
      failed(peepholes))
    return failure();
  Value lengths;
  if (node.hasInput(4)) {
    FailureOr<Value> given = node.input(4);
    if (failed(given))
      return failure();
    lengths = *given;
    mlir::RankedTensorType type = typeOf(lengths);
    if (type.getRank() != 1 || type.getDimSize(0) != batch ||
        !mlir::isa<mlir::IntegerType>(type.getElementType()))
      return node.fail("sequence_lens must be a vector of batch_size "
                       "integers");
  }
  if (layout == 1) {
    auto toLayout0 = [&](Value state) {
      return state ? *node.create<graph::TransposeOp>(
                         state, llvm::ArrayRef<int64_t>{1, 0, 2})
                   : state;
    };
    *initialH = toLayout0(*initialH);
    *initialC = toLayout0(*initialC);
  }

  // Activations: the cell's defaults, or the attribute's, per direction.
  std::vector<std::string> defaults =
      cell == Cell::Rnn   ? std::vector<std::string>{"Tanh"}
      : cell == Cell::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                          : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  size_t perDirection = defaults.size();
  std::vector<std::string> names = attributes.getStrings("activations");
  if (names.empty())
    for (int64_t d = 0; d < directions; ++d)
      names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() != perDirection * directions)
    return node.fail("activations must name " +
                     std::to_string(perDirection * directions) + " functions");
  std::vector<float> alphas =
      attributes.getFloats("activation_alpha").value_or(std::vector<float>{});
  std::vector<float> betas =
      attributes.getFloats("activation_beta").value_or(std::vector<float>{});
  size_t nextAlpha = 0, nextBeta = 0;
  for (const std::string &name : names) {
    static const std::map<std::string, std::pair<double, double>> known = {
        {"Sigmoid", {0, 0}},      {"Tanh", {0, 0}},
        {"Relu", {0, 0}},         {"Softsign", {0, 0}},
        {"Softplus", {0, 0}},     {"Affine", {1.0, 0.0}},
        {"LeakyRelu", {0.01, 0}}, {"ScaledTanh", {1.0, 1.0}},
        {"HardSigmoid", {0.2, 0.5}}};
    auto found = known.find(name);
    if (found == known.end())
      return node.fail("activation '" + name + "' is not supported");
    Activation activation{name, found->second.first, found->second.second};
    bool hasAlpha = name == "Affine" || name == "LeakyRelu" ||
                    name == "ScaledTanh" || name == "HardSigmoid";
    bool hasBeta =
        name == "Affine" || name == "ScaledTanh" || name == "HardSigmoid";
    if (hasAlpha && nextAlpha < alphas.size())
      activation.alpha = alphas[nextAlpha++];
    if (hasBeta && nextBeta < betas.size())
      activation.beta = betas[nextBeta++];
    activations.push_back(activation);
  }

  Shape yShape = {steps, 1, batch, hidden};
  llvm::SmallVector<Value> ys, finalH, finalC;
  for (int64_t dir = 0; dir < directions; ++dir) {
    bool reverse = direction == "reverse" || dir == 1;
    const Activation *f = &activations[dir * perDirection];
    Value wd = node.reshape(rows(*w, dir, 1), {g, inputSize});
    Value rd = node.reshape(rows(*r, dir, 1), {g, hidden});
    Value wb, rb;
    if (*bias) {
      Value bd = node.reshape(rows(*bias, dir, 1), {2 * g});
      wb = rows(bd, 0, g);
      rb = rows(bd, g, g);
    }
    // Every step's input projection at once: [steps, batch, g].
    Value projected = timesTransposed(input, wd);
    if (wb)
      projected = node.add(projected,
                      graph::BroadcastInDimOp::create(
                          node.builder, node.loc, typeOf(projected), wb,
                          llvm::ArrayRef<int64_t>{2}));
    auto state = [&](Value initial) {
      return initial ? node.reshape(rows(initial, dir, 1), {batch, hidden})
                     : node.splat(0, element, {batch, hidden});
    };
    Value h = state(*initialH), c = state(*initialC);
    Value pi, po, pf;
    if (*peepholes) {
      Value pd = node.reshape(rows(*peepholes, dir, 1), {3 * hidden});
      pi = overBatch(rows(pd, 0, hidden));
      po = overBatch(rows(pd, hidden, hidden));
      pf = overBatch(rows(pd, 2 * hidden, hidden));
    }
    std::vector<Value> outputs(steps);
    for (int64_t k = 0; k < steps; ++k) {
      int64_t t = reverse ? steps - 1 - k : k;
      Value xt = node.reshape(
          slice(projected, {t, 0, 0}, {t + 1, batch, g}), {batch, g});
      Value hr = timesTransposed(h, rd);
      if (rb)
        hr = node.add(hr, overBatch(rb));
      auto gate = [&](Value all, int64_t i) {
        return columns(all, i * hidden, hidden);
      };
      Value newH, newC;
      if (cell == Cell::Rnn) {
        newH = activate(f[0], node.add(xt, hr));
      } else if (cell == Cell::Gru) {
        // Gates z, r, h.
        Value z = activate(f[0], node.add(gate(xt, 0), gate(hr, 0)));
        Value reset = activate(f[0], node.add(gate(xt, 1), gate(hr, 1)));
        Value candidate;
        if (linearBeforeReset) {
          candidate = activate(f[1], node.add(gate(xt, 2), node.mul(reset, gate(hr, 2))));
        } else {
          Value rh = timesTransposed(node.mul(reset, h), rows(rd, 2 * hidden, hidden));
          if (rb)
            rh = node.add(rh, overBatch(rows(rb, 2 * hidden, hidden)));
          candidate = activate(f[1], node.add(gate(xt, 2), rh));
        }
        newH = node.add(node.mul(node.sub(node.splatLike(1, z), z), candidate), node.mul(z, h));
      } else {
        // Gates i, o, f, c.
        Value iPre = node.add(gate(xt, 0), gate(hr, 0));
        Value fPre = node.add(gate(xt, 2), gate(hr, 2));
        if (pi) {
          iPre = node.add(iPre, node.mul(pi, c));
          fPre = node.add(fPre, node.mul(pf, c));
        }
        Value i = activate(f[0], iPre), fg = activate(f[0], fPre);
        Value cand = activate(f[1], node.add(gate(xt, 3), gate(hr, 3)));
        newC = node.add(node.mul(fg, c), node.mul(i, cand));
        Value oPre = node.add(gate(xt, 1), gate(hr, 1));
        if (po)
          oPre = node.add(oPre, node.mul(po, newC));
        newH = node.mul(activate(f[0], oPre), activate(f[2], newC));
      }
      Value out = newH;
      if (lengths) {
        // Steps past a sequence's end: the state holds, the output is 0.
        mlir::RankedTensorType lengthType = typeOf(lengths);
        Value running = graph::CompareOp::create(
            node.builder, node.loc, graph::ComparisonDirection::LT,
            node.splat(static_cast<double>(t), lengthType.getElementType(),
                       lengthType.getShape()),
            lengths);
        Value mask = graph::BroadcastInDimOp::create(
            node.builder, node.loc,
            mlir::RankedTensorType::get({batch, hidden},
                                        node.builder.getI1Type()),
            running, llvm::ArrayRef<int64_t>{0});
        out = graph::SelectOp::create(node.builder, node.loc, mask, newH,
                                      node.splatLike(0, newH));
        newH = graph::SelectOp::create(node.builder, node.loc, mask, newH, h);
        if (newC)
          newC =
              graph::SelectOp::create(node.builder, node.loc, mask, newC, c);
      }
      h = newH;
      if (newC)
        c = newC;
      outputs[t] = node.reshape(out, {1, 1, batch, hidden});
    }
    ys.push_back(steps == 1 ? outputs[0]
                            : *node.create<graph::ConcatenateOp>(
                                  mlir::ValueRange(outputs), 0));
    finalH.push_back(node.reshape(h, {1, batch, hidden}));
    if (cell == Cell::Lstm)
      finalC.push_back(node.reshape(c, {1, batch, hidden}));
  }
  auto join = [&](llvm::ArrayRef<Value> parts, int64_t dim) {
    return parts.size() == 1
               ? parts[0]
               : *node.create<graph::ConcatenateOp>(mlir::ValueRange(parts),
                                                    dim);
  };
  Value y = join(ys, 1), yh = join(finalH, 0);
  Value yc = cell == Cell::Lstm ? join(finalC, 0) : Value();
  if (layout == 1) {
    y = *node.create<graph::TransposeOp>(y,
                                          llvm::ArrayRef<int64_t>{2, 0, 1, 3});
    yh = *node.create<graph::TransposeOp>(yh,
                                           llvm::ArrayRef<int64_t>{1, 0, 2});
    if (yc)
      yc = *node.create<graph::TransposeOp>(yc,
                                             llvm::ArrayRef<int64_t>{1, 0, 2});
  }
  if (node.numOutputs() > 0)
    node.setOutput(0, y);
  if (node.numOutputs() > 1)
    node.setOutput(1, yh);
  if (node.numOutputs() > 2 && yc)
    node.setOutput(2, yc);
  return success();
}

template <Cell cell> LogicalResult lowerRecurrent(NodeLowering &node) {
  return Unroller(node, cell).run();
}

} // namespace

void registerRecurrentLowerings(LoweringTable &table) {
  table["RNN"] = lowerRecurrent<Cell::Rnn>;
  table["GRU"] = lowerRecurrent<Cell::Gru>;
  table["LSTM"] = lowerRecurrent<Cell::Lstm>;
}

} // namespace tessel::onnx_import
