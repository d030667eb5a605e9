//===- tessel-tune.cpp - Autotuned search over meshes and plans -----------===//
//
//   tessel-tune model.onnx --input-shape x=8x64 --devices 4 --budget 2m
//       [--top-k 8] [--runs 3] [--log tune.log] [--candidate name=plan.txt]
//       [-o best.plan.textproto] [--profile-out calibrated.textproto]
//       [--report tune.html] [--backend host|mpi]
//
// Every mesh of --devices devices, candidate plans on each (the cost
// model's, data parallel, data x cost model, and --candidate plans),
// priced, the most promising measured on the host backend, the model
// calibrated to the measurements and the search narrowed by successive
// halving (compiler/tune/Tuner.h). Prints a table of every candidate and
// writes the best plan (with its mesh: tessel-compile --plan reads it) and
// the calibrated device profile (tessel-compile --auto --device-profile
// reads it).
//
//===----------------------------------------------------------------------===//

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/plan/Plan.h"
#include "compiler/tune/Tuner.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

static cl::OptionCategory tuneCategory("tessel-tune options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model>"),
                                      cl::Required, cl::cat(tuneCategory));
static cl::list<std::string>
    inputShapes("input-shape",
                cl::desc("Pin an input's shape: name=d0xd1x... (repeatable)"),
                cl::value_desc("name=shape"), cl::cat(tuneCategory));
static cl::opt<int64_t> devices("devices",
                                cl::desc("How many host devices to tune for"),
                                cl::init(1), cl::cat(tuneCategory));
static cl::opt<std::string>
    budget("budget",
           cl::desc("Time for the whole search: seconds, or with s, m, h "
                    "(default 60s)"),
           cl::value_desc("time"), cl::init("60s"), cl::cat(tuneCategory));
static cl::opt<int> overlapCollectives(
    "overlap-collectives",
    cl::desc("Compile and measure every candidate with its collectives "
             "overlapped, at most this many in flight (as tessel-compile "
             "--overlap-collectives)"),
    cl::value_desc("n"), cl::init(0), cl::cat(tuneCategory));
static cl::opt<int> topK("top-k",
                         cl::desc("How many of the model's best candidates "
                                  "the first round measures"),
                         cl::init(8), cl::cat(tuneCategory));
static cl::opt<int> runs("runs",
                         cl::desc("Timed runs per candidate in the first "
                                  "round (doubled each round)"),
                         cl::init(3), cl::cat(tuneCategory));
static cl::opt<int> warmup("warmup",
                           cl::desc("Untimed runs before each measurement"),
                           cl::init(2), cl::cat(tuneCategory));
static cl::opt<double> minSampleMs(
    "min-sample-ms",
    cl::desc("Host backend: a timed run of a faster executable is a burst "
             "of back-to-back runs lasting at least this long, its mean the "
             "sample (default 2)"),
    cl::init(2), cl::cat(tuneCategory));
static cl::opt<int> threads("host-threads",
                            cl::desc("Host threads in all (0: every core)"),
                            cl::init(0), cl::cat(tuneCategory));
static cl::opt<int> forcedDecisions(
    "forced-decisions",
    cl::desc("Candidates of the cost model under forced choices: the N "
             "largest weights each replicated and split"),
    cl::init(2), cl::cat(tuneCategory));
static cl::opt<int> confirmRuns(
    "confirm-runs",
    cl::desc("After the search, the search's three fastest, the three "
             "fastest expert plans and --auto's measured again together, "
             "this many runs each in turn; the fastest is the answer (0: "
             "none)"),
    cl::init(10), cl::cat(tuneCategory));
static cl::opt<int> kBest(
    "k-best",
    cl::desc("Candidates of the cost model's next-best plans on each mesh: "
             "its N best after the first that differ in the layout of one "
             "of the largest inputs and parameters (auto#2, ...)"),
    cl::init(3), cl::cat(tuneCategory));
static cl::opt<std::string> backend(
    "backend",
    cl::desc("Where candidates are measured: host (device threads, the "
             "default) or mpi (one process per device: each candidate run "
             "by mpirun and the tessel-run beside this tool)"),
    cl::init("host"), cl::cat(tuneCategory));
static cl::opt<double> mpiTimeout(
    "mpi-timeout",
    cl::desc("With --backend mpi: seconds an MPI job may take before it is "
             "killed and its candidate skipped"),
    cl::init(300), cl::cat(tuneCategory));
static cl::opt<double>
    autoSeconds("auto-seconds",
                cl::desc("The cost model's search time per candidate"),
                cl::init(2.0), cl::cat(tuneCategory));
static cl::opt<std::string>
    deviceProfile("device-profile",
                  cl::desc("The profile the cost model starts from"),
                  cl::init("host"), cl::cat(tuneCategory));
static cl::opt<std::string>
    logPath("log",
            cl::desc("Tuning log: measurements by executable fingerprint, "
                     "read and appended to (a second run reuses them)"),
            cl::value_desc("file"), cl::cat(tuneCategory));
static cl::list<std::string>
    candidates("candidate",
               cl::desc("Another candidate: name=plan.textproto (its specs "
                        "as constraints, on every mesh; repeatable)"),
               cl::value_desc("name=file"), cl::cat(tuneCategory));
static cl::opt<std::string> outputPath("o",
                                       cl::desc("Where to write the best plan"),
                                       cl::value_desc("file"),
                                       cl::cat(tuneCategory));

