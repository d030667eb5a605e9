//===- ProgramCost.cpp - The cost model on an executable, and its fit -----===//

#include "compiler/cost/ProgramCost.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tessel::cost {
namespace {

double bufferBytes(const proto::DeviceProgram &program, int64_t id) {
  if (id < 0 || id >= program.buffers_size())
    return 0;
  const proto::Buffer &buffer = program.buffers(id);
  double bytes = 1;
  for (int64_t dim : buffer.dims())
    bytes *= static_cast<double>(dim);
  switch (buffer.element_type()) {
  case proto::F64:
  case proto::I64:
  case proto::U64:
    return 8 * bytes;
  case proto::F32:
  case proto::I32:
  case proto::U32:
    return 4 * bytes;
  case proto::F16:
  case proto::BF16:
  case proto::I16:
  case proto::U16:
    return 2 * bytes;
  default:
    return bytes;
  }
}

std::string elementTypeOf(const proto::DeviceProgram &program,
                          const proto::Instruction &instruction) {
  if (instruction.results_size() == 0 ||
      instruction.results(0) >= program.buffers_size())
    return "f32";
  return absl::AsciiStrToLower(proto::ElementType_Name(
      program.buffers(instruction.results(0)).element_type()));
}

/// The kind of a collective instruction as the cost model knows it.
std::optional<Collective> kindOf(const proto::Collective &collective) {
  switch (collective.kind()) {
  case proto::Collective::ALL_REDUCE:
    return Collective::AllReduce;
  case proto::Collective::ALL_GATHER:
    return Collective::AllGather;
  case proto::Collective::REDUCE_SCATTER:
    return Collective::ReduceScatter;
  case proto::Collective::ALL_TO_ALL:
    return Collective::AllToAll;
  case proto::Collective::COLLECTIVE_PERMUTE:
    return Collective::CollectivePermute;
  case proto::Collective::HALO_EXCHANGE:
    return Collective::HaloExchange;
  default:
    return std::nullopt;
  }
}

/// Solves the n x n system `a x = b` by Gaussian elimination with partial
/// pivoting; false if it is singular.
bool solve(std::vector<std::vector<double>> a, std::vector<double> b,
           std::vector<double> &x) {
  size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[pivot][c]))
        pivot = r;
    if (std::abs(a[pivot][c]) < 1e-12)
      return false;
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    for (size_t r = c + 1; r < n; ++r) {
      double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k)
        a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0);
  for (size_t c = n; c-- > 0;) {
    double sum = b[c];
    for (size_t k = c + 1; k < n; ++k)
      sum -= a[c][k] * x[k];
    x[c] = sum / a[c][c];
  }
  return true;
}

/// The contiguous runs one member of a collective moves: a whole buffer is
/// one; pieces along dimension d are one run per index of the dimensions
/// before d (the outer size), for each part moved (every member's for a
/// gather, a scatter or an all-to-all; the neighbours' and its own for a
/// halo exchange, which copies the extended part whole).
double collectiveRuns(const proto::DeviceProgram &program,
                      const proto::Instruction &instruction, int64_t members) {
  const proto::Collective &collective = instruction.collective();
  auto outer = [&](bool result, int64_t dim) {
    const auto &ids = result ? instruction.results() : instruction.operands();
    if (ids.empty() || ids[0] < 0 || ids[0] >= program.buffers_size())
      return 1.0;
    const auto &dims = program.buffers(ids[0]).dims();
    double size = 1;
    for (int64_t d = 0; d < dim && d < static_cast<int64_t>(dims.size()); ++d)
      size *= static_cast<double>(dims[d]);
    return size;
  };
  double parts = static_cast<double>(std::max<int64_t>(members, 1));
  switch (collective.kind()) {
  case proto::Collective::ALL_GATHER:
    return outer(true, collective.dimension()) * parts;
  case proto::Collective::REDUCE_SCATTER:
    return outer(false, collective.dimension()) * parts;
  case proto::Collective::ALL_TO_ALL:
    return outer(false, std::min(collective.dimension(),
                                 collective.split_dimension())) *
           parts;
  case proto::Collective::HALO_EXCHANGE:
    return outer(true, collective.dimension()) * 3;
  default:
    return 1;
  }
}

