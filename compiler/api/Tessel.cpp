//===- Tessel.cpp - Tessel as a library -----------------------------------===//

#include "compiler/api/Tessel.h"
#include "compiler/train/TrainingStep.h"
#include "compiler/train/ZeroPlan.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/cost/CostModel.h"
#include "compiler/cost/ProgramCost.h"
#include "compiler/driver/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/plan/Plan.h"
#include "compiler/report/PlanReport.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "runtime/Names.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

namespace tessel {

ModelSource ModelSource::file(std::string path) {
  return {Kind::File, std::move(path), {}};
}
ModelSource ModelSource::onnx(std::string bytes, std::string name) {
  return {Kind::OnnxBytes, std::move(name), std::move(bytes)};
}
ModelSource ModelSource::mlir(std::string text, std::string name) {
  return {Kind::MlirText, std::move(name), std::move(text)};
}

ModelSource ModelSource::mlir(mlir::ModuleOp module, std::string name) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, mlir::OpPrintingFlags().enableDebugInfo());
  os.flush();
  return {Kind::MlirText, std::move(name), std::move(text)};
}

std::optional<int64_t> parseByteSize(const std::string &given) {
  llvm::StringRef text(given);
  int64_t unit = 1;
  for (auto [suffix, factor] :
       {std::pair<llvm::StringRef, int64_t>{"GiB", int64_t(1) << 30},
        {"MiB", int64_t(1) << 20},
        {"KiB", int64_t(1) << 10},
        {"GB", 1000000000},
        {"MB", 1000000},
        {"B", 1}})
    if (text.consume_back(suffix)) {
      unit = factor;
      break;
    }
  double value;
  if (text.trim().getAsDouble(value) || value <= 0)
    return std::nullopt;
  return static_cast<int64_t>(value * static_cast<double>(unit));
}

namespace {

/// "file: error: message" (ONNX locations have no line).
std::string formatDiagnostic(mlir::Diagnostic &diagnostic) {
  std::string where;
  if (auto file =
          mlir::dyn_cast<mlir::FileLineColLoc>(diagnostic.getLocation())) {
    where = file.getFilename().str();
    if (file.getLine() > 0)
      where += ":" + std::to_string(file.getLine()) + ":" +
               std::to_string(file.getColumn());
  } else {
    llvm::raw_string_ostream os(where);
    diagnostic.getLocation().print(os);
  }
  const char *severity =
      diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error ? "error"
      : diagnostic.getSeverity() == mlir::DiagnosticSeverity::Warning
          ? "warning"
          : "note";
  return where + ": " + severity + ": " + diagnostic.str() + "\n";
}

} // namespace

struct Model::State {
  // The context outlives everything built on it (members are destroyed in
  // reverse order).
  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream{diagnostics};
  std::optional<mlir::SourceMgrDiagnosticHandler> sourceHandler;
  std::optional<mlir::ScopedDiagnosticHandler> plainHandler;
  LoadedModel model;
  std::string parameterFile;
  std::optional<autoshard::AutoShardReport> report;
  report::ModuleLayouts layouts;
  bool hasMesh = false;
  ShardingOptions::RingAttention ringAttention =
      ShardingOptions::RingAttention::Auto;
  /// What Auto's ring is chosen against: the memory budget (0: the
  /// profile's memory).
  int64_t memoryBudget = 0;
  std::string deviceProfile = "host";
  int overlapCollectives = 0;

  /// A failed step: its diagnostics, or `fallback` if it left none.
  absl::Status failure(const std::string &fallback = "compilation failed") {
    diagnosticStream.flush();
    std::string text = std::move(diagnostics);
    diagnostics.clear();
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    absl::Status status =
        absl::InvalidArgumentError(text.empty() ? fallback : text);
    if (!text.empty())
      status.SetPayload(kDiagnosticsPayload, absl::Cord("1"));
    return status;
  }
};

