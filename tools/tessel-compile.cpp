//===- tessel-compile.cpp - Compile a model for a device mesh -------------===//
//
//   tessel-compile model.onnx --input-shape x=4x64 --emit=mlir
//   tessel-compile model.onnx --mesh x=2,y=4 --plan plan.textproto --emit=plan
//
// Loads an ONNX model (or MLIR in Tessel's dialects) and emits the program.
// Weights never appear in the IR: they are graph.parameter arguments whose
// data --params-out writes to a parameter file. With a mesh (--mesh, a
// --plan, or an spmd.mesh in MLIR input) every tensor gets a sharding by
// propagation from the plan's annotations; --emit=spmd also makes the
// communication explicit.
//
//===----------------------------------------------------------------------===//

#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/cost/CostModel.h"
#include "compiler/driver/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/plan/Plan.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "runtime/Executable.h"
#include "runtime/Names.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;

/// The tool's own options: --help lists these (and MLIR's --mlir-*
/// debugging options), not the whole of LLVM's.
static cl::OptionCategory tesselCategory("tessel-compile options");

static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model>"),
                                      cl::Required,
    cl::cat(tesselCategory));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"),
    cl::cat(tesselCategory));
enum class Emit { Executable, Mlir, Spmd, Lowered, Plan };
/// The values of --emit, with what each produces. (A string option rather
/// than cl::values, whose error for a wrong value lists nothing.)
static const std::vector<std::tuple<const char *, Emit, const char *>>
    kEmitValues = {
        {"executable", Emit::Executable,
         "an executable for tessel-run, with its parameter file beside it "
         "(<output>.params); the default"},
        {"mlir", Emit::Mlir,
         "the imported program in the graph dialect, with the shardings "
         "propagation chose if there is a mesh"},
        {"spmd", Emit::Spmd,
         "with a mesh: the program with its communication explicit (reshards "
         "made collectives), on global shapes; a count of the collectives "
         "goes to stderr"},
        {"plan", Emit::Plan,
         "the sharding of every named tensor, as a plan (protobuf text) that "
         "--plan reads back; each parameter with the ONNX nodes that read it"},
        {"lowered", Emit::Lowered,
         "the program after fusion and buffer assignment (with a mesh: the "
         "program of each device)"},
};
/// --emit's help (cl::desc keeps a reference: the text lives on).
static const std::string &describeEmitValues() {
  static const std::string text = [] {
    std::string text = "What to produce:";
    for (const auto &[name, value, help] : kEmitValues)
      text += std::string("\n  ") + name + ": " + help;
    return text;
  }();
  return text;
}
static cl::opt<std::string> emitFlag("emit", cl::desc(describeEmitValues()),
                                     cl::value_desc("what"),
                                     cl::init("executable"),
    cl::cat(tesselCategory));
static cl::list<std::string>
    inputShapes("input-shape",
                cl::desc("Pin an input's shape: name=d0xd1x... (repeatable, "
                         "or comma-separated)"),
                cl::value_desc("name=shape"),
    cl::cat(tesselCategory));
static cl::opt<std::string>
    meshFlag("mesh", cl::desc("The device mesh: axis=size,... (e.g. x=2,y=4)"),
             cl::value_desc("axes"),
    cl::cat(tesselCategory));
static cl::opt<std::string>
    planPath("plan",
             cl::desc("Sharding annotations: a tessel.proto.Plan in text "
                      "form naming tensors and their partition specs"),
             cl::value_desc("file"),
    cl::cat(tesselCategory));
static cl::opt<bool>
    autoFlag("auto",
             cl::desc("Choose the shardings by the cost model (needs --mesh; "
                      "a --plan's entries are kept as constraints)"),
    cl::cat(tesselCategory));
static cl::opt<std::string> deviceProfile(
    "device-profile",
    cl::desc("The machine --auto prices plans for: a built-in profile (host: "
             "this development machine; h100_sxm, a100_sxm: 8-GPU nodes) or "
             "a DeviceProfile file in text form (tessel-calibrate writes "
             "yours)"),
    cl::value_desc("name|file"), cl::init("host"),
    cl::cat(tesselCategory));
static cl::opt<std::string> memoryBudgetFlag(
    "memory-budget",
    cl::desc("Memory per device for --auto: bytes, or with KiB, MiB, GiB "
             "(default: the profile's)"),
    cl::value_desc("size"),
    cl::cat(tesselCategory));