/// One instruction's work (count 1); nullopt for a collective of no
/// known kind, and for the wait of an overlapped one (collective_done),
/// whose time is its collective's.
std::optional<WorkItem> workOf(const proto::DeviceProgram &program,
                               const proto::Instruction &instruction) {
  if (instruction.op() == "collective_done")
    return std::nullopt;
  double in = 0, out = 0;
  for (int64_t id : instruction.operands())
    in += bufferBytes(program, id);
  for (int64_t id : instruction.results())
    out += bufferBytes(program, id);
  WorkItem item;
  item.count = 1;
  item.elementType = elementTypeOf(program, instruction);
  if (instruction.op() != "collective") {
    item.family = instruction.op();
    item.flops = instruction.flops();
    item.bytes = in + out;
    return item;
  }
  const proto::Collective &collective = instruction.collective();
  std::optional<Collective> kind = kindOf(collective);
  if (!kind)
    return std::nullopt;
  for (const proto::Ints &members : collective.groups())
    if (std::find(members.values().begin(), members.values().end(),
                  program.device_id()) != members.values().end())
      item.group.assign(members.values().begin(), members.values().end());
  item.family = collectiveName(*kind);
  item.collective = true;
  item.runs = collectiveRuns(program, instruction,
                             static_cast<int64_t>(item.group.size()));
  item.bytes = *kind == Collective::AllGather      ? out
               : *kind == Collective::HaloExchange ? std::abs(out - in)
                                                   : in;
  return item;
}

/// Seconds of `item` by `model` on `devices` devices sharing the
/// machine as the model says.
double itemSeconds(const WorkItem &item, const CostModel &model,
                   int64_t devices) {
  return item.count *
         (item.collective
              ? model.collectiveSeconds(*collectiveNamed(item.family),
                                        item.bytes, item.group, item.runs)
              : model.computeShare(devices) *
                    model.kernelSeconds(item.family, item.flops,
                                        item.elementType, item.bytes));
}

} // namespace

ProgramWork programWork(const proto::Executable &executable) {
  ProgramWork work;
  work.devices = std::max(1, executable.programs_size());
  double perDevice = 1.0 / static_cast<double>(work.devices);
  // Identical instructions merge: the key is everything but the count.
  std::map<std::tuple<std::string, bool, double, double, std::string,
                      std::vector<int64_t>, double>,
           double>
      merged;
  for (const proto::DeviceProgram &program : executable.programs())
    for (const proto::Instruction &instruction : program.instructions())
      if (std::optional<WorkItem> item = workOf(program, instruction))
        merged[{item->family, item->collective, item->flops, item->bytes,
                item->elementType, item->group, item->runs}] += perDevice;
  for (const auto &[key, count] : merged) {
    WorkItem item;
    std::tie(item.family, item.collective, item.flops, item.bytes,
             item.elementType, item.group, item.runs) = key;
    item.count = count;
    work.items.push_back(std::move(item));
  }
  for (const proto::DeviceProgram &program : executable.programs()) {
    int n = program.instructions_size();
    for (int i = 0; i < n; ++i) {
      const proto::Instruction &start = program.instructions(i);
      std::optional<WorkItem> collective;
      if (start.op() != "collective" || !start.collective().async() ||
          !(collective = workOf(program, start)))
        continue;
      OverlapWindow window;
      window.collective = *collective;
      window.collective.count = perDevice;
      for (int j = i + 1; j < n; ++j) {
        const proto::Instruction &between = program.instructions(j);
        if (between.op() == "collective_done" &&
            between.attributes().count("start") &&
            between.attributes().at("start").i() == i)
          break;
        // Collectives take the stream, not the device.
        if (std::optional<WorkItem> kernel = workOf(program, between);
            kernel && !kernel->collective) {
          kernel->count = perDevice;
          window.kernels.push_back(std::move(*kernel));
        }
      }
      work.windows.push_back(std::move(window));
    }
  }
  return work;
}

namespace {
std::string formatItem(const WorkItem &item) {
  return absl::StrFormat("%s,%d,%.9g,%.9g,%.9g,%s,%s,%.9g", item.family,
                         item.collective ? 1 : 0, item.count, item.flops,
                         item.bytes, item.elementType,
                         absl::StrJoin(item.group, "."), item.runs);
}
} // namespace