Model::Model() : state(std::make_unique<State>()) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>>
Model::load(const ModelSource &source, const CompileOptions &options) {
  std::unique_ptr<Model> model(new Model());
  State &s = *model->state;
  bool mlirInput = source.kind == ModelSource::Kind::MlirText ||
                   (source.kind == ModelSource::Kind::File &&
                    modelFormatOf(source.name) == ModelFormat::Mlir);
  // MLIR input gets source-line diagnostics; ONNX input plain ones.
  if (mlirInput)
    s.sourceHandler.emplace(s.sourceMgr, &s.context, s.diagnosticStream);
  else
    s.plainHandler.emplace(&s.context, [&s](mlir::Diagnostic &diagnostic) {
      s.diagnosticStream << formatDiagnostic(diagnostic);
      return mlir::success();
    });
  OnnxImportOptions importOptions;
  importOptions.inputShapes = options.inputShapes;
  mlir::FailureOr<LoadedModel> loaded =
      source.kind == ModelSource::Kind::File
          ? loadModel(source.name, s.context, s.sourceMgr, importOptions)
          : loadModelFromMemory(source.kind == ModelSource::Kind::OnnxBytes,
                                source.contents, source.name, s.context,
                                s.sourceMgr, importOptions);
  if (failed(loaded))
    return s.failure("cannot load " + source.name);
  s.model = std::move(*loaded);
  if (!options.parameterFile.empty() && s.model.imported)
    return absl::InvalidArgumentError(
        "--params is for MLIR input: an ONNX model carries its weights");
  s.parameterFile = options.parameterFile;
  s.hasMesh = !s.model.module->getOps<spmd::MeshOp>().empty();
  return model;
}

mlir::ModuleOp Model::module() { return *state->model.module; }
bool Model::hasMesh() const { return state->hasMesh; }
bool Model::hasWeights() const { return state->model.imported.has_value(); }

const report::ModuleLayouts &Model::layouts() const { return state->layouts; }

const std::optional<autoshard::AutoShardReport> &
Model::autoShardReport() const {
  return state->report;
}

std::string Model::takeDiagnostics() {
  state->diagnosticStream.flush();
  std::string text = std::move(state->diagnostics);
  state->diagnostics.clear();
  return text;
}

absl::Status Model::writeParameters(const std::string &path) const {
  if (!state->model.imported)
    return absl::FailedPreconditionError(
        "--params-out needs an ONNX model; MLIR input has no weights (its "
        "parameters come with --params)");
  return state->model.imported->writeParameterFile(path);
}

proto::Plan Model::plan() { return extractPlan(module()); }

static std::map<std::string, std::string> notesOf(const LoadedModel &model) {
  return model.imported ? planNotes(model.imported->readers)
                        : std::map<std::string, std::string>();
}

std::string Model::planText() {
  return formatPlan(plan(), notesOf(state->model));
}

absl::Status Model::train(const std::string &lossText,
                          const std::string &optimizerText,
                          const std::vector<std::string> &frozen,
                          const std::string &batchNormText) {
  absl::StatusOr<train::LossSpec> loss = train::parseLoss(lossText);
  if (!loss.ok())
    return loss.status();
  absl::StatusOr<train::BatchNormSpec> batchNorm =
      train::parseBatchNorm(batchNormText);
  if (!batchNorm.ok())
    return batchNorm.status();
  absl::StatusOr<train::OptimizerSpec> optimizer =
      train::parseOptimizer(optimizerText);
  if (!optimizer.ok())
    return optimizer.status();
  auto functions = llvm::to_vector(module().getOps<mlir::func::FuncOp>());
  if (functions.size() != 1)
    return absl::InvalidArgumentError(
        "a training step is made of a model with one function");
  // Diagnostics on the IR (an op without a gradient rule) are this
  // model's, like any step's; spec errors are the status alone.
  state->diagnosticStream.flush();
  size_t before = state->diagnostics.size();
  // Fused q/k/v weights viewed per part before the backward pass reads
  // them too (see shard()).
  if (failed(viewFusedWeights(module())))
    return state->failure("cannot view the fused weights");
  absl::Status built = train::buildTrainingStep(functions[0], *loss, *optimizer,
                                                frozen, *batchNorm);
  state->diagnosticStream.flush();
  if (!built.ok() && state->diagnostics.size() > before)
    return state->failure(std::string(built.message()));
  return built;
}

