//===- CbcSolver.cpp - IlpSolver on COIN-OR CBC ---------------------------===//

#include <cmath>

#include "CbcModel.hpp"
#include "CoinPackedMatrix.hpp"
#include "OsiClpSolverInterface.hpp"
#include "passes/autoshard/IlpSolver.h"

namespace tessel::autoshard {
namespace {

class CbcIlpSolver : public IlpSolver {
public:
  IlpResult solve(const IlpProblem &problem, double seconds,
                  const std::vector<double> *start) override {
    int columns = static_cast<int>(problem.objective.size());
    CoinPackedMatrix matrix(/*colordered=*/false, 0, 0);
    matrix.setDimensions(0, columns);
    std::vector<double> rowLower, rowUpper;
    double infinity = OsiClpSolverInterface().getInfinity();
    auto bound = [&](double value) {
      return std::isinf(value) ? (value > 0 ? infinity : -infinity) : value;
    };
    for (const IlpProblem::Row &row : problem.rows) {
      matrix.appendRow(static_cast<int>(row.columns.size()), row.columns.data(),
                       row.values.data());
      rowLower.push_back(bound(row.lower));
      rowUpper.push_back(bound(row.upper));
    }
    std::vector<double> lower, upper;
    for (int c = 0; c < columns; ++c) {
      lower.push_back(bound(problem.lower[c]));
      upper.push_back(bound(problem.upper[c]));
    }
    OsiClpSolverInterface solver;
    solver.loadProblem(matrix, lower.data(), upper.data(),
                       problem.objective.data(), rowLower.data(),
                       rowUpper.data());
    for (int c = 0; c < columns; ++c)
      if (problem.integer[c])
        solver.setInteger(c);
    solver.messageHandler()->setLogLevel(0);

    CbcModel model(solver);
    model.setLogLevel(0);
    model.messageHandler()->setLogLevel(0);
    model.setMaximumSeconds(seconds);
    if (start && static_cast<int>(start->size()) == columns) {
      double objective = 0;
      for (int c = 0; c < columns; ++c)
        objective += problem.objective[c] * (*start)[c];
      model.setBestSolution(start->data(), columns, objective,
                            /*check=*/true);
    }
    model.branchAndBound();

    IlpResult result;
    const double *best = model.bestSolution();
    if (model.isProvenInfeasible())
      result.status = IlpResult::Infeasible;
    else if (best && model.isProvenOptimal())
      result.status = IlpResult::Optimal;
    else if (best)
      result.status = IlpResult::Feasible;
    if (best) {
      result.values.assign(best, best + columns);
      result.objective = model.getObjValue();
    }
    return result;
  }
};

} // namespace

std::unique_ptr<IlpSolver> createCbcSolver() {
  return std::make_unique<CbcIlpSolver>();
}

} // namespace tessel::autoshard