// The items, then each window after a '|': its collective, then its
// kernels.
std::string formatWork(const ProgramWork &work) {
  std::vector<std::string> items = {absl::StrCat(work.devices)};
  for (const WorkItem &item : work.items)
    items.push_back(formatItem(item));
  std::string line = absl::StrJoin(items, ";");
  for (const OverlapWindow &window : work.windows) {
    std::vector<std::string> parts = {formatItem(window.collective)};
    for (const WorkItem &kernel : window.kernels)
      parts.push_back(formatItem(kernel));
    absl::StrAppend(&line, "|", absl::StrJoin(parts, ";"));
  }
  return line;
}

absl::StatusOr<ProgramWork> parseWork(const std::string &line) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a program's work: '", line.substr(0, 80), "'"));
  };
  auto parseItem = [&](const std::string &text) -> std::optional<WorkItem> {
    std::vector<std::string> fields = absl::StrSplit(text, ',');
    WorkItem item;
    int collective = 0;
    // Logs written before the runs field have 7 (their runs count 0).
    if ((fields.size() != 7 && fields.size() != 8) || fields[0].empty() ||
        !absl::SimpleAtoi(fields[1], &collective) ||
        !absl::SimpleAtod(fields[2], &item.count) ||
        !absl::SimpleAtod(fields[3], &item.flops) ||
        !absl::SimpleAtod(fields[4], &item.bytes))
      return std::nullopt;
    item.family = fields[0];
    item.collective = collective != 0;
    if (item.collective && !collectiveNamed(item.family))
      return std::nullopt;
    item.elementType = fields[5];
    if (fields.size() == 8 && !absl::SimpleAtod(fields[7], &item.runs))
      return std::nullopt;
    for (absl::string_view id :
         absl::StrSplit(fields[6], '.', absl::SkipEmpty())) {
      int64_t device;
      if (!absl::SimpleAtoi(id, &device))
        return std::nullopt;
      item.group.push_back(device);
    }
    return item;
  };
  std::vector<std::string> sections = absl::StrSplit(line, '|');
  std::vector<std::string> items = absl::StrSplit(sections[0], ';');
  ProgramWork work;
  if (!absl::SimpleAtoi(items[0], &work.devices) || work.devices < 1)
    return bad();
  for (size_t i = 1; i < items.size(); ++i) {
    std::optional<WorkItem> item = parseItem(items[i]);
    if (!item)
      return bad();
    work.items.push_back(std::move(*item));
  }
  for (size_t w = 1; w < sections.size(); ++w) {
    std::vector<std::string> parts = absl::StrSplit(sections[w], ';');
    OverlapWindow window;
    std::optional<WorkItem> collective = parseItem(parts[0]);
    if (!collective || !collective->collective)
      return bad();
    window.collective = std::move(*collective);
    for (size_t k = 1; k < parts.size(); ++k) {
      std::optional<WorkItem> kernel = parseItem(parts[k]);
      if (!kernel || kernel->collective)
        return bad();
      window.kernels.push_back(std::move(*kernel));
    }
    work.windows.push_back(std::move(window));
  }
  return work;
}

std::map<std::string, double> familySeconds(const ProgramWork &work,
                                            const CostModel &model) {
  std::map<std::string, double> seconds;
  for (const WorkItem &item : work.items)
    seconds[item.family] += itemSeconds(item, model, work.devices);
  return seconds;
}

std::vector<InstructionCost>
instructionCosts(const proto::Executable &executable, int device,
                 const CostModel &model) {
  std::vector<InstructionCost> costs;
  if (device < 0 || device >= executable.programs_size())
    return costs;
  const proto::DeviceProgram &program = executable.programs(device);
  int64_t devices = std::max(1, executable.programs_size());
  for (const proto::Instruction &instruction : program.instructions()) {
    InstructionCost cost;
    cost.location = instruction.location();
    if (std::optional<WorkItem> item = workOf(program, instruction)) {
      cost.family = item->family;
      cost.collective = item->collective;
      cost.seconds = itemSeconds(*item, model, devices);
    } else {
      cost.family = instruction.op();
    }
    costs.push_back(std::move(cost));
  }
  return costs;
}

double hiddenSeconds(const ProgramWork &work, const CostModel &model) {
  if (model.computeShare(work.devices) > 1)
    return 0; // The devices share the processor the collectives use.
  double hidden = 0;
  for (const OverlapWindow &window : work.windows) {
    double kernels = 0;
    for (const WorkItem &kernel : window.kernels)
      kernels += itemSeconds(kernel, model, work.devices);
    hidden +=
        std::min(itemSeconds(window.collective, model, work.devices), kernels);
  }
  return hidden;
}