namespace {

/// --auto on a training step whose plan sets no ZeRO stage: the plan
/// --auto finds without one and with each stage over each mesh axis, each
/// on a copy of `module` within an equal share of the search's time; sets
/// the cheapest that fits the memory budget as `plan`'s stage (none unless
/// one is cheaper). ZeRO as a whole is a point the search would not reach
/// by moving one tensor at a time. Returns report lines comparing them
/// ("" for a module that trains nothing, or on a mesh without axes).
std::string chooseZero(mlir::ModuleOp module, const proto::PlanMesh &mesh,
                       const TensorReaders &readers,
                       const cost::CostModel &model,
                       const ShardingOptions &options, proto::Plan &plan) {
  auto functions = llvm::to_vector(module.getOps<mlir::func::FuncOp>());
  if (functions.size() != 1 || mesh.axes_size() == 0 ||
      train::updatedArguments(functions.front()).parameters.empty())
    return "";
  std::vector<proto::Zero> choices(1); // None first.
  for (const proto::PlanMesh::Axis &axis : mesh.axes())
    for (int stage = 1; stage <= 3; ++stage) {
      proto::Zero &zero = choices.emplace_back();
      zero.set_stage(stage);
      zero.set_axis(axis.name());
    }
  autoshard::AutoShardOptions autoOptions;
  autoOptions.seconds =
      std::max(0.25, options.autoSeconds / static_cast<double>(choices.size()));
  autoOptions.memoryBudget = options.memoryBudget;
  std::string lines = "  ZeRO as a whole, the rest --auto's (modeled step, "
                      "peak per device):\n";
  int chosen = -1;
  double chosenSeconds = 0;
  for (auto [k, zero] : llvm::enumerate(choices)) {
    std::string label =
        zero.stage()
            ? absl::StrFormat("stage %d over %s", zero.stage(), zero.axis())
            : std::string("none");
    mlir::OwningOpRef<mlir::ModuleOp> copy(module.clone());
    proto::Plan candidate = plan;
    std::string outcome;
    {
      // A candidate that fails says why in its line, not as an error.
      mlir::ScopedDiagnosticHandler quiet(
          module.getContext(),
          [](mlir::Diagnostic &) { return mlir::success(); });
      if (zero.stage()) {
        *candidate.mutable_zero() = zero;
        if (absl::Status status = train::expandZero(
                *copy->getOps<mlir::func::FuncOp>().begin(), mesh, candidate);
            !status.ok())
          outcome = std::string(status.message());
      }
      mlir::FailureOr<autoshard::AutoShardReport> report = mlir::failure();
      if (outcome.empty() && failed(applyPlan(*copy, candidate, mesh, readers)))
        outcome = "its entries do not apply";
      else if (outcome.empty() &&
               failed(report = tessel::autoShard(*copy, model, autoOptions)))
        outcome = "no plan fits the memory budget";
      if (outcome.empty()) {
        double seconds = report->computeSeconds + report->communicationSeconds;
        outcome =
            absl::StrFormat("%.3f ms  %.1f MiB", seconds * 1e3,
                            static_cast<double>(report->peakBytes) / (1 << 20));
        if (chosen < 0 || seconds < chosenSeconds) {
          chosen = static_cast<int>(k);
          chosenSeconds = seconds;
        }
      }
    }
    absl::StrAppendFormat(&lines, "    %-16s %s\n", label, outcome);
  }
  if (chosen > 0)
    *plan.mutable_zero() = choices[chosen];
  return lines + absl::StrFormat("  chosen: %s\n",
                                 chosen < 0 ? std::string("none (nothing fits)")
                                 : chosen == 0
                                     ? std::string("none")
                                     : absl::StrFormat("stage %d over %s",
                                                       choices[chosen].stage(),
                                                       choices[chosen].axis()));
}

} // namespace

