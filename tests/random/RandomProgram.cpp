//===- RandomProgram.cpp - Random sharded programs, checked ---------------===//

#include "tests/random/RandomProgram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/cost/CostModel.h"
#include "compiler/driver/Compiler.h"
#include "dialects/RegisterDialects.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "passes/autoshard/AutoShard.h"
#include "runtime/host/HostBackend.h"

namespace tessel::random {
namespace {

using Shape = std::vector<int64_t>;
/// Per dimension, the axes splitting it.
using Layout = std::vector<std::vector<std::string>>;

/// Generated programs stay small, so that hundreds run in seconds.
constexpr int64_t kMaxElements = 2048;

int64_t elements(const Shape &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<>());
}

std::string typeOf(const Shape &shape) {
  if (shape.empty())
    return "tensor<f32>";
  return absl::StrCat("tensor<", absl::StrJoin(shape, "x"), "xf32>");
}

/// `<@m, [{"x"}, {}]>`, the body of a sharding.
std::string layoutText(const Layout &layout) {
  std::vector<std::string> dims;
  for (const std::vector<std::string> &axes : layout) {
    std::vector<std::string> quoted;
    for (const std::string &axis : axes)
      quoted.push_back("\"" + axis + "\"");
    dims.push_back("{" + absl::StrJoin(quoted, ", ") + "}");
  }
  return "<@m, [" + absl::StrJoin(dims, ", ") + "]>";
}

struct Value {
  std::string name;
  Shape shape;
};

class Generator {
public:
  explicit Generator(uint64_t seed) : rng(seed) {}
  std::string run();

private:
  int64_t pick(int64_t n) {
    return std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
  }
  bool chance(double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng) < p;
  }
  template <typename T> const T &oneOf(const std::vector<T> &items) {
    return items[pick(static_cast<int64_t>(items.size()))];
  }
  int64_t randomSize() { return oneOf<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 12}); }
  Shape randomShape(int64_t rank) {
    Shape shape;
    for (int64_t d = 0; d < rank; ++d)
      shape.push_back(randomSize());
    return shape;
  }
  /// Some dimensions (not of size 1) split by axes not used twice, evenly
  /// or not.
  Layout randomLayout(const Shape &shape);
  std::string fresh() { return "%v" + std::to_string(next++); }
  const Value &anyValue() { return oneOf(values); }
  /// A new function argument of `shape` with a random layout.
  Value argument(const Shape &shape);
  /// A value of `shape`: an existing one, or a new argument.
  Value valueOfShape(const Shape &shape);
  void emit(const std::string &text, const Shape &shape,
            const std::string &name) {
    body << "  " << name << " = " << text << "\n";
    values.push_back({name, shape});
  }
  /// One random op on existing values; false if the one drawn did not fit.
  bool addOp();

  std::mt19937_64 rng;
  std::vector<std::pair<std::string, int64_t>> mesh;
  std::vector<Value> values;
  std::vector<std::string> arguments;
  std::ostringstream body;
  int next = 0;
};

Layout Generator::randomLayout(const Shape &shape) {
  Layout layout(shape.size());
  std::set<std::string> used;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1)
      continue;
    for (int more = 0; more < 2 && chance(more == 0 ? 0.5 : 0.2); ++more) {
      const auto &[axis, size] = oneOf(mesh);
      if (used.count(axis))
        break;
      used.insert(axis);
      layout[d].push_back(axis);
    }
  }
  return layout;
}

Value Generator::argument(const Shape &shape) {
  std::string name = "%a" + std::to_string(arguments.size());
  arguments.push_back(absl::StrCat(name, ": ", typeOf(shape),
                                   " {graph.name = \"", name.substr(1),
                                   "\", spmd.sharding = #spmd.sharding",
                                   layoutText(randomLayout(shape)), "}"));
  values.push_back({name, shape});
  return values.back();
}

