//===- ProgramCost.h - The cost model on an executable, and its fit -*- C++
//-*-===//
//
// Prices a lowered executable, the program that actually runs, with the
// cost model, and fits a calibrated device profile to measured runs of
// several executables: per kernel family a launch cost and a scale of
// the roofline, per collective kind a latency, a bandwidth and a cost per
// contiguous run, and a
// fixed cost per step. tessel-tune fits it to the per-instruction
// profiles of the plans it measures; docs/design/tuning.md says why this
// form.
//
// An executable's work is kept as a summary (ProgramWork) that prints as
// one line, so a tuning log can re-price a plan it does not compile.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_COST_PROGRAMCOST_H
#define TESSEL_COMPILER_COST_PROGRAMCOST_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/cost/CostModel.h"
#include "runtime/proto/executable.pb.h"

namespace tessel::cost {

/// Instructions of one kind with the same figures: a kernel family (the
/// instruction's op: "dot_general", "fusion", "pad", ...) or a collective
/// (`family` its name, "all_reduce", ...).
struct WorkItem {
  std::string family;
  bool collective = false;
  /// How many per device and step (the devices' average).
  double count = 0;
  /// A kernel's FLOPs and the bytes it reads and writes; a collective's
  /// bytes as CostModel::collectiveSeconds takes them.
  double flops = 0, bytes = 0;
  std::string elementType;
  /// A collective's members (device ids).
  std::vector<int64_t> group;
  /// A collective's contiguous runs a member moves (CostModel::
  /// collectiveSeconds): 1 for a whole buffer, the outer size times the
  /// parts for pieces along an inner dimension.
  double runs = 0;
};

/// An overlapped collective (proto::Collective::async) and the kernels a
/// device runs between its start and its wait, which it can hide behind.
struct OverlapWindow {
  WorkItem collective;
  std::vector<WorkItem> kernels;
};

/// What each device does in a step of an executable.
struct ProgramWork {
  int64_t devices = 1;
  std::vector<WorkItem> items;
  /// Every device's overlapped collectives (counts per device and step,
  /// as the items'); each is in `items` too.
  std::vector<OverlapWindow> windows;
};

/// The work of `executable`'s device programs.
ProgramWork programWork(const proto::Executable &executable);

/// One line, and back (an error for a line that is not one).
std::string formatWork(const ProgramWork &work);
absl::StatusOr<ProgramWork> parseWork(const std::string &line);

/// Seconds per device and step of each family (kernel op or collective
/// name) by `model`: kernels times the model's computeShare.
std::map<std::string, double> familySeconds(const ProgramWork &work,
                                            const CostModel &model);

/// One instruction of a device's program as the model prices it.
struct InstructionCost {
  std::string family, location;
  bool collective = false;
  double seconds = 0;
};

/// Device `device`'s instructions in program order, each priced by
/// `model` as familySeconds prices them (empty for no such device).
std::vector<InstructionCost>
instructionCosts(const proto::Executable &executable, int device,
                 const CostModel &model);

/// Seconds per step by `model`: its fixed cost plus every family's, less
/// what overlapped collectives hide (hiddenSeconds).
double programSeconds(const ProgramWork &work, const CostModel &model);

/// Seconds per step that overlapped collectives hide behind the kernels
/// between their start and wait: each hides as much of itself as they
/// take. None where the devices share one processor (host threads): there
/// a collective's copying and reducing takes the cores the kernels need,
/// as bench/overlap.sh measures.
double hiddenSeconds(const ProgramWork &work, const CostModel &model);

/// A measured executable: its work, the seconds per device and step its
/// instruction profile gave each family, and the step's median.
struct Observation {
  ProgramWork work;
  std::map<std::string, double> familySeconds;
  double stepSeconds = 0;
};

/// `base` calibrated to `observations`: a `kernels` entry for every kernel
/// family they ran (launch seconds, and rates that scale the base's
/// roofline), a `collectives` entry for every collective kind (latency,
/// bandwidth), and the step's fixed costs (what the step took beyond its
/// families). Each is a non-negative least-squares fit of errors relative
/// to the step, so what matters to a step's time matters to the fit.
/// `base.shared_processor` says how compute scales with devices.
absl::StatusOr<proto::DeviceProfile>
fitProfile(const proto::DeviceProfile &base,
           const std::vector<Observation> &observations);

/// The x >= 0 minimising sum_i w_i (a_i . x - y_i)^2, for a few columns
/// (every subset of them is tried: exact, and cheap for up to 4).
std::vector<double>
nonNegativeLeastSquares(const std::vector<std::vector<double>> &rows,
                        const std::vector<double> &y,
                        const std::vector<double> &weights);

} // namespace tessel::cost

#endif // TESSEL_COMPILER_COST_PROGRAMCOST_H
