//===- CbcSolver.cpp - IlpSolver on COIN-OR CBC ---------------------------===//

#include <algorithm>
#include <chrono>
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
    auto began = std::chrono::steady_clock::now();
    int columns = static_cast<int>(problem.objective.size());
    int rows = static_cast<int>(problem.rows.size());
    // The rows in one piece: appending them one at a time reallocates the
    // matrix each time (37 s for 2,000 rows of 750 entries).
    std::vector<CoinBigIndex> rowStarts = {0};
    std::vector<int> indices;
    std::vector<double> elements, rowLower, rowUpper;
    double infinity = OsiClpSolverInterface().getInfinity();
    auto bound = [&](double value) {
      return std::isinf(value) ? (value > 0 ? infinity : -infinity) : value;
    };
    for (const IlpProblem::Row &row : problem.rows) {
      indices.insert(indices.end(), row.columns.begin(), row.columns.end());
      elements.insert(elements.end(), row.values.begin(), row.values.end());
      rowStarts.push_back(static_cast<CoinBigIndex>(indices.size()));
      rowLower.push_back(bound(row.lower));
      rowUpper.push_back(bound(row.upper));
    }
    CoinPackedMatrix matrix(/*colordered=*/false, columns, rows,
                            static_cast<CoinBigIndex>(indices.size()),
                            elements.data(), indices.data(), rowStarts.data(),
                            /*len=*/nullptr);
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
    // CBC's own limit holds between its nodes, not inside an LP: Clp's
    // primal simplex once ran a region's first LP for 26 minutes of a 180 s
    // search (IOPDDL N). Clp's wall-clock limit ends it; its CPU limit and
    // CBC's default clock count the CPU time of every thread of the
    // process, which the search's bound thread doubles.
    auto spent = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           began)
          .count();
    };
    double left = std::max(0.0, seconds - spent());
    solver.getModelPtr()->setMaximumWallSeconds(left);

    CbcModel model(solver);
    model.setLogLevel(0);
    model.messageHandler()->setLogLevel(0);
    model.setUseElapsedTime(true);
    model.setMaximumSeconds(left);
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
    // An LP that Clp's limit stopped reads to CBC as infeasible, and a
    // given start then as proven optimal: past the limit, neither is a
    // proof.
    bool inTime = spent() < seconds;
    if (inTime && model.isProvenInfeasible())
      result.status = IlpResult::Infeasible;
    else if (inTime && best && model.isProvenOptimal())
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
