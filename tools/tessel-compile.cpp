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

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/api/Tessel.h"
#include "compiler/driver/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/plan/Plan.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "runtime/Executable.h"
#include "runtime/Names.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;

/// The tool's own options: --help lists these (and MLIR's --mlir-*
/// debugging options), not the whole of LLVM's.
static cl::OptionCategory tesselCategory("tessel-compile options");

static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model>"),
                                      cl::Required, cl::cat(tesselCategory));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(tesselCategory));
enum class Emit { Executable, Mlir, Spmd, Lowered, Plan, Layout };
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
        {"layout", Emit::Layout,
         "with a mesh: each tensor's blocks and the devices holding them, as "
         "text (the tensors --tensor names; by default the inputs and "
         "parameters), with where each split came from"},
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
                cl::value_desc("name=shape"), cl::cat(tesselCategory));
static cl::opt<std::string>
    meshFlag("mesh", cl::desc("The device mesh: axis=size,... (e.g. x=2,y=4)"),
             cl::value_desc("axes"), cl::cat(tesselCategory));
static cl::opt<std::string>
    planPath("plan",
             cl::desc("Sharding annotations: a tessel.proto.Plan in text "
                      "form naming tensors and their partition specs"),
             cl::value_desc("file"), cl::cat(tesselCategory));
static cl::opt<bool>
    autoFlag("auto",
             cl::desc("Choose the shardings by the cost model (needs --mesh; "
                      "a --plan's entries are kept as constraints)"),
             cl::cat(tesselCategory));
static cl::opt<bool> priceFlag(
    "price",
    cl::desc("Without --auto: price the plan given (--mesh, --plan, as "
             "propagation completes them) with the cost model of "
             "--device-profile, and print its modeled step and peak memory "
             "per device as --auto does for the plan it chooses"),
    cl::cat(tesselCategory));
static cl::opt<std::string> deviceProfile(
    "device-profile",
    cl::desc("The machine --auto prices plans for: a built-in profile (host: "
             "this development machine; h100_sxm, a100_sxm: 8-GPU nodes) or "
             "a DeviceProfile file in text form (tessel-calibrate writes "
             "yours)"),
    cl::value_desc("name|file"), cl::init("host"), cl::cat(tesselCategory));
static cl::opt<std::string> memoryBudgetFlag(
    "memory-budget",
    cl::desc("Memory per device for --auto: bytes, or with KiB, MiB, GiB "
             "(default: the profile's)"),
    cl::value_desc("size"), cl::cat(tesselCategory));
static cl::opt<double>
    autoSeconds("auto-seconds",
                cl::desc("Time limit of --auto's search (seconds)"),
                cl::init(10.0), cl::cat(tesselCategory));
static cl::opt<std::string> explainFlag(
    "explain",
    cl::desc("With --auto: the candidate layouts of this tensor (a plan "
             "name) and what each would cost, all else as chosen"),
    cl::value_desc("tensor"), cl::cat(tesselCategory));
static cl::opt<int> alternativesFlag(
    "alternatives",
    cl::desc("With --auto: also list the N next-best plans, each the best "
             "under another layout of the largest inputs and parameters, "
             "with its modeled step"),
    cl::value_desc("N"), cl::init(0), cl::cat(tesselCategory));
static cl::opt<std::string> planOut(
    "plan-out",
    cl::desc("Write the plan chosen or propagated (protobuf text), as "
             "--emit=plan prints it; with --auto and -o file, the default "
             "is <file>.plan.textproto"),
    cl::value_desc("file"), cl::cat(tesselCategory));
static cl::opt<std::string>
    paramsOut("params-out",
              cl::desc("Write the model's parameters (weights) to this file"),
              cl::value_desc("file"), cl::cat(tesselCategory));
static cl::opt<std::string> paramsIn(
    "params",
    cl::desc("For MLIR input with graph.parameter arguments: the parameter "
             "file that holds them (as --params-out wrote it); the "
             "executable's parameter file then points into it"),
    cl::value_desc("file"), cl::cat(tesselCategory));

static cl::list<std::string>
    tensorFlag("tensor",
               cl::desc("With --emit=layout: a tensor to draw (a plan name; "
                        "repeat or separate with commas)"),
               cl::value_desc("name"), cl::CommaSeparated,
               cl::cat(tesselCategory));
