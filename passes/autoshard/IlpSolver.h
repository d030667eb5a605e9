//===- IlpSolver.h - Mixed integer programs, behind an interface -*- C++
//-*-===//
//
// The auto-sharding solver states small problems exactly as a mixed integer
// program and hands them to whatever solves those; COIN-OR CBC is the one
// shipped. Variables have bounds and may be integer; rows are sparse with
// a lower and an upper bound.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_ILPSOLVER_H
#define TESSEL_PASSES_AUTOSHARD_ILPSOLVER_H

#include <limits>
#include <memory>
#include <vector>

namespace tessel::autoshard {

struct IlpProblem {
  static constexpr double kInfinity = std::numeric_limits<double>::infinity();

  struct Row {
    std::vector<int> columns;
    std::vector<double> values;
    double lower = -kInfinity, upper = kInfinity;
  };

  /// Per variable: objective coefficient (minimised), bounds, integrality.
  std::vector<double> objective, lower, upper;
  std::vector<bool> integer;
  std::vector<Row> rows;

  /// Adds a variable; returns its index.
  int addVariable(double cost, double low, double high, bool isInteger) {
    objective.push_back(cost);
    lower.push_back(low);
    upper.push_back(high);
    integer.push_back(isInteger);
    return static_cast<int>(objective.size()) - 1;
  }
};

struct IlpResult {
  enum Status {
    Optimal,
    /// A solution, not proven optimal (the time ran out).
    Feasible,
    Infeasible,
    /// No solution found in the time, nor a proof there is none.
    Unknown,
  };
  Status status = Unknown;
  std::vector<double> values;
  double objective = 0;
};

class IlpSolver {
public:
  virtual ~IlpSolver() = default;
  /// Solves within `seconds`, starting from `start` if it is given (a
  /// feasible assignment of every variable).
  virtual IlpResult solve(const IlpProblem &problem, double seconds,
                          const std::vector<double> *start) = 0;
};

/// COIN-OR CBC (branch and cut over CLP).
std::unique_ptr<IlpSolver> createCbcSolver();

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_ILPSOLVER_H