absl::Status Model::shard(const ShardingOptions &options) {
  State &s = *state;
  mlir::ModuleOp module = this->module();
  // Before any sharding: fused q/k/v weights viewed per part, so a split of
  // their features gives each device whole heads (train() has viewed a
  // training step's already, before its backward pass read them again).
  if (failed(viewFusedWeights(module)))
    return s.failure("cannot view the fused weights");
  s.ringAttention = options.ringAttention;
  if (options.overlapCollectives < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("overlapCollectives (collectives in flight at once) "
                     "must be 0 or more, not ",
                     options.overlapCollectives));
  s.overlapCollectives = options.overlapCollectives;
  s.memoryBudget = options.memoryBudget;
  s.deviceProfile = options.deviceProfile;
  // What --auto prices plans by (ZeRO's candidates and the search alike).
  std::optional<cost::CostModel> costModel;
  if (options.autoShard && options.price)
    return absl::InvalidArgumentError(
        "price prices the plan given; autoShard chooses one (and prices it): "
        "ask for one of them");
  if (options.autoShard || options.price) {
    absl::StatusOr<cost::CostModel> named =
        cost::CostModel::named(options.deviceProfile);
    if (!named.ok())
      return named.status();
    costModel = std::move(*named);
  }
  std::string zeroNote;
  if (!options.mesh.empty() || options.plan) {
    if (s.hasMesh)
      return absl::InvalidArgumentError(
          "the MLIR input has its own spmd.mesh; --mesh and --plan apply to "
          "models without one");
    proto::PlanMesh mesh;
    if (!options.mesh.empty()) {
      absl::StatusOr<proto::PlanMesh> parsed = parseMeshFlag(options.mesh);
      if (!parsed.ok())
        return parsed.status();
      mesh = *parsed;
    }
    proto::Plan plan = options.plan.value_or(proto::Plan());
    if (options.autoShard && options.zeroCandidates && !plan.has_zero()) {
      zeroNote = chooseZero(module, mesh.axes_size() ? mesh : plan.mesh(),
                            s.model.imported ? s.model.imported->readers
                                             : TensorReaders(),
                            *costModel, options, plan);
    }
    if (plan.has_zero()) {
      auto functions = llvm::to_vector(module.getOps<mlir::func::FuncOp>());
      if (functions.size() != 1)
        return absl::InvalidArgumentError(
            "a plan's zero stage applies to a module of one function");
      if (absl::Status status = train::expandZero(
              functions.front(), mesh.axes_size() ? mesh : plan.mesh(), plan);
          !status.ok())
        return status;
    }
    if (failed(applyPlan(module, plan, mesh,
                         s.model.imported ? s.model.imported->readers
                                          : TensorReaders(),
                         options.origins)))
      return s.failure("the plan does not apply");
    s.hasMesh = true;
  }
  if (options.autoShard) {
    if (!s.hasMesh)
      return absl::InvalidArgumentError("--auto needs a mesh: give --mesh");
    autoshard::AutoShardOptions autoOptions;
    autoOptions.seconds = options.autoSeconds;
    autoOptions.onProgress = options.onProgress;
    autoOptions.memoryBudget = options.memoryBudget;
    autoOptions.recordOrigins = options.origins;
    autoOptions.alternatives = options.alternatives;
    if (!options.explain.empty()) {
      auto functions = module.getOps<mlir::func::FuncOp>();
      if (!functions.empty())
        autoOptions.explain = lookupTensor(*functions.begin(), options.explain);
      if (!autoOptions.explain)
        return absl::InvalidArgumentError(withNameHint(
            "--explain names '" + options.explain +
                "', which is no tensor of the model (or an ambiguous name)",
            options.explain, tensorNames(module), "tensors",
            /*listAtMost=*/0));
    }
    mlir::FailureOr<autoshard::AutoShardReport> report =
        tessel::autoShard(module, *costModel, autoOptions);
    if (failed(report))
      return s.failure("auto-sharding failed");
    s.report = *report;
    s.report->zeroNote = zeroNote;
  }
  if (options.price) {
    if (!s.hasMesh)
      return absl::InvalidArgumentError(
          "pricing a plan needs a mesh: give --mesh or --plan");
    // Completed by propagation first: every value then has the layout the
    // partitioner will give it, and the pricing keeps each.
    if (failed(propagateShardings(module, options.origins)))
      return s.failure("sharding propagation failed");
    autoshard::AutoShardOptions priceOptions;
    priceOptions.priceOnly = true;
    priceOptions.memoryBudget = options.memoryBudget;
    priceOptions.seconds = options.autoSeconds;
    mlir::FailureOr<autoshard::AutoShardReport> report =
        tessel::autoShard(module, *costModel, priceOptions);
    if (failed(report))
      return s.failure("pricing the plan failed");
    s.report = *report;
  }
  if (s.hasMesh && failed(propagateShardings(module, options.origins)))
    return s.failure("sharding propagation failed");
  // Taken now: the origins go once the collectives are made.
  if (s.hasMesh)
    s.layouts = report::moduleLayouts(module);
  return absl::OkStatus();
}