static cl::opt<std::string> reportFlag(
    "report",
    cl::desc("Write the plan as one self-contained HTML page: the mesh, each "
             "parameter's and the largest activations' layouts, a step's "
             "timeline as the cost model (--device-profile) prices it, the "
             "memory curve against the budget, the collectives and why"),
    cl::value_desc("file.html"), cl::cat(tesselCategory));
static cl::opt<tessel::ShardingOptions::RingAttention> ringAttentionFlag(
    "ring-attention",
    cl::desc("With the sequence of an attention split, keys and values "
             "gathered whole or passed around a ring in blocks (each device "
             "holding 1/n of them, for the same bytes)"),
    cl::values(clEnumValN(tessel::ShardingOptions::RingAttention::Auto, "auto",
                          "gathered, unless a device then needs more than "
                          "--memory-budget (default: the profile's memory)"),
               clEnumValN(tessel::ShardingOptions::RingAttention::Always,
                          "always",
                          "the ring wherever it applies, a causal "
                          "attention's work balanced across it (zigzag)"),
               clEnumValN(tessel::ShardingOptions::RingAttention::Unbalanced,
                          "unbalanced",
                          "the ring, every device scoring every block under "
                          "a causal mask"),
               clEnumValN(tessel::ShardingOptions::RingAttention::Never,
                          "never", "gathered")),
    cl::init(tessel::ShardingOptions::RingAttention::Auto),
    cl::cat(tesselCategory));
static cl::opt<int> overlapCollectivesFlag(
    "overlap-collectives",
    cl::desc("Start each collective as soon as its operand is ready and wait "
             "for it just before its result is read, with at most this many "
             "in flight at once, so that the work between runs while it "
             "communicates (0: each runs where it stands)"),
    cl::value_desc("n"), cl::init(0), cl::cat(tesselCategory));
static cl::opt<bool> explainCollectivesFlag(
    "explain-collectives",
    cl::desc("With a mesh: print each collective of the executable with why "
             "the partitioner made it (the op and tensor that needed it, the "
             "layout needed and the layout it had)"),
    cl::cat(tesselCategory));

static cl::opt<bool> explainMemoryFlag(
    "explain-memory",
    cl::desc("Print the memory each device's program holds (parameters, "
             "state, inputs, the arena of temporaries) and the arena's peak: "
             "when, and the largest tensors live then"),
    cl::cat(tesselCategory));

static cl::opt<bool> trainFlag(
    "train",
    cl::desc("Compile one training step: forward, --loss, the gradients of "
             "the parameters, the --optimizer's update"),
    cl::cat(tesselCategory));
static cl::opt<std::string> lossFlag(
    "loss",
    cl::desc("With --train: cross_entropy:logits,labels[,dim=D] (classes "
             "along D, default 1) | mse:y,target | the name of a scalar "
             "output (the second name becomes an input unless the model has "
             "one by that name)"),
    cl::value_desc("spec"), cl::cat(tesselCategory));
static cl::opt<std::string> optimizerFlag(
    "optimizer",
    cl::desc("With --train: sgd:lr=0.1[,weight_decay=W] | "
             "momentum:lr=0.1,beta=0.9 | adam:lr=1e-3[,beta1,beta2,eps,"
             "weight_decay] | adamw:lr=1e-3[,weight_decay=0.01] (PyTorch's "
             "formulas)"),
    cl::value_desc("spec"), cl::cat(tesselCategory));

static cl::opt<std::string> batchNormFlag(
    "batch-norm",
    cl::desc("With --train: eval (normalize with the running statistics, "
             "which stay; --frozen them) or train[:momentum=0.1] (with the "
             "batch's, as torch's model.train(): the running statistics "
             "updated by the step)"),
    cl::value_desc("mode"), cl::init("eval"), cl::cat(tesselCategory));

static cl::list<std::string> frozenFlag(
    "frozen",
    cl::desc("With --train: parameters kept as they are (buffers an ONNX "
             "file holds as weights: batch-norm statistics, masks)"),
    cl::value_desc("name,..."), cl::CommaSeparated, cl::cat(tesselCategory));