Value Generator::valueOfShape(const Shape &shape) {
  std::vector<Value> alike;
  for (const Value &value : values)
    if (value.shape == shape)
      alike.push_back(value);
  if (!alike.empty() && chance(0.7))
    return oneOf(alike);
  return argument(shape);
}

bool Generator::addOp() {
  Value v = anyValue();
  const Shape &shape = v.shape;
  int64_t rank = shape.size();
  std::string name = fresh();
  std::string type = typeOf(shape);
  // Windows only fit [N, C, W] values: drawn more often when one is.
  switch (rank == 3 && chance(0.25) ? 12 : pick(14)) {
  case 0: { // Unary, or a shift: padding then holds garbage, not zeros.
    if (chance(0.3)) {
      std::string constant = fresh();
      body << "  " << constant << " = graph.constant dense<"
           << oneOf<std::string>({"1.0", "-0.5", "3.0"}) << "> : " << type
           << "\n";
      emit(absl::StrCat("graph.add ", v.name, ", ", constant, " : ", type),
           shape, name);
      return true;
    }
    std::string op = oneOf<std::string>(
        {"tanh", "neg", "abs", "relu", "sigmoid", "sin", "cos"});
    emit(absl::StrCat("graph.", op, " ", v.name, " : ", type), shape, name);
    return true;
  }
  case 1: { // Binary, on a value of the same shape.
    Value w = valueOfShape(shape);
    std::string op = oneOf<std::string>({"add", "sub", "mul", "max", "min"});
    emit(absl::StrCat("graph.", op, " ", v.name, ", ", w.name, " : ", type),
         shape, name);
    return true;
  }
  case 2: { // A new dimension.
    if (rank >= 3)
      return false;
    int64_t at = pick(rank + 1), size = randomSize();
    Shape result = shape;
    result.insert(result.begin() + at, size);
    if (elements(result) > kMaxElements)
      return false;
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < rank; ++d)
      dims.push_back(d < at ? d : d + 1);
    emit(absl::StrCat("graph.broadcast_in_dim ", v.name, ", dims = [",
                      absl::StrJoin(dims, ", "), "] : (", type, ") -> ",
                      typeOf(result)),
         result, name);
    return true;
  }
  case 3: { // Transpose.
    if (rank < 2)
      return false;
    std::vector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    Shape result;
    for (int64_t d : perm)
      result.push_back(shape[d]);
    emit(absl::StrCat("graph.transpose ", v.name, ", perm = [",
                      absl::StrJoin(perm, ", "), "] : (", type, ") -> ",
                      typeOf(result)),
         result, name);
    return true;
  }
  case 4: { // Reshape: merge two neighbours, or split one in two.
    Shape result = shape;
    if (rank >= 2 && chance(0.5)) {
      int64_t d = pick(rank - 1);
      result[d] *= result[d + 1];
      result.erase(result.begin() + d + 1);
    } else {
      if (rank == 0 || rank >= 3)
        return false;
      int64_t d = pick(rank);
      std::vector<int64_t> divisors;
      for (int64_t a = 2; a < shape[d]; ++a)
        if (shape[d] % a == 0)
          divisors.push_back(a);
      if (divisors.empty())
        return false;
      int64_t a = oneOf(divisors);
      result[d] = a;
      result.insert(result.begin() + d + 1, shape[d] / a);
    }
    emit(absl::StrCat("graph.reshape ", v.name, " : (", type, ") -> ",
                      typeOf(result)),
         result, name);
    return true;
  }
  case 5: { // Reduce one or two dimensions.
    if (rank == 0)
      return false;
    std::vector<int64_t> dims = {pick(rank)};
    if (rank >= 2 && chance(0.3)) {
      int64_t other = pick(rank);
      if (other != dims[0])
        dims.push_back(other);
      std::sort(dims.begin(), dims.end());
    }
    Shape result;
    for (int64_t d = 0; d < rank; ++d)
      if (!std::count(dims.begin(), dims.end(), d))
        result.push_back(shape[d]);
    std::string kind = oneOf<std::string>({"sum", "max", "min", "mean"});
    emit(absl::StrCat("graph.reduce ", kind, " ", v.name, ", dims = [",
                      absl::StrJoin(dims, ", "), "] : (", type, ") -> ",
                      typeOf(result)),
         result, name);
    return true;
  }
  case 6: { // Contract with a new weight, maybe over a batch dimension.
    if (rank == 0)
      return false;
    bool batched = rank >= 2 && chance(0.3);
    int64_t contract = batched ? 1 + pick(rank - 1) : pick(rank);
    int64_t n = randomSize();
    Shape weight = batched ? Shape{shape[0], shape[contract], n}
                           : Shape{shape[contract], n};
    Value w = argument(weight);
    Shape result;
    if (batched)
      result.push_back(shape[0]);
    for (int64_t d = batched ? 1 : 0; d < rank; ++d)
      if (d != contract)
        result.push_back(shape[d]);
    result.push_back(n);
    if (elements(result) > kMaxElements)
      return false;
    emit(absl::StrCat("graph.dot_general ", v.name, ", ", w.name,
                      ", batching_dims = [", batched ? "0" : "", "] x [",
                      batched ? "0" : "", "], contracting_dims = [", contract,
                      "] x [", batched ? 1 : 0, "] : (", type, ", ",
                      typeOf(weight), ") -> ", typeOf(result)),
         result, name);
    return true;
  }
  case 7: { // Softmax.
    if (rank == 0)
      return false;
    emit(absl::StrCat("graph.softmax ", v.name, ", dim = ", pick(rank), " : ",
                      type),
         shape, name);
    return true;
  }
  case 8: { // Slice one dimension.
    if (rank == 0)
      return false;
    int64_t d = pick(rank);
    if (shape[d] < 2)
      return false;
    int64_t start = pick(shape[d] - 1);
    int64_t limit = start + 1 + pick(shape[d] - start);
    std::vector<std::string> ranges;
    Shape result = shape;
    for (int64_t e = 0; e < rank; ++e)
      ranges.push_back(e == d ? absl::StrCat(start, ":", limit)
                              : absl::StrCat("0:", shape[e]));
    result[d] = limit - start;
    emit(absl::StrCat("graph.slice ", v.name, " [", absl::StrJoin(ranges, ", "),
                      "] : (", type, ") -> ", typeOf(result)),
         result, name);
    return true;
  }
  case 9: { // Concatenate with a value of the same shape.
    if (rank == 0)
      return false;
    int64_t d = pick(rank);
    Shape result = shape;
    result[d] *= 2;
    if (elements(result) > kMaxElements)
      return false;
    Value w = valueOfShape(shape);
    emit(absl::StrCat("graph.concatenate ", v.name, ", ", w.name, " dim = ", d,
                      " : (", type, ", ", type, ") -> ", typeOf(result)),
         result, name);
    return true;
  }
  case 10: { // Pad one dimension.
    if (rank == 0)
      return false;
    int64_t d = pick(rank);
    std::vector<int64_t> low(rank, 0), high(rank, 0), interior(rank, 0);
    low[d] = pick(3);
    high[d] = pick(3);
    Shape result = shape;
    result[d] += low[d] + high[d];
    if (elements(result) > kMaxElements)
      return false;
    emit(absl::StrCat(
             "graph.pad ", v.name,
             " {edge_padding_low = array<i64: ", absl::StrJoin(low, ", "),
             ">, edge_padding_high = array<i64: ", absl::StrJoin(high, ", "),
             ">, interior_padding = array<i64: ", absl::StrJoin(interior, ", "),
             ">} : (", type, ") -> ", typeOf(result)),
         result, name);
    return true;
  }
  case 12: { // A 1-D window over [N, C, W]: convolution or pool.
    if (rank != 3)
      return false;
    int64_t size = 1 + pick(3), stride = 1 + pick(2), dilation = 1 + pick(2);
    int64_t extent = (size - 1) * dilation + 1;
    int64_t low = pick(extent);
    // Mostly "same" padding, which halos serve; sometimes anything.
    int64_t high = chance(0.7) ? std::max<int64_t>(0, extent - stride - low)
                               : pick(extent);
    int64_t width = (shape[2] + low + high - extent) / stride + 1;
    if (shape[2] + low + high < extent || width < 1)
      return false;
    auto ints = [](int64_t value) {
      return absl::StrCat("array<i64: ", value, ">");
    };
    if (chance(0.6)) {
      // Split the window's dimension, so that it needs halos.
      Layout layout(3);
      layout[2].push_back(oneOf(mesh).first);
      std::string constrained = fresh();
      body << "  " << constrained << " = spmd.sharding_constraint " << v.name
           << " " << layoutText(layout) << " : " << type << "\n";
      v.name = constrained;
    }
    std::string window = absl::StrCat("window_strides = ", ints(stride),
                                      ", padding_low = ", ints(low),
                                      ", padding_high = ", ints(high));
    if (chance(0.5)) {
      // Groups: none, some, or one per channel (depthwise), each with a
      // multiplier of output channels.
      int64_t channels = shape[1], groups = 1;
      if (chance(0.5)) {
        std::vector<int64_t> divisors;
        for (int64_t g = 2; g <= channels; ++g)
          if (channels % g == 0)
            divisors.push_back(g);
        if (!divisors.empty())
          groups = oneOf(divisors);
      }
      int64_t features = groups * oneOf<int64_t>({1, 2, 4});
      if (groups > 1 && chance(0.5)) {
        // Split the channels, so that devices hold groups.
        Layout layout(3);
        layout[1].push_back(oneOf(mesh).first);
        std::string constrained = fresh();
        body << "  " << constrained << " = spmd.sharding_constraint " << v.name
             << " " << layoutText(layout) << " : " << type << "\n";
        v.name = constrained;
      }
      Shape kernel = {features, channels / groups, size};
      Value k = argument(kernel);
      Shape result = {shape[0], features, width};
      emit(absl::StrCat("graph.convolution ", v.name, ", ", k.name, " {",
                        window, ", lhs_dilation = ", ints(1),
                        ", rhs_dilation = ", ints(dilation),
                        ", feature_group_count = ", groups, "} : (", type, ", ",
                        typeOf(kernel), ") -> ", typeOf(result)),
           result, name);
      return true;
    }
    bool max = chance(0.5);
    Shape result = {shape[0], shape[1], width};
    emit(absl::StrCat("graph.", max ? "max_pool " : "avg_pool ", v.name,
                      " {window_dimensions = ", ints(size), ", ", window,
                      ", window_dilations = ", ints(dilation),
                      max ? "" : ", count_include_pad = ",
                      max ? "" : (chance(0.5) ? "true" : "false"), "} : (",
                      type, ") -> ", typeOf(result)),
         result, name);
    return true;
  }
  case 11: // A layout the value must take here: conflicts need reshards.
    emit(absl::StrCat("spmd.sharding_constraint ", v.name, " ",
                      layoutText(randomLayout(shape)), " : ", type),
         shape, name);
    return true;
  default: { // Reverse, rarely: a split dimension is not supported yet.
    if (rank == 0 || !chance(0.3))
      return false;
    emit(absl::StrCat("graph.reverse ", v.name, ", dims = [", pick(rank),
                      "] : ", type),
         shape, name);
    return true;
  }
  }
}