absl::Status Model::insertCollectives() {
  if (!state->hasMesh)
    return absl::FailedPreconditionError(
        "--emit=spmd needs a mesh: give --mesh or --plan");
  if (failed(tessel::insertCollectives(module())))
    return state->failure();
  return absl::OkStatus();
}

absl::Status Model::lower() {
  if (state->hasMesh &&
      failed(partitionForDevices(
          module(),
          state->ringAttention != ShardingOptions::RingAttention::Never,
          state->ringAttention != ShardingOptions::RingAttention::Unbalanced)))
    return state->failure();
  if (failed(lowerForExecution(module(),
                               state->hasMesh ? state->overlapCollectives : 0)))
    return state->failure();
  return absl::OkStatus();
}

absl::StatusOr<Compiled> Model::compile() {
  State &s = *state;
  Compiled compiled;
  if (s.hasMesh) {
    compiled.plan_ = plan();
    compiled.planNotes_ = notesOf(s.model);
  }
  compiled.report_ = s.report;
  compiled.layouts_ = s.layouts;
  // An in-memory executable names no parameter file: load() hands the
  // backend its parameters, and save() names the file it writes.
  bool hasParameters =
      (s.model.imported && s.model.imported->numParameters() > 0) ||
      !s.parameterFile.empty();
  mlir::FailureOr<proto::Executable> executable = mlir::failure();
  if (s.hasMesh && s.ringAttention == ShardingOptions::RingAttention::Auto) {
    // Gathered keys and values where they fit (on the host backend the
    // ring's blockwise steps take longer than one softmax over whole
    // rows: docs/design/partitioning.md), the ring where they do not.
    mlir::OwningOpRef<mlir::ModuleOp> gathered = module().clone();
    executable =
        compileToExecutable(*gathered, "", {false, true, s.overlapCollectives});
    if (failed(executable))
      return s.failure();
    int64_t largest = 0;
    for (int device = 0; device < executable->programs_size(); ++device)
      largest = std::max(largest, deviceBytes(*executable, device));
    absl::StatusOr<cost::CostModel> profile =
        cost::CostModel::named(s.deviceProfile);
    if (!profile.ok())
      return profile.status();
    int64_t budget =
        s.memoryBudget > 0 ? s.memoryBudget : profile->memoryBytes();
    // The program has what the runtime itself leaves of the budget.
    if (largest + profile->runtimeBytes() > budget)
      executable =
          compileToExecutable(module(), "", {true, true, s.overlapCollectives});
  } else {
    executable = compileToExecutable(
        module(), "",
        {s.ringAttention == ShardingOptions::RingAttention::Always ||
             s.ringAttention == ShardingOptions::RingAttention::Unbalanced,
         s.ringAttention != ShardingOptions::RingAttention::Unbalanced,
         s.overlapCollectives});
  }
  if (failed(executable))
    return s.failure();
  if (executable->parameters_size() > 0 && !hasParameters)
    return absl::InvalidArgumentError(
        "the program has graph.parameter arguments but no parameter data: "
        "give the parameter file that holds them with --params "
        "(tessel-compile model.onnx --params-out writes one)");
  compiled.executable_ = std::move(*executable);
  if (s.model.imported && s.model.imported->numParameters() > 0) {
    // The imported weights move into the compiled model, which points at
    // them in place.
    auto model = std::make_shared<ImportedModel>(std::move(*s.model.imported));
    s.model.imported.reset();
    absl::StatusOr<ParameterSet> weights = model->parameters();
    if (!weights.ok())
      return weights.status();
    weights->keepAlive(model);
    compiled.weights_ = std::make_shared<ParameterSet>(std::move(*weights));
  }
  compiled.linkedParameterFile_ = s.parameterFile;
  return compiled;
}

