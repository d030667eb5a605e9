//===- Tuner.h - Autotuned search over meshes and plans ---------*- C++ -*-===//
//
// What tessel-tune runs: for a device count, every mesh (factorisations
// into one to three axes) and per mesh a set of candidate plans (the cost
// model's choice, pure data parallelism, data parallelism on the first
// axis with the rest chosen by the cost model, and plans the user gives);
// each priced by the cost model, the most promising compiled and measured
// on the host backend, the model's estimates calibrated to the
// measurements, re-ranked, and measured again by successive halving until
// the time budget ends. Measurements go to a tuning log keyed by the
// executable's fingerprint, so a second search measures nothing twice, and
// so does what compiling each candidate gave (fingerprint, modeled time),
// so a second search compiles only what it has to measure.
//
// docs/design/tuning.md says why successive halving and what the
// calibration fits.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TUNE_TUNER_H
#define TESSEL_COMPILER_TUNE_TUNER_H

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/api/Tessel.h"
#include "compiler/cost/ProgramCost.h"

namespace tessel::tune {

/// A mesh: axis names and sizes, major to minor.
using MeshShape = std::vector<std::pair<std::string, int64_t>>;

/// Every factorisation of `devices` into 1..`maxAxes` axes of size > 1
/// (named x, y, z), in order of the number of axes, then of axis sizes;
/// {{}} (no axes) for one device.
std::vector<MeshShape> meshesFor(int64_t devices, int maxAxes = 3);

/// "x=2,y=4".
std::string meshText(const MeshShape &mesh);

/// Median, fastest, slowest and quartiles of several timed runs, in
/// seconds.
struct Measurement {
  double median = 0, fastest = 0, slowest = 0;
  /// The interquartile range: two measurements whose ranges do not overlap
  /// are told apart; overlapping ones are a close call.
  double lowerQuartile = 0, upperQuartile = 0;
  int runs = 0;
  /// Seconds per device and step of each kernel family and collective
  /// kind ("dot_general", "all_reduce", ...), from a profiled run of the
  /// same executable: what the calibration fits.
  std::map<std::string, double> familySeconds;
  /// Taken from the tuning log, not measured in this search.
  bool fromLog = false;
};

struct Candidate {
  std::string mesh;
  /// "auto", "auto#2" (the cost model's second best), "data_parallel",
  /// "data_x_auto", or a user plan's name.
  std::string name;
  /// The constraints given to the cost model (empty for "auto").
  proto::Plan constraints;
  /// After compiling: the modeled seconds per step (compute +
  /// communication), before and after calibration, and the peak bytes
  /// per device the model expects.
  double modeledSeconds = 0, calibratedSeconds = 0;
  int64_t peakBytes = 0;
  /// The plan in brief: how many of the model's parameters it splits.
  int splitParameters = 0, parameters = 0;
  std::string fingerprint;
  /// What the executable does per device and step, for pricing it with
  /// the calibrated profile.
  std::optional<cost::ProgramWork> work;
  std::optional<Measurement> measured;
  /// Why it was dropped (failed to compile or run); empty otherwise.
  std::string error;
  /// The compiled plan, as a plan file.
  std::string planText;
};

struct TuneOptions {
  std::map<std::string, std::vector<int64_t>> inputShapes;
  int64_t devices = 1;
  /// Seconds the whole search may take (compiling and measuring).
  double budgetSeconds = 60;
  /// How many of the best-ranked candidates the first round measures.
  int topK = 8;
  /// Runs of the confirmation round (TuneResult::confirmation; 0: none).
  int confirmRuns = 10;
  /// Rounds of successive halving at most (0: until one candidate is left
  /// or the budget ends). tessel-calibrate measures every candidate once:
  /// topK above their number and one round.
  int rounds = 0;
  /// Runs per measurement in the first round (later rounds double it),
  /// after `warmup` runs that are not timed.
  int runs = 3;
  int warmup = 2;
  /// On the host backend a timed run (a sample) of an executable faster
  /// than this is a burst of back-to-back runs lasting at least this long,
  /// its mean per run the sample: a lone sub-millisecond run on a loaded
  /// machine measures the scheduler and cold caches more than the plan.
  double minSampleSeconds = 0.002;
  /// Threads in all for the host backend (0: every core); under MPI,
  /// split among the ranks.
  int threads = 0;
  /// Where candidates are measured: "host" (device threads in this
  /// process, runs of the candidates interleaved) or "mpi" (each candidate
  /// saved and run by `mpirun -np <devices> <tesselRun> --backend mpi`, one
  /// job at a time, each with a deadline of `mpiTimeoutSeconds`).
  std::string backend = "host";
  std::string mpirun = "mpirun";
  std::string tesselRun = "tessel-run";
  double mpiTimeoutSeconds = 300;
  /// The cost model's profile, which the calibration starts from.
  std::string deviceProfile = "host";
  /// How many of the costliest decisions (the largest weights) are
  /// forced each way (replicated, split) for candidates of their own.
  int forcedDecisions = 2;
  /// How many of the cost model's next-best plans on each mesh become
  /// candidates ("auto#2", ...): its K best plans that differ in the
  /// layout of one of the largest inputs and parameters
  /// (AutoShardOptions::alternatives).
  int kBest = 3;
  /// The cost model's search time per candidate.
  double autoSeconds = 2;
  /// Every candidate compiled with its collectives overlapped, this many
  /// in flight (ShardingOptions::overlapCollectives): what is measured,
  /// and what the model prices (cost::hiddenSeconds), is then the
  /// overlapped step.
  int overlapCollectives = 0;
  /// The tuning log (read, then appended to); empty: none.
  std::string logPath;
  /// More candidates: name -> plan, tried on every mesh whose axes they
  /// name.
  std::vector<std::pair<std::string, proto::Plan>> userPlans;
  /// Told what is being done, a line at a time.
  std::function<void(const std::string &)> onProgress;
};

/// The device profile fitted to the measured candidates (see
/// cost::fitProfile), and the model's error before (the profile --auto
/// used) and after.
struct Calibration {
  /// Empty until something was measured.
  std::optional<proto::DeviceProfile> profile;
  double mapeBefore = 0, mapeAfter = 0;
  double tauBefore = 0, tauAfter = 0;
  /// Kendall's tau over the pairs the measurements tell apart (their
  /// interquartile ranges do not overlap): the ranking the noise leaves
  /// room to judge.
  double separatedTauBefore = 0, separatedTauAfter = 0;
  int separatedPairs = 0, pairs = 0;
  int measured = 0;
};

/// A candidate measured again at the end of the search, beside the others
/// of the confirmation round.
struct Confirmed {
  int candidate = -1;
  /// "search's #1" .. "#3" (the search's three fastest executables),
  /// "expert #1" .. "#3" (the three fastest of data_parallel, megatron,
  /// data_x_megatron, on any mesh) or "uncalibrated auto" (the "auto"
  /// candidate the raw cost model ranks first: what --auto alone picks).
  std::string role;
  Measurement measured;
};

struct TuneResult {
  std::vector<Candidate> candidates;
  /// Index of the best measured candidate in `candidates` (the fastest of
  /// the confirmation round, if there is one).
  int best = -1;
  /// The search's three fastest, the three fastest expert plans and the
  /// uncalibrated --auto plan, measured again together in one interleaved
  /// round of `confirmRuns` runs after the search: the search measured
  /// them in rounds at different times, and the fastest of many noisy
  /// measurements flatters itself. The fastest of this round is `best`;
  /// its ratios to the others are what tuning gained.
  std::vector<Confirmed> confirmation;
  int confirmRuns = 0;
  Calibration calibration;
  int newMeasurements = 0, logMeasurements = 0;
  /// Candidates compiled in this search (a warm log spares those it
  /// need not measure).
  int compilations = 0;
  double seconds = 0;
};

absl::StatusOr<TuneResult> tune(const ModelSource &source,
                                const TuneOptions &options);

/// Kendall's tau-b between two equally long series (1: same order).
double kendallTau(const std::vector<double> &a, const std::vector<double> &b);

/// Kendall's tau between `modeled` and the medians of `measured` over the
/// pairs whose interquartile ranges do not overlap (0 if there are none);
/// `separated` is set to how many pairs that is.
double separatedKendallTau(const std::vector<double> &modeled,
                           const std::vector<Measurement> &measured,
                           int &separated);

/// Whether `a` and `b` tell two executables apart: their interquartile
/// ranges do not overlap.
bool separated(const Measurement &a, const Measurement &b);

/// Mean absolute percentage error of `modeled` against `measured`.
double meanAbsolutePercentageError(const std::vector<double> &modeled,
                                   const std::vector<double> &measured);

/// Fits `base` to the measured candidates of `candidates` (those with a
/// work summary and a family profile), prices every candidate with a work
/// summary by the fit (calibratedSeconds), and says how far the model was
/// from the measurements before and after. `sharedProcessor`: the
/// candidates ran as threads of one processor.
Calibration calibrate(const proto::DeviceProfile &base, bool sharedProcessor,
                      std::vector<Candidate> &candidates);

/// The table tessel-tune prints: every candidate, measured or not.
std::string formatTable(const TuneResult &result);

/// The fastest of the confirmation round (null if it has none): the
/// search's answer.
const Confirmed *fastestConfirmed(const TuneResult &result);

/// The confirmation round as lines: each role's candidate and median, and
/// the tuned plan's time over the others' ("" without one).
std::string formatConfirmation(const TuneResult &result);

/// The same as a self-contained HTML page (no script, nothing fetched):
/// the table, a scatter plot of modeled against measured time before and
/// after calibration (one point per measured executable), and the best
/// plan. `title` names the model and the search.
std::string formatHtml(const TuneResult &result, const std::string &title);

} // namespace tessel::tune

#endif // TESSEL_COMPILER_TUNE_TUNER_H