std::string Generator::run() {
  mesh = oneOf<std::vector<std::pair<std::string, int64_t>>>(
      {{{"x", 2}},
       {{"x", 3}},
       {{"x", 4}},
       {{"x", 8}},
       {{"x", 2}, {"y", 2}},
       {{"x", 2}, {"y", 3}},
       {{"x", 2}, {"y", 4}}});
  int64_t inputs = 1 + pick(2);
  for (int64_t i = 0; i < inputs; ++i)
    argument(randomShape(1 + pick(3)));
  int64_t ops = 4 + pick(9);
  for (int64_t made = 0, tries = 0; made < ops && tries < 200; ++tries)
    made += addOp();

  // The last value and up to two others are results, some with layouts.
  std::vector<Value> results = {values.back()};
  for (int k = 0; k < 2; ++k) {
    const Value &value = anyValue();
    if (std::none_of(results.begin(), results.end(),
                     [&](const Value &r) { return r.name == value.name; }))
      results.push_back(value);
  }
  std::vector<std::string> resultTypes, returned, types;
  for (auto [i, value] : llvm::enumerate(results)) {
    std::string attrs = absl::StrCat("graph.name = \"r", i, "\"");
    if (chance(0.3))
      absl::StrAppend(&attrs, ", spmd.sharding = #spmd.sharding",
                      layoutText(randomLayout(value.shape)));
    resultTypes.push_back(typeOf(value.shape) + " {" + attrs + "}");
    returned.push_back(value.name);
    types.push_back(typeOf(value.shape));
  }
  std::vector<std::string> axes;
  for (const auto &[axis, size] : mesh)
    axes.push_back(absl::StrCat("\"", axis, "\"=", size));
  std::ostringstream program;
  program << "spmd.mesh @m = <[" << absl::StrJoin(axes, ", ") << "]>\n"
          << "func.func @main(" << absl::StrJoin(arguments, ", ") << ") -> ("
          << absl::StrJoin(resultTypes, ", ") << ") {\n"
          << body.str() << "  return " << absl::StrJoin(returned, ", ") << " : "
          << absl::StrJoin(types, ", ") << "\n}\n";
  return program.str();
}