std::optional<ShardingOptions::RingAttention>
ShardingOptions::ringAttentionNamed(const std::string &name) {
  if (name == "auto")
    return RingAttention::Auto;
  if (name == "always")
    return RingAttention::Always;
  if (name == "unbalanced")
    return RingAttention::Unbalanced;
  if (name == "never")
    return RingAttention::Never;
  return std::nullopt;
}

std::string Compiled::planText() const { return formatPlan(plan_, planNotes_); }

std::vector<CollectiveCount> Compiled::collectives() const {
  return countCollectives(executable_);
}

namespace {
/// OK if `device` is one of `executable`'s devices.
absl::Status checkDevice(const proto::Executable &executable, int device) {
  if (device < 0 || device >= executable.programs_size())
    return absl::OutOfRangeError(
        absl::StrCat("device ", device, " is not one of the executable's ",
                     executable.programs_size()));
  return absl::OkStatus();
}
} // namespace

absl::StatusOr<int64_t> Compiled::deviceMemory(int device) const {
  if (absl::Status status = checkDevice(executable_, device); !status.ok())
    return status;
  return deviceBytes(executable_, device);
}

absl::StatusOr<MemoryEstimate> Compiled::memoryEstimate(int device) const {
  if (absl::Status status = checkDevice(executable_, device); !status.ok())
    return status;
  return estimateMemory(executable_, device);
}

std::string Compiled::explainCollectives() const {
  return tessel::explainCollectives(executable_);
}

absl::StatusOr<std::string>
Compiled::reportHtml(const std::string &title, const std::string &deviceProfile,
                     int64_t budgetBytes) const {
  absl::StatusOr<cost::CostModel> model = cost::CostModel::named(deviceProfile);
  if (!model.ok())
    return model.status();
  report::PlanReportInput input;
  input.title = title;
  input.layouts = layouts_;
  input.executable = &executable_;
  input.model = &*model;
  input.budgetBytes = budgetBytes;
  if (report_)
    input.autoSummary = absl::StrFormat(
        "Chosen by --auto for %s: modeled %.3f ms compute + %.3f ms "
        "communication per step and device, peak %.1f MiB of %.1f MiB.",
        report_->profile, report_->computeSeconds * 1e3,
        report_->communicationSeconds * 1e3,
        static_cast<double>(report_->peakBytes) / (1 << 20),
        static_cast<double>(report_->budgetBytes) / (1 << 20));
  return report::planReportHtml(input);
}

