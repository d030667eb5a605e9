//===- ShardingProblem.cpp - Strategies, edges, memory --------------------===//

#include "passes/autoshard/ShardingProblem.h"

#include "passes/autoshard/UsageTree.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"

namespace tessel::autoshard {

absl::Status validate(const ShardingProblem &problem) {
  int64_t n = static_cast<int64_t>(problem.nodes.size());
  for (int64_t i = 0; i < n; ++i) {
    const ShardingProblem::Node &node = problem.nodes[i];
    if (node.costs.empty() || node.costs.size() != node.usages.size())
      return absl::InvalidArgumentError(absl::StrCat(
          "node ", i, " has ", node.costs.size(), " costs and ",
          node.usages.size(), " usages; it needs one of each per strategy"));
    if (node.start > node.end)
      return absl::InvalidArgumentError(
          absl::StrCat("node ", i, " is live from ", node.start,
                       " to the earlier ", node.end));
  }
  for (size_t e = 0; e < problem.edges.size(); ++e) {
    const ShardingProblem::Edge &edge = problem.edges[e];
    if (edge.u < 0 || edge.u >= n || edge.v < 0 || edge.v >= n)
      return absl::InvalidArgumentError(absl::StrCat(
          "edge ", e, " joins nodes ", edge.u, " and ", edge.v, " of ", n));
    size_t want =
        problem.nodes[edge.u].costs.size() * problem.nodes[edge.v].costs.size();
    if (edge.costs.size() != want)
      return absl::InvalidArgumentError(
          absl::StrCat("edge ", e, " has ", edge.costs.size(),
                       " costs; its ends' strategies make ", want));
  }
  return absl::OkStatus();
}

Evaluation evaluate(const ShardingProblem &problem,
                    const std::vector<int32_t> &choice) {
  Evaluation result;
  std::vector<std::pair<int64_t, int64_t>> events; // (time, usage change)
  for (size_t i = 0; i < problem.nodes.size(); ++i) {
    const ShardingProblem::Node &node = problem.nodes[i];
    result.cost += node.costs[choice[i]];
    if (node.start < node.end && node.usages[choice[i]] != 0) {
      events.emplace_back(node.start, node.usages[choice[i]]);
      events.emplace_back(node.end, -node.usages[choice[i]]);
    }
  }
  for (const ShardingProblem::Edge &edge : problem.edges)
    result.cost += edge.costs[problem.pairOf(edge, choice)];
  // At equal times, ends (negative) first: intervals are half-open.
  std::sort(events.begin(), events.end());
  int64_t live = 0;
  for (const auto &[time, change] : events) {
    live += change;
    result.peakUsage = std::max(result.peakUsage, live);
  }
  result.feasible =
      !problem.usageLimit || result.peakUsage <= *problem.usageLimit;
  return result;
}

LiveSteps liveSteps(const ShardingProblem &problem) {
  std::vector<int64_t> times;
  for (const ShardingProblem::Node &node : problem.nodes)
    if (node.start < node.end)
      times.push_back(node.start);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  LiveSteps result;
  result.steps = static_cast<int64_t>(times.size());
  for (const ShardingProblem::Node &node : problem.nodes) {
    if (node.start >= node.end) {
      result.spans.push_back({0, 0});
      continue;
    }
    auto at = [&](int64_t time) {
      return static_cast<int64_t>(
          std::lower_bound(times.begin(), times.end(), time) - times.begin());
    };
    result.spans.push_back({at(node.start), at(node.end)});
  }
  return result;
}

std::optional<Presolved>
withoutStrategiesThatCannotFit(const ShardingProblem &problem) {
  if (!problem.usageLimit)
    return std::nullopt;
  LiveSteps live = liveSteps(problem);
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  // The least memory live at each step.
  UsageTree least;
  least.reset(live.steps);
  std::vector<int64_t> smallest(n, 0);
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<int64_t> &usages = problem.nodes[i].usages;
    smallest[i] = *std::min_element(usages.begin(), usages.end());
    least.add(live.spans[i].first, live.spans[i].second, smallest[i]);
  }
  int64_t limit = *problem.usageLimit;
  Presolved presolved;
  presolved.kept.resize(n);
  bool removed = false;
  for (int32_t i = 0; i < n; ++i) {
    auto [first, second] = live.spans[i];
    // Room left for this node above its least, at its fullest step.
    int64_t room = limit - least.max(first, second);
    for (int32_t s = 0; s < problem.strategies(i); ++s) {
      if (first < second && problem.nodes[i].usages[s] - smallest[i] > room)
        removed = true;
      else
        presolved.kept[i].push_back(s);
    }
    if (presolved.kept[i].empty())
      return std::nullopt;
  }
  if (!removed)
    return std::nullopt;
  ShardingProblem &pruned = presolved.problem;
  pruned.name = problem.name;
  pruned.usageLimit = problem.usageLimit;
  for (int32_t i = 0; i < n; ++i) {
    const ShardingProblem::Node &node = problem.nodes[i];
    ShardingProblem::Node kept{{}, {}, node.start, node.end};
    for (int32_t s : presolved.kept[i]) {
      kept.costs.push_back(node.costs[s]);
      kept.usages.push_back(node.usages[s]);
    }
    pruned.nodes.push_back(std::move(kept));
  }
  for (const ShardingProblem::Edge &edge : problem.edges) {
    ShardingProblem::Edge kept{edge.u, edge.v, {}};
    int32_t sv = problem.strategies(edge.v);
    for (int32_t a : presolved.kept[edge.u])
      for (int32_t b : presolved.kept[edge.v])
        kept.costs.push_back(edge.costs[static_cast<size_t>(a) * sv + b]);
    pruned.edges.push_back(std::move(kept));
  }
  return presolved;
}