/// What --auto chose, in numbers.
static void printReport(const tessel::autoshard::AutoShardReport &report) {
  if (report.priced)
    llvm::errs() << llvm::format("the plan priced for %s: %lld nodes\n",
                                 report.profile.c_str(),
                                 static_cast<long long>(report.nodes));
  else
    llvm::errs() << llvm::format(
        "auto-sharding for %s: %lld nodes, %lld strategies, %lld edges; "
        "solved in %.2f s (%s%s)\n",
        report.profile.c_str(), static_cast<long long>(report.nodes),
        static_cast<long long>(report.strategies),
        static_cast<long long>(report.edges), report.solveSeconds,
        report.method.c_str(), report.optimal ? ", optimal" : "");
  llvm::errs() << llvm::format(
      "  modeled step per device: %.3f ms compute + %.3f ms communication "
      "= %.3f ms\n"
      "  peak memory per device: %.1f MiB of %.1f MiB",
      report.computeSeconds * 1e3, report.communicationSeconds * 1e3,
      (report.computeSeconds + report.communicationSeconds) * 1e3,
      static_cast<double>(report.peakBytes) / (1 << 20),
      static_cast<double>(report.budgetBytes) / (1 << 20));
  std::vector<std::string> parts;
  if (report.runtimeBytes)
    parts.push_back(llvm::formatv("{0:f1} MiB of it the runtime's own, the "
                                  "device profile's runtime_bytes",
                                  report.runtimeBytes / double(1 << 20)));
  if (report.workspaceBytes)
    parts.push_back(llvm::formatv(
        "{0:f1} MiB the largest collective's workspace, the device "
        "profile's collective_workspace",
        report.workspaceBytes / double(1 << 20)));
  if (!parts.empty())
    llvm::errs() << " (" << llvm::join(parts, "; ") << ")";
  llvm::errs() << "\n";
  if (!report.priced && report.lowerBoundSeconds && report.costSeconds > 0)
    llvm::errs() << llvm::format(
        "  cost %.4f ms, lower bound %.4f ms, gap %.1f%%\n",
        report.costSeconds * 1e3, *report.lowerBoundSeconds * 1e3,
        100 * (report.costSeconds - *report.lowerBoundSeconds) /
            report.costSeconds);
  if (explainMemoryFlag && !report.peakLive.empty()) {
    llvm::errs() << "  the modeled peak"
                 << (report.peakAt.empty() ? std::string()
                                           : " (at '" + report.peakAt + "')")
                 << "; largest live there:\n";
    for (const auto &[name, bytes] : report.peakLive)
      llvm::errs() << llvm::format("    %.1f KiB ",
                                   static_cast<double>(bytes) / 1024)
                   << (name.empty() ? std::string("(unnamed)")
                                    : "'" + name + "'")
                   << "\n";
  }
  llvm::errs() << report.budgetNote << report.zeroNote;
  if (report.decisionLayouts.empty())
    return;
  double best = report.computeSeconds + report.communicationSeconds;
  llvm::errs() << "  next-best plans, by the layouts of";
  for (const auto &[name, spec] : report.decisionLayouts)
    llvm::errs() << " '" << name << "' " << spec;
  llvm::errs() << ":\n";
  if (report.alternatives.empty())
    llvm::errs() << "    (none: no other layout of them fits)\n";
  for (auto [k, alternative] : llvm::enumerate(report.alternatives)) {
    llvm::errs() << llvm::format(
        "    #%zu %.3f ms (%+.1f%%), %.1f MiB:", k + 2,
        alternative.seconds * 1e3,
        best > 0 ? 100 * (alternative.seconds / best - 1) : 0.0,
        static_cast<double>(alternative.peakBytes) / (1 << 20));
    for (auto [i, layout] : llvm::enumerate(alternative.layouts))
      if (layout.second != report.decisionLayouts[i].second)
        llvm::errs() << " '" << layout.first << "' " << layout.second;
    llvm::errs() << "\n";
  }
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
  if (!reportFlag.empty() && emit != Emit::Executable)
    return error("--report describes an executable: it needs "
                 "--emit=executable (the default)");
  if (!tensorFlag.empty() && emit != Emit::Layout)
    return error("--tensor names what --emit=layout draws");
  if ((explainCollectivesFlag || explainMemoryFlag) && emit != Emit::Executable)
    return error(std::string(explainCollectivesFlag ? "--explain-collectives"
                                                    : "--explain-memory") +
                 " explains an executable: it needs --emit=executable (the "
                 "default)");
  // The steps of the C++ API (compiler/api/Tessel.h), with flags and
  // messages around them. Each step's warnings and notes are printed as it
  // ends; a failed step's diagnostics are its error.
  std::unique_ptr<tessel::Model> model;
  auto fail = [&](const absl::Status &status) {
    if (model)
      llvm::errs() << model->takeDiagnostics();
    if (tessel::isDiagnostics(status)) {
      llvm::errs() << std::string(status.message()) << "\n";
      return 1;
    }
    return error(std::string(status.message()));
  };
  auto said = [&] {
    if (model)
      llvm::errs() << model->takeDiagnostics();
  };

  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> shapes =
      tessel::parseInputShapes(inputShapes);
  if (!shapes.ok())
    return fail(shapes.status());
  tessel::CompileOptions options;
  options.inputShapes = *shapes;
  options.parameterFile = paramsIn;
  absl::StatusOr<std::unique_ptr<tessel::Model>> loaded =
      tessel::Model::load(tessel::ModelSource::file(inputPath), options);
  if (!loaded.ok())
    return fail(loaded.status());
  model = std::move(*loaded);
  said();
  if (!paramsOut.empty())
    if (absl::Status status = model->writeParameters(paramsOut); !status.ok())
      return fail(status);
  if (trainFlag) {
    if (lossFlag.empty() || optimizerFlag.empty())
      return error("--train needs --loss and --optimizer");
    if (absl::Status status = model->train(
            lossFlag, optimizerFlag,
            std::vector<std::string>(frozenFlag.begin(), frozenFlag.end()),
            batchNormFlag);
        !status.ok())
      return fail(status);
  } else if (!lossFlag.empty() || !optimizerFlag.empty() ||
             !frozenFlag.empty() || batchNormFlag.getNumOccurrences()) {
    return error(
        "--loss, --optimizer, --frozen and --batch-norm go with --train");
  }

  // Sharding: apply the plan, auto-shard if asked, then propagate.
  tessel::ShardingOptions &sharding = options.sharding;
  sharding.mesh = meshFlag;
  if (!planPath.empty()) {
    absl::StatusOr<tessel::proto::Plan> read = tessel::readPlan(planPath);
    if (!read.ok())
      return fail(read.status());
    sharding.plan = *read;
  }
  sharding.autoShard = autoFlag;
  sharding.price = priceFlag;
  sharding.deviceProfile = deviceProfile;
  sharding.autoSeconds = autoSeconds;
  sharding.explain = explainFlag;
  sharding.alternatives = alternativesFlag;
  sharding.ringAttention = ringAttentionFlag;
  sharding.overlapCollectives = overlapCollectivesFlag;
  // The program --emit=mlir prints shows the shardings alone.
  sharding.origins = emit != Emit::Mlir;
  // Searches over a second say how they go, twice a second at most.
  double lastSaid = 0.5;
  sharding.onProgress = [&lastSaid](double seconds, double modeled) {
    if (seconds < 1.0 || seconds < lastSaid + 0.5)
      return;
    lastSaid = seconds;
    llvm::errs() << llvm::format(
        "  search: %.1f s, best plan %.3f ms per step\n", seconds,
        modeled * 1e3);
  };
  if (!memoryBudgetFlag.empty()) {
    std::optional<int64_t> budget = tessel::parseByteSize(memoryBudgetFlag);
    if (!budget)
      return error("--memory-budget '" + memoryBudgetFlag +
                   "' is not a size (bytes, or a number with KiB, MiB, GiB)");
    sharding.memoryBudget = *budget;
  }
  if (absl::Status status = model->shard(sharding); !status.ok())
    return fail(status);
  said();
  bool hasMesh = model->hasMesh();
  if (const auto &report = model->autoShardReport()) {
    printReport(*report);
    if (!explainFlag.empty())
      llvm::errs() << "candidates for '" << explainFlag
                   << "' (per device; all else as chosen):\n"
                   << report->explanation;
  }
  if (autoFlag && emit != Emit::Plan) {
    // The choice for the model's inputs and parameters; the activations'
    // are in the plan file (or --emit=plan).
    tessel::proto::Plan chosen = model->plan();
    std::set<std::string> arguments;
    auto function = *model->module().getOps<mlir::func::FuncOp>().begin();
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
  std::string planFile = planOut;
  if (planFile.empty() && autoFlag && emit == Emit::Executable &&
      outputPath != "-")
    planFile = outputPath + ".plan.textproto";
  if (!planFile.empty()) {
    if (!hasMesh)
      return error("--plan-out needs a mesh: give --mesh or --plan");
    std::ofstream out(planFile);
    out << model->planText();
    if (!out)
      return error("cannot write " + planFile);
    if (autoFlag)
      llvm::errs() << "plan written to " << planFile << "\n";
  }
  // Text to -o (stdout by default).
  auto emitText = [&](const std::string &text) {
    std::string openError;
    std::unique_ptr<llvm::ToolOutputFile> output =
        mlir::openOutputFile(outputPath, &openError);
    if (!output)
      return error(openError);
    output->os() << text;
    output->keep();
    return 0;
  };
  if (emit == Emit::Plan) {
    if (!hasMesh)
      return error("--emit=plan needs a mesh: give --mesh or --plan");
    return emitText(model->planText());
  }
  if (emit == Emit::Layout) {
    if (!hasMesh)
      return error("--emit=layout needs a mesh: give --mesh or --plan");
    const tessel::report::ModuleLayouts &layouts = model->layouts();
    std::string text;
    for (const std::string &name : tensorFlag) {
      absl::StatusOr<const tessel::report::TensorLayout *> layout =
          layouts.find(name);
      if (!layout.ok())
        return error("--tensor: " + std::string(layout.status().message()));
      text += tessel::report::drawLayout(**layout);
    }
    if (tensorFlag.empty())
      for (const tessel::report::TensorLayout &layout : layouts.tensors)
        if (layout.kind != tessel::report::TensorLayout::Kind::Activation)
          text += tessel::report::drawLayout(layout);
    return emitText(text);
  }
  if (emit == Emit::Spmd) {
    if (absl::Status status = model->insertCollectives(); !status.ok())
      return fail(status);
    llvm::errs() << tessel::formatCollectiveCounts(
        tessel::countCollectives(model->module()));
  }
  if (emit == Emit::Executable) {
    if (outputPath == "-")
      return error(
          "an executable is binary: name its file with -o model.tessel");
    absl::StatusOr<tessel::Compiled> compiled = model->compile();
    if (!compiled.ok())
      return fail(compiled.status());
    said();
    if (absl::Status status = compiled->save(outputPath); !status.ok())
      return fail(status);
    if (compiled->executable().programs_size() > 1)
      llvm::errs() << compiled->executable().programs_size() << " devices; "
                   << tessel::formatCollectiveCounts(compiled->collectives());
    if (explainCollectivesFlag) {
      llvm::errs() << tessel::explainCollectives(compiled->executable());
      // What plan change would remove them, priced by compiling with it.
      options.training = {
          lossFlag, optimizerFlag,
          std::vector<std::string>(frozenFlag.begin(), frozenFlag.end()),
          batchNormFlag};
      absl::StatusOr<std::vector<tessel::RemedyPrice>> prices =
          tessel::priceRemedies(tessel::ModelSource::file(inputPath), options,
                                *compiled, deviceProfile);
      if (!prices.ok())
        return fail(prices.status());
      llvm::errs() << tessel::formatRemedyPrices(*prices);
    }
    if (explainMemoryFlag) {
      // The device holding the most.
      tessel::MemoryEstimate largest;
      for (int d = 0; d < compiled->executable().programs_size(); ++d) {
        tessel::MemoryEstimate estimate =
            tessel::estimateMemory(compiled->executable(), d);
        if (d == 0 || estimate.total() > largest.total())
          largest = estimate;
      }
      llvm::errs() << tessel::formatMemoryEstimate(largest);
    }
    if (!reportFlag.empty()) {
      absl::StatusOr<std::string> html =
          compiled->reportHtml(inputPath, deviceProfile, sharding.memoryBudget);
      if (!html.ok())
        return fail(html.status());
      std::ofstream out(reportFlag);
      out << *html;
      if (!out)
        return error("cannot write " + reportFlag);
      llvm::errs() << "plan report written to " << reportFlag << "\n";
    }
    return 0;
  }

  // The lowered program is the one each device runs.
  if (emit == Emit::Lowered)
    if (absl::Status status = model->lower(); !status.ok())
      return fail(status);
  said();
  std::string openError;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &openError);
  if (!output)
    return error(openError);
  model->module().print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