absl::Status Compiled::save(const std::string &path) const {
  if (executable_.parameters_size() == 0)
    return writeExecutable(executable_, path);
  std::string parameterPath = path + ".params";
  if (absl::Status status =
          weights_ ? weights_->write(parameterPath)
                   : linkParameterFile(executable_, linkedParameterFile_,
                                       parameterPath);
      !status.ok())
    return status;
  // Named relative to the executable, so that the two move together.
  proto::Executable named = executable_;
  size_t slash = parameterPath.find_last_of('/');
  std::string relative = slash == std::string::npos
                             ? parameterPath
                             : parameterPath.substr(slash + 1);
  named.set_parameter_file(relative);
  if (named.has_reference())
    named.mutable_reference()->set_parameter_file(relative);
  return writeExecutable(named, path);
}

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
Compiled::load(Backend &backend) const {
  absl::StatusOr<ParameterSource> source = parameterSource();
  if (!source.ok())
    return source.status();
  return backend.load(executable_, *source);
}

absl::StatusOr<ParameterSource> Compiled::parameterSource() const {
  if (weights_ || executable_.parameters_size() == 0)
    return ParameterSource(weights_);
  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(linkedParameterFile_);
  if (!file.ok())
    return absl::Status(
        file.status().code(),
        absl::StrCat("cannot load the parameters: ", file.status().message()));
  return ParameterSource(
      std::make_shared<const ParameterFile>(std::move(*file)));
}

absl::StatusOr<Compiled> Compiled::read(const std::string &path,
                                        const std::string &parameterFile) {
  absl::StatusOr<proto::Executable> executable = readExecutable(path);
  if (!executable.ok())
    return executable.status();
  if (absl::Status status =
          locateParameterFile(*executable, path, parameterFile);
      !status.ok())
    return status;
  Compiled compiled;
  const std::string &named = executable->parameter_file();
  size_t slash = path.find_last_of('/');
  compiled.linkedParameterFile_ =
      named.empty() || named.front() == '/' || slash == std::string::npos
          ? named
          : path.substr(0, slash + 1) + named;
  compiled.executable_ = std::move(*executable);
  return compiled;
}

absl::StatusOr<Compiled> compile(const ModelSource &source,
                                 const CompileOptions &options) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::load(source, options);
  if (!model.ok())
    return model.status();
  const TrainingOptions &training = options.training;
  if (!training.loss.empty() || !training.optimizer.empty())
    if (absl::Status status =
            (*model)->train(training.loss, training.optimizer, training.frozen,
                            training.batchNorm);
        !status.ok())
      return status;
  if (absl::Status status = (*model)->shard(options.sharding); !status.ok())
    return status;
  return (*model)->compile();
}

namespace {

/// A step's modeled seconds, collectives run and their bytes per device.
struct StepFigures {
  double seconds = 0;
  int64_t count = 0, bytes = 0;
};

StepFigures figuresOf(const proto::Executable &executable,
                      const cost::CostModel &model) {
  StepFigures figures;
  figures.seconds = cost::programSeconds(cost::programWork(executable), model);
  for (const CollectiveCount &count : countCollectives(executable)) {
    figures.count += count.count;
    figures.bytes += count.bytesPerDevice;
  }
  return figures;
}

} // namespace