/// Whether two outputs agree: equal NaNs and infinities, else within
/// 1e-4 + 1e-3 |reference| (sums in another order).
std::string compare(const HostTensor &got, const HostTensor &want,
                    size_t index) {
  if (got.dims != want.dims || got.type != proto::F32)
    return absl::StrCat("output ", index, " has another shape or type");
  for (int64_t i = 0; i < want.numElements(); ++i) {
    float a = got.as<float>()[i], b = want.as<float>()[i];
    bool same = (std::isnan(a) && std::isnan(b)) || (std::isinf(b) && a == b) ||
                std::fabs(a - b) <= 1e-4 + 1e-3 * std::fabs(b);
    if (!same)
      return absl::StrCat("output ", index, " element ", i, " is ", a,
                          ", the single-device program says ", b);
  }
  return "";
}

} // namespace

std::string generateProgram(uint64_t seed) { return Generator(seed).run(); }

namespace {

CaseResult runProgramWith(const std::string &program, uint64_t seed,
                          mlir::MLIRContext &context, bool autoShard,
                          Backend *partitionedOn,
                          int64_t overlapCollectives = 0);

} // namespace

CaseResult runProgram(const std::string &program, uint64_t seed,
                      mlir::MLIRContext &context, Backend *partitionedOn,
                      int64_t overlapCollectives) {
  return runProgramWith(program, seed, context, /*autoShard=*/false,
                        partitionedOn, overlapCollectives);
}