std::string toString(Cost cost) {
  if (cost == 0)
    return "0";
  bool negative = cost < 0;
  unsigned __int128 magnitude = negative ? -static_cast<unsigned __int128>(cost)
                                         : static_cast<unsigned __int128>(cost);
  std::string digits;
  while (magnitude > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  if (negative)
    digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

namespace {

/// A reader for the one JSON shape of the contest files: fast on their
/// hundreds of megabytes of integer arrays, and exact about where it fails.
class JsonReader {
public:
  explicit JsonReader(const std::string &text) : text(text) {}

  absl::StatusOr<ShardingProblem> read();

private:
  void skipSpace() {
    while (at < text.size() &&
           std::isspace(static_cast<unsigned char>(text[at])))
      ++at;
  }
  bool peek(char c) {
    skipSpace();
    return at < text.size() && text[at] == c;
  }
  bool consume(char c) {
    if (!peek(c))
      return false;
    ++at;
    return true;
  }
  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("IOPDDL JSON, at byte ", at, ": ", what));
  }
  absl::Status expect(char c) {
    if (consume(c))
      return absl::OkStatus();
    return error(absl::StrCat("expected '", std::string(1, c), "'"));
  }
  absl::StatusOr<std::string> string();
  absl::StatusOr<int64_t> integer();
  absl::StatusOr<std::vector<int64_t>> integers();
  absl::StatusOr<std::vector<std::vector<int64_t>>> integerLists();
  /// Skips any value.
  absl::Status skip();
  /// Calls `field(key)` for each key of an object.
  template <typename Field> absl::Status object(Field field);

  const std::string &text;
  size_t at = 0;
};

absl::StatusOr<std::string> JsonReader::string() {
  if (!consume('"'))
    return error("expected a string");
  size_t begin = at;
  while (at < text.size() && text[at] != '"')
    at += text[at] == '\\' ? 2 : 1;
  if (at >= text.size())
    return error("unterminated string");
  return text.substr(begin, at++ - begin);
}

absl::StatusOr<int64_t> JsonReader::integer() {
  skipSpace();
  const char *begin = text.c_str() + at;
  char *end = nullptr;
  long long value = std::strtoll(begin, &end, 10);
  if (end == begin)
    return error("expected an integer");
  if (*end == '.' || *end == 'e' || *end == 'E') {
    // Integral values written as floats ("1e18", "10.0").
    double real = std::strtod(begin, &end);
    value = static_cast<long long>(real);
  }
  at += end - begin;
  return static_cast<int64_t>(value);
}

absl::StatusOr<std::vector<int64_t>> JsonReader::integers() {
  std::vector<int64_t> values;
  if (absl::Status status = expect('['); !status.ok())
    return status;
  if (consume(']'))
    return values;
  do {
    absl::StatusOr<int64_t> value = integer();
    if (!value.ok())
      return value.status();
    values.push_back(*value);
  } while (consume(','));
  if (absl::Status status = expect(']'); !status.ok())
    return status;
  return values;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> JsonReader::integerLists() {
  std::vector<std::vector<int64_t>> lists;
  if (absl::Status status = expect('['); !status.ok())
    return status;
  if (consume(']'))
    return lists;
  do {
    absl::StatusOr<std::vector<int64_t>> list = integers();
    if (!list.ok())
      return list.status();
    lists.push_back(std::move(*list));
  } while (consume(','));
  if (absl::Status status = expect(']'); !status.ok())
    return status;
  return lists;
}

absl::Status JsonReader::skip() {
  skipSpace();
  if (peek('"'))
    return string().status();
  if (consume('[') || consume('{')) {
    char close = text[at - 1] == '[' ? ']' : '}';
    if (consume(close))
      return absl::OkStatus();
    do {
      if (close == '}') {
        if (absl::Status status = string().status(); !status.ok())
          return status;
        if (absl::Status status = expect(':'); !status.ok())
          return status;
      }
      if (absl::Status status = skip(); !status.ok())
        return status;
    } while (consume(','));
    return expect(close);
  }
  // A number, true, false or null.
  size_t begin = at;
  while (at < text.size() &&
         (std::isalnum(static_cast<unsigned char>(text[at])) ||
          text[at] == '-' || text[at] == '+' || text[at] == '.'))
    ++at;
  return at > begin ? absl::OkStatus() : error("expected a value");
}

template <typename Field> absl::Status JsonReader::object(Field field) {
  if (absl::Status status = expect('{'); !status.ok())
    return status;
  if (consume('}'))
    return absl::OkStatus();
  do {
    absl::StatusOr<std::string> key = string();
    if (!key.ok())
      return key.status();
    if (absl::Status status = expect(':'); !status.ok())
      return status;
    if (absl::Status status = field(*key); !status.ok())
      return status;
  } while (consume(','));
  return expect('}');
}

absl::StatusOr<ShardingProblem> JsonReader::read() {
  ShardingProblem problem;
  std::vector<std::vector<int64_t>> intervals, costs, usages, ends, edgeCosts;
  // Reads the lists of integer lists an object's keys name into their
  // homes; other keys are skipped.
  auto listsInto =
      [&](std::map<std::string, std::vector<std::vector<int64_t>> *> homes) {
        return [this, homes](const std::string &key) -> absl::Status {
          auto home = homes.find(key);
          if (home == homes.end())
            return skip();
          absl::StatusOr<std::vector<std::vector<int64_t>>> lists =
              integerLists();
          if (!lists.ok())
            return lists.status();
          *home->second = std::move(*lists);
          return absl::OkStatus();
        };
      };
  auto nodes = listsInto(
      {{"intervals", &intervals}, {"costs", &costs}, {"usages", &usages}});
  auto edges = listsInto({{"nodes", &ends}, {"costs", &edgeCosts}});
  auto body = [&](const std::string &key) -> absl::Status {
    if (key == "name") {
      absl::StatusOr<std::string> name = string();
      if (!name.ok())
        return name.status();
      problem.name = *name;
      return absl::OkStatus();
    }
    if (key == "nodes")
      return object(nodes);
    if (key == "edges")
      return object(edges);
    if (key == "usage_limit") {
      absl::StatusOr<int64_t> limit = integer();
      if (!limit.ok())
        return limit.status();
      problem.usageLimit = *limit;
      return absl::OkStatus();
    }
    return skip();
  };
  absl::Status status = object([&](const std::string &key) -> absl::Status {
    return key == "problem" ? object(body) : skip();
  });
  if (!status.ok())
    return status;

  if (costs.size() != usages.size() || costs.size() != intervals.size())
    return absl::InvalidArgumentError(absl::StrCat(
        "IOPDDL JSON: ", intervals.size(), " intervals, ", costs.size(),
        " cost lists and ", usages.size(), " usage lists; one each per node"));
  if (ends.size() != edgeCosts.size())
    return absl::InvalidArgumentError(
        absl::StrCat("IOPDDL JSON: ", ends.size(), " edges but ",
                     edgeCosts.size(), " edge cost lists"));
  problem.nodes.resize(costs.size());
  for (size_t i = 0; i < costs.size(); ++i) {
    ShardingProblem::Node &node = problem.nodes[i];
    if (intervals[i].size() != 2)
      return absl::InvalidArgumentError(absl::StrCat(
          "IOPDDL JSON: node ", i, "'s interval is not [start, end]"));
    node.start = intervals[i][0];
    node.end = intervals[i][1];
    node.costs = std::move(costs[i]);
    node.usages = std::move(usages[i]);
  }
  problem.edges.resize(ends.size());
  for (size_t e = 0; e < ends.size(); ++e) {
    if (ends[e].size() != 2)
      return absl::InvalidArgumentError(
          absl::StrCat("IOPDDL JSON: edge ", e, " does not join two nodes"));
    problem.edges[e].u = static_cast<int32_t>(ends[e][0]);
    problem.edges[e].v = static_cast<int32_t>(ends[e][1]);
    problem.edges[e].costs = std::move(edgeCosts[e]);
  }
  if (absl::Status valid = validate(problem); !valid.ok())
    return valid;
  return problem;
}

} // namespace

absl::StatusOr<ShardingProblem> parseIopddlJson(const std::string &text) {
  return JsonReader(text).read();
}

} // namespace tessel::autoshard
