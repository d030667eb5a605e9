//===- iopddl.cpp - The solver core on real XLA auto-sharding instances ---===//
//
// Reads one IOPDDL contest instance (uncompressed JSON) from a file or
// standard input into the ShardingProblem the auto-shard pass builds, runs
// the same solver within the instance's time limit, and prints one line:
// feasibility, total cost, and the times to the first feasible and to the
// final solution. Progress goes to stderr as the solution improves.
//
//   iopddl [--seconds 60] [--quiet] [--solution out.txt] [file.json]
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "passes/autoshard/Solver.h"

int main(int argc, char **argv) {
  double seconds = 60;
  bool quiet = false;
  std::string path, solutionPath;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else if (arg == "--quiet")
      quiet = true;
    else if (arg == "--solution" && i + 1 < argc)
      solutionPath = argv[++i];
    else if (!arg.empty() && arg[0] != '-')
      path = arg;
    else {
      std::cerr << "usage: iopddl [--seconds 60] [--quiet] [--solution "
                   "out.txt] [file.json]\n";
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

  tessel::autoshard::SolverOptions options;
  options.seconds = seconds;
  if (!quiet)
    options.onProgress = [](const tessel::autoshard::SolverProgress &p) {
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
  std::printf("%-12s nodes %6zu  edges %6zu  read %5.1f s  %-10s cost %-22s "
              "forbidden %d  first %7.2f s  final %7.2f s  (%s%s)\n",
              problem->name.c_str(), problem->nodes.size(),
              problem->edges.size(), readSeconds,
              solution.feasible ? "feasible" : "INFEASIBLE",
              tessel::autoshard::toString(solution.cost).c_str(), forbidden,
              solution.firstFeasibleSeconds, solution.seconds,
              solution.method.c_str(), solution.optimal ? ", optimal" : "");
  if (!solutionPath.empty()) {
    // One strategy index per node, as the contest's evaluator reads them.
    std::ofstream out(solutionPath);
    for (int32_t s : solution.choice)
      out << s << "\n";
  }
  return solution.feasible ? 0 : 1;
}