static cl::opt<double>
    autoSeconds("auto-seconds",
                cl::desc("Time limit of --auto's search (seconds)"),
                cl::init(10.0),
    cl::cat(tesselCategory));
static cl::opt<std::string> explainFlag(
    "explain",
    cl::desc("With --auto: the candidate layouts of this tensor (a plan "
             "name) and what each would cost, all else as chosen"),
    cl::value_desc("tensor"),
    cl::cat(tesselCategory));
static cl::opt<std::string> planOut(
    "plan-out",
    cl::desc("Write the plan chosen or propagated (protobuf text), as "
             "--emit=plan prints it; with --auto and -o file, the default "
             "is <file>.plan.textproto"),
    cl::value_desc("file"),
    cl::cat(tesselCategory));
static cl::opt<std::string>
    paramsOut("params-out",
              cl::desc("Write the model's parameters (weights) to this file"),
              cl::value_desc("file"),
    cl::cat(tesselCategory));
static cl::opt<std::string> paramsIn(
    "params",
    cl::desc("For MLIR input with graph.parameter arguments: the parameter "
             "file that holds them (as --params-out wrote it); the "
             "executable's parameter file then points into it"),
    cl::value_desc("file"),
    cl::cat(tesselCategory));

/// "40GiB", "512MiB", "64KiB" or plain bytes.
static std::optional<int64_t> parseByteSize(llvm::StringRef text) {
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

/// What --auto chose, in numbers.
static void printReport(const tessel::autoshard::AutoShardReport &report,
                        const std::string &profile) {
  llvm::errs() << llvm::format(
      "auto-sharding for %s: %lld nodes, %lld strategies, %lld edges; "
      "solved in %.2f s (%s%s)\n"
      "  modeled step per device: %.3f ms compute + %.3f ms communication "
      "= %.3f ms\n"
      "  peak memory per device: %.1f MiB of %.1f MiB\n",
      profile.c_str(), static_cast<long long>(report.nodes),
      static_cast<long long>(report.strategies),
      static_cast<long long>(report.edges), report.solveSeconds,
      report.method.c_str(), report.optimal ? ", optimal" : "",
      report.computeSeconds * 1e3, report.communicationSeconds * 1e3,
      (report.computeSeconds + report.communicationSeconds) * 1e3,
      static_cast<double>(report.peakBytes) / (1 << 20),
      static_cast<double>(report.budgetBytes) / (1 << 20));
}

/// Diagnostics as "file: error: message" (ONNX locations have no line).
static void printDiagnostic(mlir::Diagnostic &diagnostic) {
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
  llvm::errs() << where << ": " << severity << ": " << diagnostic.str() << "\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  // --help: this tool's options and MLIR's own (--mlir-timing,
  // --mlir-print-ir-after-all...), none of LLVM's internal ones.
  cl::HideUnrelatedOptions(tesselCategory);
  for (auto &[name, option] : cl::getRegisteredOptions())
    if (name.starts_with("mlir-"))
      option->setHiddenFlag(cl::NotHidden);
  cl::ParseCommandLineOptions(argc, argv,
                              "Tessel: compile a model for a device mesh\n");
  auto error = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "tessel-compile") << message << "\n";
    return 1;
  };
  Emit emit = Emit::Executable;
  {
    std::vector<std::string> names;
    bool known = false;
    for (const auto &[name, value, help] : kEmitValues) {
      names.push_back(name);
      if (emitFlag == name) {
        emit = value;
        known = true;
      }
    }
    if (!known)
      return error(tessel::withNameHint("--emit=" + emitFlag +
                                            " is not something it can emit",
                                        emitFlag, names, "values"));
  }
  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  // MLIR input gets source-line diagnostics; ONNX input plain ones.
  std::optional<mlir::SourceMgrDiagnosticHandler> sourceHandler;
  std::optional<mlir::ScopedDiagnosticHandler> plainHandler;
  if (tessel::modelFormatOf(inputPath) == tessel::ModelFormat::Mlir)
    sourceHandler.emplace(sourceMgr, &context);
  else
    plainHandler.emplace(&context, [](mlir::Diagnostic &diagnostic) {
      printDiagnostic(diagnostic);
      return mlir::success();
    });

  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> shapes =
      tessel::parseInputShapes(inputShapes);
  if (!shapes.ok()) {
    llvm::WithColor::error(llvm::errs(), "tessel-compile")
        << std::string(shapes.status().message()) << "\n";
    return 1;
  }
  tessel::OnnxImportOptions options;
  options.inputShapes = *shapes;
  mlir::FailureOr<tessel::LoadedModel> model =
      tessel::loadModel(inputPath, context, sourceMgr, options);
  if (failed(model))
    return 1;

  if (!paramsIn.empty() && model->imported)
    return error("--params is for MLIR input: an ONNX model carries its "
                 "weights");
  if (!paramsOut.empty()) {
    if (!model->imported)
      return error("--params-out needs an ONNX model; MLIR input has no "
                   "weights (its parameters come with --params)");
    absl::Status status = model->imported->writeParameterFile(paramsOut);
    if (!status.ok())
      return error(std::string(status.message()));
  }

  // Sharding: apply the plan, then propagate.
  bool hasMesh = !model->module->getOps<tessel::spmd::MeshOp>().empty();
  if (!meshFlag.empty() || !planPath.empty()) {
    if (hasMesh)
      return error("the MLIR input has its own spmd.mesh; --mesh and --plan "
                   "apply to models without one");
    tessel::proto::PlanMesh mesh;
    if (!meshFlag.empty()) {
      absl::StatusOr<tessel::proto::PlanMesh> parsed =
          tessel::parseMeshFlag(meshFlag);
      if (!parsed.ok())
        return error(std::string(parsed.status().message()));
      mesh = *parsed;
    }
    tessel::proto::Plan plan;
    if (!planPath.empty()) {
      absl::StatusOr<tessel::proto::Plan> read = tessel::readPlan(planPath);
      if (!read.ok())
        return error(std::string(read.status().message()));
      plan = *read;
    }
    if (failed(tessel::applyPlan(*model->module, plan, mesh,
                                 model->imported ? model->imported->readers
                                                 : tessel::TensorReaders())))
      return 1;
    hasMesh = true;
  }
  if (autoFlag) {
    if (!hasMesh)
      return error("--auto needs a mesh: give --mesh");
    absl::StatusOr<tessel::cost::CostModel> costModel =
        tessel::cost::CostModel::named(deviceProfile);
    if (!costModel.ok())
      return error(std::string(costModel.status().message()));
    tessel::autoshard::AutoShardOptions options;
    options.seconds = autoSeconds;
    // Searches over a second say how they go, twice a second at most.
    double lastSaid = 0.5;
    options.onProgress = [&lastSaid](double seconds, double modeled) {
      if (seconds < 1.0 || seconds < lastSaid + 0.5)
        return;
      lastSaid = seconds;
      llvm::errs() << llvm::format(
          "  search: %.1f s, best plan %.3f ms per step\n", seconds,
          modeled * 1e3);
    };
    if (!memoryBudgetFlag.empty()) {
      std::optional<int64_t> budget = parseByteSize(memoryBudgetFlag);
      if (!budget)
        return error("--memory-budget '" + memoryBudgetFlag +
                     "' is not a size (bytes, or a number with KiB, MiB, GiB)");
      options.memoryBudget = *budget;
    }
    if (!explainFlag.empty()) {
      auto functions = model->module->getOps<mlir::func::FuncOp>();
      if (!functions.empty())
        options.explain = tessel::lookupTensor(*functions.begin(), explainFlag);
      if (!options.explain)
        return error(tessel::withNameHint(
            "--explain names '" + explainFlag +
                "', which is no tensor of the model (or an ambiguous name)",
            explainFlag, tessel::tensorNames(*model->module), "tensors",
            /*listAtMost=*/0));
    }
    mlir::FailureOr<tessel::autoshard::AutoShardReport> report =
        tessel::autoShard(*model->module, *costModel, options);
    if (failed(report))
      return 1;
    printReport(*report, costModel->profile().name());
    if (!explainFlag.empty())
      llvm::errs() << "candidates for '" << explainFlag
                   << "' (per device; all else as chosen):\n"
                   << report->explanation;
  }
  if (hasMesh && failed(tessel::propagateShardings(*model->module)))
    return 1;
  if (autoFlag && emit != Emit::Plan) {
    // The choice for the model's inputs and parameters; the activations'
    // are in the plan file (or --emit=plan).
    tessel::proto::Plan chosen = tessel::extractPlan(*model->module);
    std::set<std::string> arguments;
    auto function = *model->module->getOps<mlir::func::FuncOp>().begin();
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (auto name =
              function.getArgAttrOfType<mlir::StringAttr>(i, "graph.name"))
        arguments.insert(name.str());
    int activations = 0;
    llvm::errs() << "  inputs and parameters:\n";
    for (const tessel::proto::TensorPlan &tensor : chosen.tensors()) {
      if (!arguments.count(tensor.name())) {
        ++activations;
        continue;
      }
      llvm::errs() << "    " << tensor.name() << " " << tensor.spec() << "\n";
    }
    llvm::errs() << "  and " << activations << " activations\n";
  }
  std::map<std::string, std::string> notes =
      model->imported ? tessel::planNotes(model->imported->readers)
                      : std::map<std::string, std::string>();
  std::string planFile = planOut;
  if (planFile.empty() && autoFlag && emit == Emit::Executable &&
      outputPath != "-")
    planFile = outputPath + ".plan.textproto";
  if (!planFile.empty()) {
    if (!hasMesh)
      return error("--plan-out needs a mesh: give --mesh or --plan");
    std::ofstream out(planFile);
    out << tessel::formatPlan(tessel::extractPlan(*model->module),
                              notes);
    if (!out)
      return error("cannot write " + planFile);
    if (autoFlag)
      llvm::errs() << "plan written to " << planFile << "\n";
  }
  if (emit == Emit::Plan) {
    if (!hasMesh)
      return error("--emit=plan needs a mesh: give --mesh or --plan");
    std::string text = tessel::formatPlan(tessel::extractPlan(*model->module),
                                          notes);
    std::string openError;
    std::unique_ptr<llvm::ToolOutputFile> output =
        mlir::openOutputFile(outputPath, &openError);
    if (!output)
      return error(openError);
    output->os() << text;
    output->keep();
    return 0;
  }
  if (emit == Emit::Spmd) {
    if (!hasMesh)
      return error("--emit=spmd needs a mesh: give --mesh or --plan");
    if (failed(tessel::insertCollectives(*model->module)))
      return 1;
    llvm::errs() << tessel::formatCollectiveCounts(
        tessel::countCollectives(*model->module));
  }
  if (emit == Emit::Executable) {
    if (outputPath == "-")
      return error(
          "an executable is binary: name its file with -o model.tessel");
    // The parameters go beside the executable, which names them relatively.
    std::string parameterFile;
    if (model->imported && model->imported->numParameters() > 0) {
      std::string parameterPath = outputPath + ".params";
      absl::Status status = model->imported->writeParameterFile(parameterPath);
      if (!status.ok())
        return error(std::string(status.message()));
      size_t slash = parameterPath.find_last_of('/');
      parameterFile = slash == std::string::npos
                          ? parameterPath
                          : parameterPath.substr(slash + 1);
    }
    if (!paramsIn.empty())
      parameterFile = llvm::sys::path::filename(outputPath).str() + ".params";
    mlir::FailureOr<tessel::proto::Executable> executable =
        tessel::compileToExecutable(*model->module, parameterFile);
    if (failed(executable))
      return 1;
    if (executable->parameters_size() > 0 && parameterFile.empty())
      return error("the program has graph.parameter arguments but no "
                   "parameter data: give the parameter file that holds them "
                   "with --params (tessel-compile model.onnx --params-out "
                   "writes one)");
    if (!paramsIn.empty()) {
      absl::Status linked = tessel::linkParameterFile(
          *executable, paramsIn, outputPath + ".params");
      if (!linked.ok())
        return error(std::string(linked.message()));
    }
    absl::Status status = tessel::writeExecutable(*executable, outputPath);
    if (!status.ok())
      return error(std::string(status.message()));
    if (executable->programs_size() > 1)
      llvm::errs() << executable->programs_size() << " devices; "
                   << tessel::formatCollectiveCounts(
                          tessel::countCollectives(*executable));
    return 0;
  }

  // The lowered program is the one each device runs.
  if (emit == Emit::Lowered && hasMesh &&
      failed(tessel::partitionForDevices(*model->module)))
    return 1;
  if (emit == Emit::Lowered &&
      failed(tessel::lowerForExecution(*model->module)))
    return 1;
  std::string openError;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &openError);
  if (!output)
    return error(openError);
  model->module->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
