//===- Toulbar2Solver.cpp - WcspSolver by the toulbar2 program ------------===//

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "compiler/support/Subprocess.h"
#include "passes/autoshard/WcspSolver.h"

namespace tessel::autoshard {
namespace {

/// The toulbar2 to run: $TESSEL_TOULBAR2, else the first on PATH.
std::string findToulbar2() {
  if (const char *given = std::getenv("TESSEL_TOULBAR2"); given && *given)
    return access(given, X_OK) == 0 ? given : "";
  const char *path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/toulbar2");
    if (access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

/// The problem in toulbar2's .wcsp format: a header (name, variables,
/// largest domain, tables, top), the domains, then each table with a
/// default cost of 0 and its non-zero entries.
std::string wcspText(const WcspProblem &problem) {
  int32_t largest = 1;
  for (int32_t d : problem.domains)
    largest = std::max(largest, d);
  std::string text =
      absl::StrCat("tessel ", problem.domains.size(), " ", largest, " ",
                   problem.tables.size(), " ", problem.top, "\n");
  for (size_t i = 0; i < problem.domains.size(); ++i)
    absl::StrAppend(&text, i ? " " : "", problem.domains[i]);
  text += "\n";
  for (const WcspProblem::Table &table : problem.tables) {
    int64_t entries = 0;
    for (int64_t cost : table.costs)
      entries += cost != 0;
    if (table.v < 0) {
      absl::StrAppend(&text, "1 ", table.u, " 0 ", entries, "\n");
      for (size_t a = 0; a < table.costs.size(); ++a)
        if (table.costs[a])
          absl::StrAppend(&text, a, " ", std::min(table.costs[a], problem.top),
                          "\n");
      continue;
    }
    absl::StrAppend(&text, "2 ", table.u, " ", table.v, " 0 ", entries, "\n");
    int32_t columns = problem.domains[table.v];
    for (size_t k = 0; k < table.costs.size(); ++k)
      if (table.costs[k])
        absl::StrAppend(&text, k / columns, " ", k % columns, " ",
                        std::min(table.costs[k], problem.top), "\n");
  }
  return text;
}

class Toulbar2Solver : public WcspSolver {
public:
  explicit Toulbar2Solver(std::string program) : program(std::move(program)) {}

  using WcspSolver::solve;
  absl::StatusOr<WcspResult> solve(const WcspProblem &problem,
                                   const WcspLimits &limits) override {
    auto start = std::chrono::steady_clock::now();
    auto since = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           start)
          .count();
    };
    double seconds = limits.seconds;
    const char *tmp = std::getenv("TMPDIR");
    std::string path =
        absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/tessel-XXXXXX.wcsp");
    int fd = mkstemps(path.data(), 5);
    if (fd < 0)
      return absl::InternalError("cannot make a file for toulbar2's problem");
    close(fd);
    struct Remove {
      std::string path;
      ~Remove() { std::remove(path.c_str()); }
    } remove{path};
    {
      std::ofstream file(path, std::ios::binary);
      file << wcspText(problem);
      if (!file)
        return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    // toulbar2 stops itself at -timer (whole seconds) and says so; the
    // deadline on the process (the caller's time and two seconds) is for
    // a toulbar2 that does not, on a loaded machine. Killed there, what it
    // printed still holds its best answer so far: on IOPDDL R a round of
    // 36 s was killed at 38 s in two runs of four and its answers lost
    // (the search then ended at 1.3x the contest's best, not 1.01-1.10x).
    // Its first answer is seen as it is printed; with a multiple given,
    // the run is stopped once long enough past it, unless it has proven
    // its answer (then it is ending with it). Only what is new since the
    // last look (and a marker's length before it) is searched.
    int timer = std::max(1, static_cast<int>(std::floor(seconds)));
    double firstAnswer = -1;
    bool proven = false, stopped = false;
    size_t seen = 0;
    auto enough = [&](absl::string_view printed) {
      constexpr size_t kMarker = 16;
      absl::string_view fresh =
          printed.substr(seen > kMarker ? seen - kMarker : 0);
      seen = printed.size();
      if (firstAnswer < 0 && absl::StrContains(fresh, "New solution:"))
        firstAnswer = since();
      proven |= absl::StrContains(fresh, "Optimum:");
      stopped = !proven && firstAnswer >= 0 && limits.firstAnswerMultiple > 0 &&
                since() >= std::max(limits.atLeast,
                                    limits.firstAnswerMultiple * firstAnswer);
      return stopped;
    };
    std::string printed;
    absl::StatusOr<std::string> output =
        runCommand({program, path, absl::StrCat("-timer=", timer), "-s"},
                   std::max<double>(seconds, timer) + 2.0, &printed, enough);
    absl::StatusOr<WcspResult> result;
    if (absl::IsDeadlineExceeded(output.status()))
      result = parse(printed, problem.domains.size(), /*complete=*/false);
    else if (!output.ok())
      return output.status();
    else
      result = parse(*output, problem.domains.size(), /*complete=*/!stopped);
    if (result.ok() && !result->solution.empty())
      result->firstAnswerSeconds = firstAnswer;
    return result;
  }

private:
  /// toulbar2's report: each better solution as "New solution: <cost>"
  /// and a line of values; bounds as "Optimum: <cost>" (proven), else
  /// "Optimality gap: [<lower>, <upper>]", "Initial lower and upper
  /// bounds: [<lower>, ...]" or "... dual bound: <lower>".
  /// Output cut short by a kill (not `complete`) may end between a
  /// solution's cost and its values: the last whole one counts.
  static absl::StatusOr<WcspResult> parse(const std::string &output,
                                          size_t variables, bool complete) {
    WcspResult result;
    bool haveSolution = false;
    int64_t pendingCost = 0;
    for (absl::string_view line : absl::StrSplit(output, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      auto number = [](absl::string_view text, int64_t &value) {
        text = absl::StripAsciiWhitespace(text);
        size_t end = text.find_first_of(" ,]");
        return absl::SimpleAtoi(text.substr(0, end), &value);
      };
      int64_t value;
      if (absl::ConsumePrefix(&line, "New solution:")) {
        if (number(line, value)) {
          pendingCost = value;
          haveSolution = true;
        }
      } else if (absl::ConsumePrefix(&line, "Optimum:")) {
        if (number(line, value)) {
          result.cost = result.lowerBound = value;
          result.optimal = true;
        }
      } else if (absl::ConsumePrefix(&line, "Optimality gap: [") ||
                 absl::ConsumePrefix(&line,
                                     "Initial lower and upper bounds: [")) {
        if (number(line, value) && !result.optimal)
          result.lowerBound = std::max(result.lowerBound, value);
      } else if (size_t at = line.find("dual bound: ");
                 at != absl::string_view::npos) {
        if (number(line.substr(at + 12), value) && !result.optimal)
          result.lowerBound = std::max(result.lowerBound, value);
      } else if (haveSolution && !line.empty() &&
                 std::isdigit(static_cast<unsigned char>(line[0]))) {
        std::vector<int32_t> values;
        for (absl::string_view field :
             absl::StrSplit(line, ' ', absl::SkipEmpty())) {
          int32_t v;
          if (!absl::SimpleAtoi(field, &v))
            break;
          values.push_back(v);
        }
        if (values.size() == variables) {
          result.solution = std::move(values);
          result.cost = pendingCost;
        }
      }
    }
    if (complete && haveSolution && result.solution.empty())
      return absl::InternalError(
          "toulbar2 reported a solution without its values");
    if (!haveSolution || !complete)
      result.optimal = false; // Nothing (proven) to be optimal about.
    return result;
  }

  std::string program;
};

} // namespace

std::unique_ptr<WcspSolver> createToulbar2Solver() {
  static const std::string program = findToulbar2();
  if (program.empty())
    return nullptr;
  return createToulbar2Solver(program);
}

std::unique_ptr<WcspSolver> createToulbar2Solver(std::string program) {
  return std::make_unique<Toulbar2Solver>(std::move(program));
}

} // namespace tessel::autoshard
