//===- PlanReport.h - A partition plan as one HTML page ---------*- C++ -*-===//
//
// tessel-compile --report plan.html: one self-contained page (no network,
// no external scripts) with the mesh, each parameter's and the largest
// activations' layouts drawn as blocks held by devices, a step's timeline
// as the cost model prices the executable's instructions, the memory
// curve over the program against the budget, and the collectives with
// why each is there.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_REPORT_PLANREPORT_H
#define TESSEL_COMPILER_REPORT_PLANREPORT_H

#include <cstdint>
#include <string>

#include "compiler/cost/CostModel.h"
#include "compiler/report/Layout.h"
#include "runtime/proto/executable.pb.h"

namespace tessel::report {

struct PlanReportInput {
  /// What was compiled (the model's path).
  std::string title;
  /// The layouts after propagation (empty without a mesh).
  ModuleLayouts layouts;
  const proto::Executable *executable = nullptr;
  /// Prices the timeline.
  const cost::CostModel *model = nullptr;
  /// The memory budget line, bytes per device (0: the model's memory).
  int64_t budgetBytes = 0;
  /// --auto's summary lines, if it chose the plan.
  std::string autoSummary;
  /// How many of the largest activations to draw.
  int largestActivations = 12;
};

/// The page, as text.
std::string planReportHtml(const PlanReportInput &input);

} // namespace tessel::report

#endif // TESSEL_COMPILER_REPORT_PLANREPORT_H