double programSeconds(const ProgramWork &work, const CostModel &model) {
  double seconds = model.stepSeconds(work.devices);
  for (const auto &[family, s] : familySeconds(work, model))
    seconds += s;
  return seconds - hiddenSeconds(work, model);
}

std::vector<double>
nonNegativeLeastSquares(const std::vector<std::vector<double>> &rows,
                        const std::vector<double> &y,
                        const std::vector<double> &weights) {
  size_t columns = rows.empty() ? 0 : rows.front().size();
  // Columns scaled to a unit maximum keep the normal equations sane when
  // one counts launches and another seconds.
  std::vector<double> scale(columns, 0);
  for (const std::vector<double> &row : rows)
    for (size_t c = 0; c < columns; ++c)
      scale[c] = std::max(scale[c], std::abs(row[c]));
  auto residual = [&](const std::vector<double> &x) {
    double sum = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      double r = -y[i];
      for (size_t c = 0; c < columns; ++c)
        r += rows[i][c] * x[c];
      sum += weights[i] * r * r;
    }
    return sum;
  };
  std::vector<double> best(columns, 0);
  double bestResidual = residual(best);
  int bestUsed = 0;
  for (unsigned subset = 1; subset < (1u << columns); ++subset) {
    std::vector<size_t> used;
    for (size_t c = 0; c < columns; ++c)
      if ((subset >> c & 1) && scale[c] > 0)
        used.push_back(c);
    if (used.size() != static_cast<size_t>(__builtin_popcount(subset)))
      continue;
    size_t n = used.size();
    std::vector<std::vector<double>> a(n, std::vector<double>(n, 0));
    std::vector<double> b(n, 0);
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t j = 0; j < n; ++j) {
        double xj = rows[i][used[j]] / scale[used[j]];
        b[j] += weights[i] * xj * y[i];
        for (size_t k = 0; k < n; ++k)
          a[j][k] += weights[i] * xj * rows[i][used[k]] / scale[used[k]];
      }
    std::vector<double> solution;
    if (!solve(a, b, solution) || std::any_of(solution.begin(), solution.end(),
                                              [](double v) { return v < 0; }))
      continue;
    std::vector<double> x(columns, 0);
    for (size_t j = 0; j < n; ++j)
      x[used[j]] = solution[j] / scale[used[j]];
    double r = residual(x);
    // A fit no better than one with fewer terms keeps the fewer.
    bool fewer = static_cast<int>(n) < bestUsed;
    if (r < bestResidual * (1 - 1e-9) ||
        (fewer && r <= bestResidual * (1 + 1e-9))) {
      best = x;
      bestResidual = r;
      bestUsed = static_cast<int>(n);
    }
  }
  return best;
}