absl::StatusOr<std::vector<RemedyPrice>>
priceRemedies(const ModelSource &source, const CompileOptions &options,
              const Compiled &compiled, const std::string &deviceProfile,
              int limit) {
  std::vector<RemedyPrice> prices;
  if (options.sharding.mesh.empty() && !options.sharding.plan)
    return prices;
  absl::StatusOr<cost::CostModel> model = cost::CostModel::named(deviceProfile);
  if (!model.ok())
    return model.status();
  // Each distinct entry once, with the collectives it is offered for and
  // the bytes they move.
  std::vector<std::pair<int64_t, RemedyPrice>> offered;
  std::vector<CollectiveExplanation> collectives =
      collectiveExplanations(compiled.executable());
  for (size_t c = 0; c < collectives.size(); ++c)
    for (const auto &[tensor, spec] : collectives[c].remedies) {
      auto found = std::find_if(offered.begin(), offered.end(), [&](auto &o) {
        return o.second.tensor == tensor && o.second.spec == spec;
      });
      if (found == offered.end()) {
        offered.push_back({0, RemedyPrice()});
        found = offered.end() - 1;
        found->second.tensor = tensor;
        found->second.spec = spec;
      }
      found->first += collectives[c].bytesPerDevice;
      found->second.collectives.push_back(static_cast<int>(c) + 1);
    }
  std::stable_sort(offered.begin(), offered.end(),
                   [](auto &a, auto &b) { return a.first > b.first; });
  if (static_cast<int>(offered.size()) > limit)
    offered.resize(limit);
  StepFigures baseline = figuresOf(compiled.executable(), *model);
  for (auto &[bytes, price] : offered) {
    price.baselineSeconds = baseline.seconds;
    price.baselineCount = baseline.count;
    price.baselineBytes = baseline.bytes;
    CompileOptions changed = options;
    changed.sharding.onProgress = nullptr;
    changed.sharding.explain.clear();
    changed.sharding.origins = false;
    proto::Plan plan = changed.sharding.plan.value_or(proto::Plan());
    proto::TensorPlan *entry = nullptr;
    for (proto::TensorPlan &existing : *plan.mutable_tensors())
      if (existing.name() == price.tensor)
        entry = &existing;
    if (!entry)
      entry = plan.add_tensors();
    entry->Clear();
    entry->set_name(price.tensor);
    entry->set_spec(price.spec);
    changed.sharding.plan = plan;
    absl::StatusOr<Compiled> made = compile(source, changed);
    if (!made.ok()) {
      std::string message(made.status().message());
      price.error = message.substr(0, message.find('\n'));
      prices.push_back(std::move(price));
      continue;
    }
    StepFigures figures = figuresOf(made->executable(), *model);
    price.stepSeconds = figures.seconds;
    price.collectiveCount = figures.count;
    price.collectiveBytes = figures.bytes;
    prices.push_back(std::move(price));
  }
  return prices;
}

std::string formatRemedyPrices(const std::vector<RemedyPrice> &prices) {
  if (prices.empty())
    return "";
  std::string text =
      "what would remove them (each plan entry priced by compiling with it "
      "added to the plan):\n";
  for (const RemedyPrice &price : prices) {
    std::vector<std::string> numbers;
    for (int c : price.collectives)
      numbers.push_back(absl::StrCat(c));
    absl::StrAppend(&text, "  for ", absl::StrJoin(numbers, ", "),
                    ": tensors { name: \"", price.tensor, "\" spec: '",
                    price.spec, "' }\n");
    if (!price.error.empty()) {
      absl::StrAppend(&text, "     not priced: ", price.error, "\n");
      continue;
    }
    absl::StrAppend(
        &text,
        absl::StrFormat("     modeled step %.4f -> %.4f ms (%+.4f); "
                        "collectives %d -> %d, %s -> %s per device\n",
                        price.baselineSeconds * 1e3, price.stepSeconds * 1e3,
                        (price.stepSeconds - price.baselineSeconds) * 1e3,
                        price.baselineCount, price.collectiveCount,
                        formatBytes(price.baselineBytes),
                        formatBytes(price.collectiveBytes)));
  }
  return text;
}

bool isDiagnostics(const absl::Status &status) {
  return status.GetPayload(kDiagnosticsPayload).has_value();
}

} // namespace tessel
