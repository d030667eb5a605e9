//===- iopddl.cpp - The solver core on real XLA auto-sharding instances ---===//
//
// Reads one IOPDDL contest instance (uncompressed JSON) from a file or
// standard input into the ShardingProblem the auto-shard pass builds, runs
// the same solver within the instance's time limit, and prints one line:
// feasibility, total cost, the lower bound proven meanwhile and the gap
// between them, and the times to the first feasible solution, to one
// within 1.10x of the final cost, and to the final one. Progress goes to
// stderr as the solution improves.
//
//   iopddl [--seconds 60] [--quiet] [--solution out.txt] [--bound-only]
//          [--wcsp-share 0.6]
//          [file.json]
//
// --bound-only runs the lower bound alone for the time (LowerBound.h), its
// progress on stderr: how fast it closes in, without the search; and the
// cheapest of the choices its message passing decoded (the search's
// starts, MessagePassing.cpp), among those that fit and among all.
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "passes/autoshard/LowerBound.h"
#include "passes/autoshard/Solver.h"

int main(int argc, char **argv) {
  double seconds = 60;
  double wcspShare = tessel::autoshard::SolverOptions().wcspShare;
  bool quiet = false, boundOnly = false;
  std::string path, solutionPath;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else if (arg == "--wcsp-share" && i + 1 < argc)
      wcspShare = std::stod(argv[++i]);
    else if (arg == "--quiet")
      quiet = true;
    else if (arg == "--bound-only")
      boundOnly = true;
    else if (arg == "--solution" && i + 1 < argc)
      solutionPath = argv[++i];
    else if (!arg.empty() && arg[0] != '-')
      path = arg;
    else {
      std::cerr << "usage: iopddl [--seconds 60] [--quiet] [--solution "
                   "out.txt] [--bound-only] [--wcsp-share 0.6] [file.json]\n";
      return 2;
    }
  }
  auto begin = std::chrono::steady_clock::now();
  std::string text;
  if (path.empty()) {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    text = buffer.str();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "iopddl: cannot read " << path << "\n";
      return 1;
    }
    text.assign(std::istreambuf_iterator<char>(in),
                std::istreambuf_iterator<char>());
  }
  absl::StatusOr<tessel::autoshard::ShardingProblem> problem =
      tessel::autoshard::parseIopddlJson(text);
  if (!problem.ok()) {
    std::cerr << "iopddl: " << problem.status().message() << "\n";
    return 1;
  }
  text.clear();
  text.shrink_to_fit();
  double readSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();

  if (boundOnly) {
    tessel::autoshard::LowerBoundOptions boundOptions;
    boundOptions.seconds = seconds;
    auto boundStart = std::chrono::steady_clock::now();
    boundOptions.onBound = [&](tessel::autoshard::Cost bound) {
      if (!quiet)
        std::cerr << "  "
                  << std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - boundStart)
                         .count()
                  << " s: " << tessel::autoshard::toString(bound) << "\n";
    };
    // As solve() does: the strategies that cannot fit go first.
    std::optional<tessel::autoshard::Presolved> presolved =
        tessel::autoshard::withoutStrategiesThatCannotFit(*problem);
    const tessel::autoshard::ShardingProblem &bounded =
        presolved ? presolved->problem : *problem;
    std::optional<tessel::autoshard::Cost> bestDecoded, bestAnyDecoded;
    boundOptions.onDecoded = [&](const std::vector<int32_t> &choice) {
      tessel::autoshard::Evaluation e =
          tessel::autoshard::evaluate(bounded, choice);
      if (!bestAnyDecoded || e.cost < *bestAnyDecoded)
        bestAnyDecoded = e.cost;
      if (e.feasible && (!bestDecoded || e.cost < *bestDecoded)) {
        bestDecoded = e.cost;
        if (!quiet)
          std::cerr << "  decoded " << tessel::autoshard::toString(e.cost)
                    << "\n";
      }
    };
    tessel::autoshard::LowerBoundResult result =
        tessel::autoshard::lowerBound(bounded, boundOptions);
    auto text = [](const std::optional<tessel::autoshard::Cost> &cost) {
      return cost ? tessel::autoshard::toString(*cost) : std::string("-");
    };
    std::printf("%-12s bound %-22s rounds %lld  %.2f s%s  decoded: best "
                "fitting %s, best any %s\n",
                problem->name.c_str(),
                tessel::autoshard::toString(result.bound).c_str(),
                static_cast<long long>(result.rounds), result.seconds,
                result.converged ? "  (converged)" : "",
                text(bestDecoded).c_str(), text(bestAnyDecoded).c_str());
    return 0;
  }
  tessel::autoshard::SolverOptions options;
  options.seconds = seconds;
  options.wcspShare = wcspShare;
  std::vector<tessel::autoshard::SolverProgress> progress;
  options.onProgress = [&](const tessel::autoshard::SolverProgress &p) {
    progress.push_back(p);
    if (!quiet)
      std::cerr << "  " << p.seconds
                << " s: " << tessel::autoshard::toString(p.cost) << " ("
                << p.method << ")\n";
  };
  tessel::autoshard::Solution solution =
      tessel::autoshard::solve(*problem, options);
  // Forbidden choices count as feasible in the contest (their cost is
  // added) but no plan should make them.
  int forbidden = 0;
  for (size_t i = 0; i < problem->nodes.size(); ++i)
    forbidden += problem->nodes[i].costs[solution.choice[i]] >=
                 tessel::autoshard::kForbidden;
  for (const auto &edge : problem->edges)
    forbidden +=
        edge.costs[static_cast<size_t>(solution.choice[edge.u]) *
                       problem->nodes[edge.v].costs.size() +
                   solution.choice[edge.v]] >= tessel::autoshard::kForbidden;
  // When the search first came within 1.10x of where it ended.
  double within = -1;
  for (const tessel::autoshard::SolverProgress &p : progress)
    if (within < 0 && static_cast<double>(p.cost) <=
                          1.10 * static_cast<double>(solution.cost))
      within = p.seconds;
  std::string bound = "-", gap = "-";
  if (solution.lowerBound) {
    bound = tessel::autoshard::toString(*solution.lowerBound);
    if (solution.feasible && solution.cost > 0) {
      char text[32];
      std::snprintf(
          text, sizeof(text), "%.1f%%",
          100.0 * static_cast<double>(solution.cost - *solution.lowerBound) /
              static_cast<double>(solution.cost));
      gap = text;
    }
  }
  std::printf("%-12s nodes %6zu  edges %6zu  read %5.1f s  %-10s cost %-22s "
              "bound %-22s gap %-7s forbidden %d  first %7.2f s  "
              "within 1.10x %7.2f s  final %7.2f s  (%s%s)\n",
              problem->name.c_str(), problem->nodes.size(),
              problem->edges.size(), readSeconds,
              solution.feasible ? "feasible" : "INFEASIBLE",
              tessel::autoshard::toString(solution.cost).c_str(), bound.c_str(),
              gap.c_str(), forbidden, solution.firstFeasibleSeconds, within,
              solution.seconds, solution.method.c_str(),
              solution.optimal ? ", optimal" : "");
  if (!solutionPath.empty()) {
    // One strategy index per node, as the contest's evaluator reads them.
    std::ofstream out(solutionPath);
    for (int32_t s : solution.choice)
      out << s << "\n";
  }
  return solution.feasible ? 0 : 1;
}