CaseResult runProgramAuto(const std::string &program, uint64_t seed,
                          mlir::MLIRContext &context) {
  return runProgramWith(program, seed, context, /*autoShard=*/true, nullptr);
}

namespace {

/// Fast links inside groups of 4 devices, slower ones across.
const cost::CostModel &randomCostModel() {
  static const cost::CostModel model = [] {
    proto::DeviceProfile profile;
    profile.set_name("random");
    (*profile.mutable_device()->mutable_peak_flops())["f32"] = 1e12;
    profile.mutable_device()->set_memory_bandwidth(1e11);
    profile.mutable_device()->set_memory_bytes(int64_t(1) << 30);
    proto::DeviceProfile::Link *fast = profile.add_links();
    fast->set_name("fast");
    fast->set_devices(4);
    fast->set_latency(1e-6);
    fast->set_bandwidth(1e11);
    proto::DeviceProfile::Link *slow = profile.add_links();
    slow->set_name("slow");
    slow->set_latency(1e-5);
    slow->set_bandwidth(1e10);
    return *cost::CostModel::fromProfile(profile);
  }();
  return model;
}

CaseResult runProgramWith(const std::string &program, uint64_t seed,
                          mlir::MLIRContext &context, bool autoShard,
                          Backend *partitionedOn, int64_t overlapCollectives) {
  loadTesselDialects(context);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      absl::StrAppend(&diagnostics, d.str(), "; ");
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(program, &context);
  if (!module)
    return {CaseResult::Fail,
            "the generated program does not parse: " + diagnostics};
  if (autoShard) {
    autoshard::AutoShardOptions options;
    options.seconds = 0.2;
    if (mlir::failed(
            autoshard::autoShard(*module, randomCostModel(), options))) {
      bool unsatisfiable =
          diagnostics.find("no strategy gives the annotated sharding") !=
          std::string::npos;
      return {unsatisfiable ? CaseResult::Unsupported : CaseResult::Fail,
              "auto-shard: " + diagnostics};
    }
  }
  ExecutableOptions lowering;
  lowering.overlapCollectives = overlapCollectives;
  mlir::FailureOr<proto::Executable> executable =
      mlir::failed(propagateShardings(*module))
          ? mlir::FailureOr<proto::Executable>(mlir::failure())
          : compileToExecutable(*module, "", lowering);
  if (mlir::failed(executable)) {
    bool unsupported = diagnostics.find("not supported") != std::string::npos;
    return {unsupported ? CaseResult::Unsupported : CaseResult::Fail,
            "compile: " + diagnostics};
  }

  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::uniform_real_distribution<float> uniform(-2, 2);
  std::vector<HostTensor> inputs;
  for (const proto::TensorSpec &spec : executable->inputs()) {
    HostTensor input;
    input.type = spec.element_type();
    input.dims.assign(spec.dims().begin(), spec.dims().end());
    input.bytes.resize(std::max<int64_t>(1, input.numElements()) * 4);
    for (int64_t i = 0; i < input.numElements(); ++i)
      input.as<float>()[i] = uniform(rng);
    inputs.push_back(std::move(input));
  }
  HostBackend host(1);
  auto run = [&](const proto::Executable &which,
                 Backend &backend) -> absl::StatusOr<std::vector<HostTensor>> {
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        backend.load(which, "");
    if (!loaded.ok())
      return loaded.status();
    return (*loaded)->run(inputs);
  };
  absl::StatusOr<std::vector<HostTensor>> got =
      run(*executable, partitionedOn ? *partitionedOn : host);
  if (!got.ok())
    return {CaseResult::Fail,
            "partitioned run: " + std::string(got.status().message())};
  absl::StatusOr<std::vector<HostTensor>> want =
      run(executable->reference(), host);
  if (!want.ok())
    return {CaseResult::Fail,
            "single-device run: " + std::string(want.status().message())};
  for (size_t o = 0; o < want->size(); ++o)
    if (std::string mismatch = compare((*got)[o], (*want)[o], o);
        !mismatch.empty())
      return {CaseResult::Fail, mismatch};
  CaseResult pass{CaseResult::Pass, ""};
  for (const proto::Instruction &instruction :
       executable->programs(0).instructions())
    if (instruction.op() == "collective")
      ++pass.collectives[absl::AsciiStrToLower(
          proto::Collective::Kind_Name(instruction.collective().kind()))];
  return pass;
}

} // namespace
} // namespace tessel::random