static cl::opt<std::string> profileOutPath(
    "profile-out",
    cl::desc("Where to write the device profile calibrated to the "
             "measurements"),
    cl::value_desc("file"), cl::cat(tuneCategory));

static cl::opt<std::string> reportPath(
    "report",
    cl::desc("Where to write an HTML report: the table, modeled against "
             "measured times before and after calibration, the best plan"),
    cl::value_desc("file"), cl::cat(tuneCategory));

/// "90", "90s", "2m", "1h" in seconds; nullopt otherwise.
static std::optional<double> parseDuration(std::string text) {
  double unit = 1;
  if (!text.empty() &&
      (text.back() == 's' || text.back() == 'm' || text.back() == 'h')) {
    unit = text.back() == 'h' ? 3600 : text.back() == 'm' ? 60 : 1;
    text.pop_back();
  }
  double value;
  if (!absl::SimpleAtod(text, &value) || value <= 0)
    return std::nullopt;
  return value * unit;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(tuneCategory);
  cl::ParseCommandLineOptions(
      argc, argv, "Tessel: search meshes and plans by measuring them\n");
  auto error = [](const std::string &message) {
    llvm::WithColor::error(llvm::errs(), "tessel-tune") << message << "\n";
    return 1;
  };
  tessel::tune::TuneOptions options;
  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> shapes =
      tessel::parseInputShapes(inputShapes);
  if (!shapes.ok())
    return error(std::string(shapes.status().message()));
  options.inputShapes = *shapes;
  options.devices = devices;
  options.overlapCollectives = overlapCollectives;
  std::optional<double> seconds = parseDuration(budget);
  if (!seconds)
    return error("--budget '" + budget + "' is not a time (90, 90s, 2m or 1h)");
  options.budgetSeconds = *seconds;
  options.topK = topK;
  options.runs = runs;
  options.warmup = warmup;
  options.minSampleSeconds = minSampleMs / 1e3;
  options.threads = threads;
  options.autoSeconds = autoSeconds;
  options.deviceProfile = deviceProfile;
  options.logPath = logPath;
  options.backend = backend;
  options.forcedDecisions = forcedDecisions;
  options.kBest = kBest;
  options.confirmRuns = confirmRuns;
  options.mpiTimeoutSeconds = mpiTimeout;
  // The tessel-run built with this tool, else the one on PATH.
  std::error_code ignored;
  std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ignored);
  if (!self.empty() &&
      std::filesystem::exists(self.parent_path() / "tessel-run", ignored))
    options.tesselRun = (self.parent_path() / "tessel-run").string();
  for (const std::string &given : candidates) {
    size_t eq = given.find('=');
    if (eq == std::string::npos || eq == 0)
      return error("--candidate '" + given + "' is not name=plan-file");
    absl::StatusOr<tessel::proto::Plan> plan =
        tessel::readPlan(given.substr(eq + 1));
    if (!plan.ok())
      return error(std::string(plan.status().message()));
    options.userPlans.emplace_back(given.substr(0, eq), *plan);
  }
  options.onProgress = [](const std::string &line) {
    llvm::errs() << "tessel-tune: " << line << "\n";
  };

  absl::StatusOr<tessel::tune::TuneResult> result =
      tessel::tune::tune(tessel::ModelSource::file(inputPath), options);
  if (!result.ok())
    return error(std::string(result.status().message()));
  llvm::outs() << tessel::tune::formatTable(*result);
  const tessel::tune::Calibration &c = result->calibration;
  llvm::outs() << absl::StrFormat(
      "cost model on %d measured executables: error %.0f%% -> %.0f%% after "
      "calibration, Kendall tau %.2f -> %.2f; on the %d of %d pairs the "
      "measurements tell apart %.2f -> %.2f\n",
      c.measured, c.mapeBefore, c.mapeAfter, c.tauBefore, c.tauAfter,
      c.separatedPairs, c.pairs, c.separatedTauBefore, c.separatedTauAfter);
  const tessel::tune::Candidate &best = result->candidates[result->best];
  llvm::outs() << absl::StrFormat(
      "best: %s %s, %.3f ms per step (measured); %d measured, %d from the "
      "log, in %.1f s\n",
      best.mesh.empty() ? "1 device" : best.mesh, best.name,
      1e3 * best.measured->median, result->newMeasurements,
      result->logMeasurements, result->seconds);
  llvm::outs() << tessel::tune::formatConfirmation(*result);
  if (!outputPath.empty()) {
    std::ofstream out(outputPath);
    out << (best.planText.empty() ? "# one device: nothing to shard\n"
                                  : best.planText);
    if (!out)
      return error("cannot write '" + outputPath + "'");
    llvm::outs() << "plan written to " << outputPath << "\n";
  }
  if (!profileOutPath.empty()) {
    if (!c.profile)
      return error("no candidate was profiled: no calibrated profile to write");
    if (absl::Status status = tessel::cost::writeProfile(
            *c.profile, profileOutPath,
            "# Calibrated by tessel-tune on " + inputPath + "\n");
        !status.ok())
      return error(std::string(status.message()));
    llvm::outs() << "calibrated profile written to " << profileOutPath << "\n";
  }
  if (!reportPath.empty()) {
    std::ofstream out(reportPath);
    out << tessel::tune::formatHtml(
        *result, absl::StrFormat("%s on %d devices", inputPath, devices));
    if (!out)
      return error("cannot write '" + reportPath + "'");
    llvm::outs() << "report written to " << reportPath << "\n";
  }
  return 0;
}