absl::StatusOr<proto::DeviceProfile>
fitProfile(const proto::DeviceProfile &base,
           const std::vector<Observation> &observations) {
  absl::StatusOr<CostModel> baseModel = CostModel::fromProfile(base);
  if (!baseModel.ok())
    return baseModel.status();
  if (observations.empty())
    return absl::InvalidArgumentError("no measured run to calibrate with");
  // Per family: a row per observation that has it.
  struct Rows {
    bool collective = false;
    std::string elementType;
    std::vector<std::vector<double>> x;
    std::vector<double> y, weights;
  };
  std::map<std::string, Rows> families;
  std::vector<std::vector<double>> stepRows;
  std::vector<double> stepY, stepWeights;
  // What a profiled second of a device's kernels (or collectives) costs
  // the step. Each device's profile times its own instructions: when N
  // device threads share fewer cores, a step takes about N / cores of a
  // device's kernel time, not one, and a collective's time includes the
  // waiting for the others. Fitted first, on the whole step: step time =
  // a + b * devices + kernelFactor * kernel seconds + collectiveFactor *
  // collective seconds; the families are then fitted in step time.
  double kernelFactor = 1, collectiveFactor = 1;
  {
    std::vector<std::vector<double>> rows;
    std::vector<double> y, weights;
    for (const Observation &observation : observations) {
      std::vector<double> row = {
          1, static_cast<double>(observation.work.devices), 0, 0};
      std::set<std::string> counted;
      for (const WorkItem &item : observation.work.items) {
        auto measured = observation.familySeconds.find(item.family);
        if (measured != observation.familySeconds.end() &&
            counted.insert(item.family).second)
          row[item.collective ? 3 : 2] += measured->second;
      }
      rows.push_back(row);
      y.push_back(observation.stepSeconds);
      weights.push_back(1 /
                        (observation.stepSeconds * observation.stepSeconds));
    }
    std::vector<double> x = nonNegativeLeastSquares(rows, y, weights);
    // A factor the fit cannot see (no such seconds, or none that explain
    // the step) stays 1.
    if (x[2] > 0)
      kernelFactor = x[2];
    if (x[3] > 0)
      collectiveFactor = x[3];
  }
  for (const Observation &observation : observations) {
    if (!(observation.stepSeconds > 0))
      return absl::InvalidArgumentError(
          "a measured step must take a positive time");
    double weight = 1 / (observation.stepSeconds * observation.stepSeconds);
    double share = baseModel->computeShare(observation.work.devices);
    // Kernels: (launches, base roofline seconds); collectives: (latency
    // steps, bytes sent, contiguous runs), each times the count per device.
    std::map<std::string, std::vector<double>> features;
    for (const WorkItem &item : observation.work.items) {
      std::vector<double> &f = features[item.family];
      f.resize(item.collective ? 3 : 2, 0);
      Rows &rows = families[item.family];
      rows.collective = item.collective;
      if (rows.elementType.empty())
        rows.elementType = item.elementType;
      if (item.collective) {
        CollectiveTerms terms =
            collectiveTerms(*collectiveNamed(item.family), item.bytes,
                            static_cast<int64_t>(item.group.size()));
        f[0] += item.count * terms.steps;
        f[1] += item.count * terms.transferBytes;
        f[2] += item.count * item.runs;
      } else {
        f[0] += share * item.count;
        f[1] +=
            share * item.count *
            baseModel->computeSeconds(item.flops, item.elementType, item.bytes);
      }
    }
    double accounted = 0;
    for (const auto &[family, f] : features) {
      auto measured = observation.familySeconds.find(family);
      Rows &rows = families[family];
      double y =
          (measured == observation.familySeconds.end() ? 0 : measured->second) *
          (rows.collective ? collectiveFactor : kernelFactor);
      accounted += y;
      rows.x.push_back(f);
      rows.y.push_back(y);
      rows.weights.push_back(weight);
    }
    stepRows.push_back({1, static_cast<double>(observation.work.devices)});
    stepY.push_back(std::max(0.0, observation.stepSeconds - accounted));
    stepWeights.push_back(weight);
  }

  proto::DeviceProfile profile = base;
  profile.set_source(
      absl::StrCat(base.source(), "; calibrated by tessel-tune against ",
                   observations.size(), " measured executables"));
  for (const auto &[family, rows] : families) {
    std::vector<double> x =
        nonNegativeLeastSquares(rows.x, rows.y, rows.weights);
    if (rows.collective) {
      proto::DeviceProfile::Link link;
      link.set_name(family);
      link.set_latency(x[0]);
      // Nothing for bytes: a bandwidth no transfer is slowed by.
      link.set_bandwidth(x[1] > 0 ? 1 / x[1] : 1e18);
      link.set_run_seconds(x[2]);
      (*profile.mutable_collectives())[family] = link;
      continue;
    }
    // The roofline scaled by x[1]: both rates divided by it (a family the
    // fit finds no work term for gets rates nothing is slowed by).
    double scale = std::max(x[1], 1e-9);
    // The base's peak for the family's element type (a FLOP alone takes
    // 1 / peak).
    double flopRate = 1 / baseModel->computeSeconds(1, rows.elementType, 0);
    proto::DeviceProfile::Kernel kernel;
    kernel.set_launch_seconds(x[0]);
    kernel.set_flop_rate(flopRate / scale);
    kernel.set_byte_rate(base.device().memory_bandwidth() / scale);
    (*profile.mutable_kernels())[family] = kernel;
  }
  std::vector<double> step =
      nonNegativeLeastSquares(stepRows, stepY, stepWeights);
  profile.set_step_seconds(step[0]);
  profile.set_step_seconds_per_device(step[1]);
  if (absl::StatusOr<CostModel> check = CostModel::fromProfile(profile);
      !check.ok())
    return check.status();
  return profile;
}

} // namespace tessel::cost
