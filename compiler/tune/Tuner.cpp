//===- Tuner.cpp - Autotuned search over meshes and plans -----------------===//

#include "compiler/tune/Tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "compiler/support/Subprocess.h"
#include "compiler/tune/Templates.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "runtime/ElementType.h"
#include "runtime/host/HostBackend.h"
#include "runtime/host/HostDevice.h"

namespace tessel::tune {
namespace {

using Clock = std::chrono::steady_clock;

/// The family a profile's name counts toward (a kernel's op, a collective's
/// kind in lower case): an overlapped collective's own time too, which the
/// runtime names apart.
std::string familyOfProfiled(absl::string_view name) {
  absl::ConsumeSuffix(&name, kOverlappedSuffix);
  return absl::AsciiStrToLower(name);
}

void factorisations(int64_t remaining, int axesLeft, MeshShape &current,
                    std::vector<MeshShape> &out) {
  static const char *kNames[] = {"x", "y", "z"};
  if (remaining == 1) {
    if (!current.empty())
      out.push_back(current);
    return;
  }
  if (axesLeft == 0)
    return;
  for (int64_t size = 2; size <= remaining; ++size) {
    if (remaining % size)
      continue;
    current.emplace_back(kNames[current.size()], size);
    factorisations(remaining / size, axesLeft - 1, current, out);
    current.pop_back();
  }
}

void addSpec(proto::Plan &plan, const std::string &name,
             const std::string &spec) {
  proto::TensorPlan *tensor = plan.add_tensors();
  tensor->set_name(name);
  tensor->set_spec(spec);
}

/// A 64-bit FNV-1a hash of `bytes`, in hex.
std::string hashText(const std::string &bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", hash);
}

/// A 64-bit FNV-1a hash of the executable's deterministic serialization.
std::string fingerprintOf(const proto::Executable &executable) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    executable.SerializeToCodedStream(&coded);
  }
  return hashText(bytes);
}

/// "family=seconds,..." (a measurement's family profile; "-" for none),
/// and back.
std::string formatFamilies(const std::map<std::string, double> &families) {
  std::vector<std::string> parts;
  for (const auto &[family, seconds] : families)
    parts.push_back(absl::StrFormat("%s=%.9g", family, seconds));
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

bool parseFamilies(const std::string &text,
                   std::map<std::string, double> &families) {
  if (text == "-")
    return true;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
    double seconds;
    if (kv.first.empty() || !absl::SimpleAtod(kv.second, &seconds))
      return false;
    families[kv.first] = seconds;
  }
  return true;
}

/// The tuning log: one line per measurement, "key median fastest slowest
/// runs families lower-quartile upper-quartile" (logs written before the
/// quartiles were kept have six fields; their quartiles are taken as the
/// fastest and slowest), the key being the fingerprint and the thread
/// count, all kept (a later line for the same key and runs wins); and one
/// per compiled candidate (see addCandidate).
class TuningLog {
public:
  explicit TuningLog(std::string path) : path(std::move(path)) {
    if (this->path.empty())
      return;
    std::ifstream in(this->path);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> fields = absl::StrSplit(line, ' ');
      Priced priced;
      std::pair<std::string, std::string> split;
      if (fields.size() == 7 && fields[0] == "candidate" &&
          absl::SimpleAtod(fields[3], &priced.modeledSeconds) &&
          absl::SimpleAtoi(fields[4], &priced.peakBytes) &&
          (split = absl::StrSplit(fields[6], '/'), true) &&
          absl::SimpleAtoi(split.first, &priced.splitParameters) &&
          absl::SimpleAtoi(split.second, &priced.parameters)) {
        absl::StatusOr<cost::ProgramWork> work = cost::parseWork(fields[5]);
        if (!work.ok())
          continue; // Compiled again.
        priced.fingerprint = fields[2];
        priced.work = std::move(*work);
        candidates[fields[1]] = priced;
        continue;
      }
      if (fields.size() >= 3 && fields[0] == "alternatives") {
        Alternatives listed;
        bool whole = absl::SimpleAtoi(fields[2], &listed.requested);
        for (size_t i = 3; i < fields.size() && whole; ++i) {
          std::string bytes;
          whole = absl::Base64Unescape(fields[i], &bytes) &&
                  listed.plans.emplace_back().ParseFromString(bytes);
        }
        if (whole)
          alternatives[fields[1]] = std::move(listed);
        continue;
      }
      Measurement m;
      if ((fields.size() != 6 && fields.size() != 8) ||
          !absl::SimpleAtod(fields[1], &m.median) ||
          !absl::SimpleAtod(fields[2], &m.fastest) ||
          !absl::SimpleAtod(fields[3], &m.slowest) ||
          !absl::SimpleAtoi(fields[4], &m.runs) || m.runs <= 0 ||
          !parseFamilies(fields[5], m.familySeconds))
        continue; // A torn or foreign line: measured again.
      m.lowerQuartile = m.fastest;
      m.upperQuartile = m.slowest;
      if (fields.size() == 8 &&
          (!absl::SimpleAtod(fields[6], &m.lowerQuartile) ||
           !absl::SimpleAtod(fields[7], &m.upperQuartile)))
        continue;
      m.fromLog = true;
      entries[fields[0]][m.runs] = m;
    }
  }
  /// The measurement of `key` with `runs` runs, else the one with the
  /// fewest runs above that: a second search sees the medians the first
  /// saw at each round, so it keeps the same candidates and finds every
  /// measurement it needs.
  std::optional<Measurement> find(const std::string &key, int runs) const {
    auto it = entries.find(key);
    if (it == entries.end())
      return std::nullopt;
    auto found = it->second.lower_bound(runs);
    if (found == it->second.end())
      return std::nullopt;
    return found->second;
  }
  /// What compiling a candidate gave, by candidate key.
  struct Priced {
    std::string fingerprint;
    double modeledSeconds = 0;
    int64_t peakBytes = 0;
    cost::ProgramWork work;
    int splitParameters = 0, parameters = 0;
  };
  std::optional<Priced> findCandidate(const std::string &key) const {
    auto it = candidates.find(key);
    if (it == candidates.end())
      return std::nullopt;
    return it->second;
  }
  void addCandidate(const std::string &key, const Priced &priced) {
    candidates[key] = priced;
    append(absl::StrFormat("candidate %s %s %.9g %d %s %d/%d\n", key,
                           priced.fingerprint, priced.modeledSeconds,
                           priced.peakBytes, cost::formatWork(priced.work),
                           priced.splitParameters, priced.parameters));
  }
  /// The next-best plans compiling a candidate listed (as constraints),
  /// and how many it was asked for.
  struct Alternatives {
    int requested = 0;
    std::vector<proto::Plan> plans;
  };
  std::optional<Alternatives> findAlternatives(const std::string &key) const {
    auto it = alternatives.find(key);
    if (it == alternatives.end())
      return std::nullopt;
    return it->second;
  }
  void addAlternatives(const std::string &key, const Alternatives &listed) {
    alternatives[key] = listed;
    std::string line =
        absl::StrCat("alternatives ", key, " ", listed.requested);
    for (const proto::Plan &plan : listed.plans)
      absl::StrAppend(&line, " ", absl::Base64Escape(plan.SerializeAsString()));
    append(line + "\n");
  }
  void add(const std::string &key, const Measurement &m) {
    entries[key][m.runs] = m;
    append(absl::StrFormat("%s %.9g %.9g %.9g %d %s %.9g %.9g\n", key, m.median,
                           m.fastest, m.slowest, m.runs,
                           formatFamilies(m.familySeconds), m.lowerQuartile,
                           m.upperQuartile));
  }

private:
  void append(const std::string &line) {
    if (path.empty())
      return;
    std::ofstream out(path, std::ios::app);
    out << line;
  }

  std::string path;
  /// By key, then by number of runs.
  std::map<std::string, std::map<int, Measurement>> entries;
  std::map<std::string, Priced> candidates;
  std::map<std::string, Alternatives> alternatives;
};

/// Buffers for every input and output of `executable`: floats a fixed
/// pattern, integers zero (valid indices).
struct Buffers {
  std::vector<std::vector<char>> storage;
  std::vector<TensorRef> inputs, outputs;

  explicit Buffers(const proto::Executable &executable) {
    for (const auto *specs : {&executable.inputs(), &executable.outputs()})
      for (const proto::TensorSpec &spec : *specs) {
        int64_t bytes = elementByteSize(spec.element_type());
        for (int64_t dim : spec.dims())
          bytes *= dim;
        std::vector<char> &data = storage.emplace_back(bytes, 0);
        if (spec.element_type() == proto::F32)
          for (int64_t i = 0; i < bytes / 4; ++i) {
            float value = 0.5f * std::sin(0.37f * i);
            std::memcpy(data.data() + 4 * i, &value, 4);
          }
        (specs == &executable.inputs() ? inputs : outputs)
            .emplace_back(
                spec.element_type(),
                absl::MakeConstSpan(spec.dims().data(), spec.dims_size()),
                data.data(), bytes);
      }
  }
};

/// The median, fastest, slowest and quartiles of `times` (seconds, at
/// least one).
Measurement summarise(std::vector<double> times) {
  Measurement m;
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  // The p-quantile, interpolated between the two nearest ranks.
  auto quantile = [&](double p) {
    double rank = p * static_cast<double>(n - 1);
    size_t below = static_cast<size_t>(rank);
    size_t above = std::min(below + 1, n - 1);
    return times[below] + (rank - below) * (times[above] - times[below]);
  };
  m.runs = static_cast<int>(n);
  m.fastest = times.front();
  m.slowest = times.back();
  m.median = quantile(0.5);
  m.lowerQuartile = quantile(0.25);
  m.upperQuartile = quantile(0.75);
  return m;
}

/// An executable loaded for timing, with its buffers and times so far.
struct Timed {
  size_t candidate;
  std::unique_ptr<Buffers> buffers;
  std::unique_ptr<LoadedExecutable> loaded;
  std::vector<double> times;
  absl::Status status;
  /// Back-to-back runs per timed sample (0: not chosen yet).
  int burst = 0;

  /// One run, its seconds (0 if it failed).
  double run() {
    auto start = Clock::now();
    status = loaded->runBuffers(buffers->inputs, buffers->outputs);
    return status.ok()
               ? std::chrono::duration<double>(Clock::now() - start).count()
               : 0;
  }
  /// An untimed run.
  bool warm() {
    run();
    return status.ok();
  }
  /// One sample: a burst of runs lasting at least `minSeconds` (sized by
  /// a first untimed run), its mean per run.
  bool sample(double minSeconds) {
    if (burst == 0) {
      double once = run();
      if (!status.ok())
        return false;
      burst = once >= minSeconds
                  ? 1
                  : static_cast<int>(std::min(
                        1000.0, std::ceil(minSeconds / std::max(once, 1e-7))));
    }
    auto start = Clock::now();
    for (int b = 0; b < burst; ++b)
      if (run(), !status.ok())
        return false;
    times.push_back(
        std::chrono::duration<double>(Clock::now() - start).count() / burst);
    return true;
  }
};

/// Seconds per device and step of each kernel family and collective kind
/// ("dot_general", "all_reduce", ...; names lowercased) over `runs` runs of
/// a profiling load after `warmup`: what the timed runs added to the
/// profile, so that the warm-up's one-off costs stay out.
absl::StatusOr<std::map<std::string, double>>
profileFamilies(const Compiled &compiled, int threads, int warmup, int runs) {
  Buffers buffers(compiled.executable());
  HostBackend backend(threads, /*profile=*/true);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled.load(backend);
  if (!loaded.ok())
    return loaded.status();
  std::vector<std::pair<std::string, double>> warm;
  for (int i = 0; i < warmup + runs; ++i) {
    if (i == warmup)
      warm = (*loaded)->profile();
    if (absl::Status status =
            (*loaded)->runBuffers(buffers.inputs, buffers.outputs);
        !status.ok())
      return status;
  }
  if (runs < 1)
    return std::map<std::string, double>();
  double scale =
      1.0 / (runs * std::max(1, compiled.executable().programs_size()));
  std::map<std::string, double> families;
  for (const auto &[name, seconds] : (*loaded)->profile())
    families[familyOfProfiled(name)] += seconds * scale;
  for (const auto &[name, seconds] : warm)
    families[familyOfProfiled(name)] -= seconds * scale;
  return families;
}

/// A temporary directory, removed with what it holds.
struct ScratchDirectory {
  std::string path;
  ScratchDirectory() {
    const char *root = std::getenv("TMPDIR");
    std::string pattern =
        std::string(root && *root ? root : "/tmp") + "/tessel-tune.XXXXXX";
    if (mkdtemp(pattern.data()))
      path = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    if (!path.empty())
      std::filesystem::remove_all(path, ignored);
  }
};

/// The numbers of a line of `output` that starts with `prefix`.
std::vector<double> numbersAfter(const std::string &output,
                                 const std::string &prefix) {
  std::vector<double> numbers;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(line, prefix))
      continue;
    for (absl::string_view word :
         absl::StrSplit(line.substr(prefix.size()), ' ', absl::SkipEmpty())) {
      double value;
      if (absl::SimpleAtod(word, &value))
        numbers.push_back(value);
    }
  }
  return numbers;
}

/// Times `compiled` as an MPI job of one process per device (tessel-run
/// --backend mpi under mpirun, rank 0's times), and with `profile` its
/// kernel families from a second, profiled job (rank 0's, per step).
absl::StatusOr<Measurement> measureUnderMpi(const Compiled &compiled,
                                            const TuneOptions &options,
                                            int runs, const std::string &dir,
                                            bool profile) {
  if (dir.empty())
    return absl::InternalError("no temporary directory for the MPI jobs");
  std::string path = dir + "/candidate.tessel";
  if (absl::Status saved = compiled.save(path); !saved.ok())
    return saved;
  int ranks = std::max(1, compiled.executable().programs_size());
  int cores = options.threads > 0
                  ? options.threads
                  : static_cast<int>(std::thread::hardware_concurrency());
  // tessel-run's first run is untimed: the warm-up's first.
  int dropped = std::max(options.warmup - 1, 0);
  if (dropped + runs < 2)
    dropped = 2 - runs;
  auto job = [&](bool profiled) {
    std::vector<std::string> argv = {options.mpirun};
    if (geteuid() == 0)
      argv.push_back("--allow-run-as-root");
    for (std::string arg :
         {std::string("--oversubscribe"), std::string("-np"),
          std::to_string(ranks), options.tesselRun, path,
          std::string("--backend=mpi"),
          absl::StrCat("--iterations=", profiled ? runs + 1 : dropped + runs),
          absl::StrCat("--threads=", std::max(1, cores / ranks)),
          absl::StrCat("--timeout=", static_cast<int>(std::max(
                                         10.0, options.mpiTimeoutSeconds))),
          std::string(profiled ? "--profile" : "--run_times")})
      argv.push_back(arg);
    return runCommand(argv, options.mpiTimeoutSeconds + 30);
  };
  absl::StatusOr<std::string> timed = job(false);
  if (!timed.ok())
    return timed.status();
  std::vector<double> times = numbersAfter(*timed, "run times ms:");
  if (static_cast<int>(times.size()) != dropped + runs)
    return absl::InternalError(absl::StrCat("tessel-run printed ", times.size(),
                                            " run times, not ", dropped + runs,
                                            ":\n", *timed));
  times.erase(times.begin(), times.begin() + dropped);
  for (double &t : times)
    t *= 1e-3;
  Measurement m = summarise(times);
  if (!profile)
    return m;
  absl::StatusOr<std::string> profiled = job(true);
  if (!profiled.ok())
    return profiled.status();
  // "  dot_general: 1.25 ms per run", per step of rank 0 (one device).
  for (absl::string_view line : absl::StrSplit(*profiled, '\n')) {
    if (!absl::ConsumePrefix(&line, "  ") ||
        !absl::ConsumeSuffix(&line, " ms per run"))
      continue;
    size_t colon = line.rfind(": ");
    double ms;
    if (colon == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(colon + 2), &ms))
      continue;
    m.familySeconds[familyOfProfiled(line.substr(0, colon))] += ms * 1e-3;
  }
  return m;
}

} // namespace

std::vector<MeshShape> meshesFor(int64_t devices, int maxAxes) {
  if (devices <= 1)
    return {MeshShape()};
  std::vector<MeshShape> meshes;
  MeshShape current;
  factorisations(devices, maxAxes, current, meshes);
  std::stable_sort(meshes.begin(), meshes.end(),
                   [](const MeshShape &a, const MeshShape &b) {
                     return a.size() < b.size();
                   });
  return meshes;
}

std::string meshText(const MeshShape &mesh) {
  std::vector<std::string> axes;
  for (const auto &[name, size] : mesh)
    axes.push_back(absl::StrCat(name, "=", size));
  return absl::StrJoin(axes, ",");
}

double kendallTau(const std::vector<double> &a, const std::vector<double> &b) {
  int64_t concordant = 0, discordant = 0, tiesA = 0, tiesB = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0)
        continue;
      if (da == 0)
        ++tiesA;
      else if (db == 0)
        ++tiesB;
      else if ((da > 0) == (db > 0))
        ++concordant;
      else
        ++discordant;
    }
  double denominator = std::sqrt(double(concordant + discordant + tiesA) *
                                 double(concordant + discordant + tiesB));
  return denominator == 0 ? 0 : (concordant - discordant) / denominator;
}

bool separated(const Measurement &a, const Measurement &b) {
  return a.upperQuartile < b.lowerQuartile || b.upperQuartile < a.lowerQuartile;
}

double separatedKendallTau(const std::vector<double> &modeled,
                           const std::vector<Measurement> &measured,
                           int &separatedPairs) {
  int64_t concordant = 0, discordant = 0;
  separatedPairs = 0;
  for (size_t i = 0; i < modeled.size(); ++i)
    for (size_t j = i + 1; j < modeled.size(); ++j) {
      if (!separated(measured[i], measured[j]))
        continue;
      ++separatedPairs;
      double dm = modeled[i] - modeled[j];
      double dt = measured[i].median - measured[j].median;
      if (dm == 0)
        continue; // A tie in the model counts for neither.
      ((dm > 0) == (dt > 0) ? concordant : discordant) += 1;
    }
  return separatedPairs ? double(concordant - discordant) / separatedPairs : 0;
}

double meanAbsolutePercentageError(const std::vector<double> &modeled,
                                   const std::vector<double> &measured) {
  double sum = 0;
  int count = 0;
  for (size_t i = 0; i < modeled.size(); ++i)
    if (measured[i] > 0) {
      sum += std::abs(modeled[i] - measured[i]) / measured[i];
      ++count;
    }
  return count ? 100 * sum / count : 0;
}

Calibration calibrate(const proto::DeviceProfile &base, bool sharedProcessor,
                      std::vector<Candidate> &candidates) {
  Calibration calibration;
  proto::DeviceProfile start = base;
  if (sharedProcessor)
    start.set_shared_processor(true);
  std::vector<cost::Observation> observations;
  for (const Candidate &c : candidates)
    if (c.measured && c.error.empty() && c.work &&
        !c.measured->familySeconds.empty() && c.measured->median > 0)
      observations.push_back(
          {*c.work, c.measured->familySeconds, c.measured->median});
  std::optional<cost::CostModel> model;
  if (!observations.empty())
    if (absl::StatusOr<proto::DeviceProfile> fitted =
            cost::fitProfile(start, observations);
        fitted.ok())
      if (absl::StatusOr<cost::CostModel> made =
              cost::CostModel::fromProfile(*fitted);
          made.ok()) {
        calibration.profile = *fitted;
        model = std::move(*made);
      }
  // The metrics are over distinct executables: candidates that compile to
  // one share its measurement and would count it several times.
  std::vector<double> modeled, calibrated, measured;
  std::vector<Measurement> measurements;
  std::set<std::string> seen;
  for (Candidate &c : candidates) {
    c.calibratedSeconds = model && c.work
                              ? cost::programSeconds(*c.work, *model)
                              : c.modeledSeconds;
    if (!c.measured || !c.error.empty() || c.measured->median <= 0 ||
        !seen.insert(c.fingerprint).second)
      continue;
    modeled.push_back(c.modeledSeconds);
    calibrated.push_back(c.calibratedSeconds);
    measured.push_back(c.measured->median);
    measurements.push_back(*c.measured);
  }
  calibration.measured = static_cast<int>(measured.size());
  calibration.mapeBefore = meanAbsolutePercentageError(modeled, measured);
  calibration.mapeAfter = meanAbsolutePercentageError(calibrated, measured);
  calibration.tauBefore = kendallTau(modeled, measured);
  calibration.tauAfter = kendallTau(calibrated, measured);
  calibration.separatedTauBefore =
      separatedKendallTau(modeled, measurements, calibration.separatedPairs);
  calibration.separatedTauAfter =
      separatedKendallTau(calibrated, measurements, calibration.separatedPairs);
  calibration.pairs = calibration.measured * (calibration.measured - 1) / 2;
  return calibration;
}

absl::StatusOr<TuneResult> tune(const ModelSource &source,
                                const TuneOptions &options) {
  auto start = Clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  auto progress = [&](const std::string &line) {
    if (options.onProgress)
      options.onProgress(line);
  };
  if (options.devices < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("--devices is ", options.devices, "; it must be >= 1"));
  if (options.backend != "host" && options.backend != "mpi")
    return absl::InvalidArgumentError(absl::StrCat(
        "--backend is '", options.backend, "'; it must be host or mpi"));
  if (options.topK < 1 || options.runs < 1 || options.warmup < 0 ||
      options.rounds < 0 || options.confirmRuns < 0 ||
      options.forcedDecisions < 0 || options.kBest < 0 ||
      !(options.minSampleSeconds >= 0))
    return absl::InvalidArgumentError(
        "--top-k and --runs must be >= 1, --warmup, --forced-decisions, "
        "--k-best, --confirm-runs, the rounds and --min-sample-ms >= 0");

  absl::StatusOr<cost::CostModel> baseModel =
      cost::CostModel::named(options.deviceProfile);
  if (!baseModel.ok())
    return baseModel.status();
  const proto::DeviceProfile &baseProfile = baseModel->profile();

  // The model on one device: its inputs and parameters, which the
  // templates name.
  CompileOptions base;
  base.inputShapes = options.inputShapes;
  base.sharding.overlapCollectives = options.overlapCollectives;
  absl::StatusOr<std::unique_ptr<Model>> model = Model::load(source, base);
  if (!model.ok())
    return model.status();
  std::vector<WeightUse> weights = weightUses((*model)->module());
  absl::StatusOr<Compiled> single = (*model)->compile();
  if (!single.ok())
    return single.status();
  const proto::Executable &program = single->executable();

  std::set<std::string> parameterNames;
  std::map<std::string, int64_t> parameterBytes;
  for (const proto::TensorSpec &parameter : program.parameters()) {
    parameterNames.insert(parameter.name());
    int64_t bytes = elementByteSize(parameter.element_type());
    for (int64_t dim : parameter.dims())
      bytes *= dim;
    parameterBytes[parameter.name()] = bytes;
  }
  // The weights whose layout costs the most to get wrong: the largest.
  std::vector<WeightUse> costliest;
  for (const WeightUse &use : weights)
    if (std::none_of(
            costliest.begin(), costliest.end(),
            [&](const WeightUse &w) { return w.parameter == use.parameter; }))
      costliest.push_back(use);
  std::stable_sort(costliest.begin(), costliest.end(),
                   [&](const WeightUse &a, const WeightUse &b) {
                     return parameterBytes[a.parameter] >
                            parameterBytes[b.parameter];
                   });
  if (costliest.size() > static_cast<size_t>(options.forcedDecisions))
    costliest.resize(options.forcedDecisions);

  TuneResult result;
  std::vector<std::optional<Compiled>> compiled;
  std::optional<ScratchDirectory> scratch;
  if (options.backend == "mpi")
    scratch.emplace();
  auto addCandidate = [&](const MeshShape &mesh, std::string name,
                          proto::Plan constraints) {
    Candidate candidate;
    candidate.mesh = meshText(mesh);
    candidate.name = std::move(name);
    candidate.constraints = std::move(constraints);
    result.candidates.push_back(std::move(candidate));
  };
  for (const MeshShape &mesh : meshesFor(options.devices)) {
    if (mesh.empty()) {
      addCandidate(mesh, "single_device", {});
      continue;
    }
    std::vector<std::string> all, first = {mesh.front().first}, rest;
    for (const auto &axis : mesh)
      all.push_back(axis.first);
    rest.assign(all.begin() + 1, all.end());
    // Inputs split on their leading (batch) dimension over `axes`.
    auto inputsOver = [&](const std::vector<std::string> &axes) {
      proto::Plan plan;
      for (const proto::TensorSpec &input : program.inputs())
        addSpec(plan, input.name(), splitSpec(input.dims_size(), 0, axes));
      return plan;
    };
    addCandidate(mesh, "auto", {});
    proto::Plan dataParallel = inputsOver(all);
    for (const proto::TensorSpec &parameter : program.parameters())
      addSpec(dataParallel, parameter.name(),
              splitSpec(parameter.dims_size(), -1, {}));
    addCandidate(mesh, "data_parallel", dataParallel);
    if (proto::Plan megatron = megatronPlan(weights, all);
        megatron.tensors_size() > 0) {
      proto::Plan replicated = inputsOver({});
      replicated.MergeFrom(megatron);
      addCandidate(mesh, "megatron", replicated);
    }
    if (mesh.size() > 1) {
      addCandidate(mesh, "data_x_auto", inputsOver(first));
      if (proto::Plan megatron = megatronPlan(weights, rest);
          megatron.tensors_size() > 0) {
        proto::Plan mixed = inputsOver(first);
        mixed.MergeFrom(megatron);
        addCandidate(mesh, "data_x_megatron", mixed);
      }
    }
    // The best under each forced choice of the costliest decisions: the
    // largest weights replicated, and split on their output (else
    // contracted) features over the whole mesh, the cost model choosing
    // the rest. One of each pair is often the cost model's own choice:
    // then the executable is the same and is measured once.
    for (const WeightUse &w : costliest) {
      proto::Plan replicated, split;
      addSpec(replicated, w.parameter, splitSpec(w.rank, -1, {}));
      addSpec(split, w.parameter,
              splitSpec(w.rank,
                        w.outputDim >= 0 ? w.outputDim : w.contractedDim, all));
      addCandidate(mesh, "forced:" + w.parameter + "=replicated", replicated);
      addCandidate(mesh, "forced:" + w.parameter + "=split", split);
    }
    for (const auto &[name, plan] : options.userPlans)
      addCandidate(mesh, name, plan);
  }

  // Compile and price every candidate (the plan as the cost model's
  // constraints), unless the log knows what compiling it gives: then it is
  // compiled only if it has to be measured (or is the best).
  TuningLog log(options.logPath);
  std::string modelKey = fingerprintOf(program);
  std::vector<std::string> keys(result.candidates.size());
  compiled.resize(result.candidates.size());
  // The cost model's next-best plans on each mesh (its K best, distinct in
  // the layouts of the largest inputs and parameters), listed when the
  // mesh's "auto" candidate compiles, become candidates of their own.
  auto listsAlternatives = [&](const Candidate &candidate) {
    return candidate.name == "auto" && !candidate.mesh.empty() &&
           options.kBest > 0;
  };
  std::map<size_t, TuningLog::Alternatives> alternativesOf;
  auto compileCandidate = [&](size_t i) {
    Candidate &candidate = result.candidates[i];
    progress(absl::StrCat("compiling ",
                          candidate.mesh.empty() ? "1 device" : candidate.mesh,
                          " ", candidate.name));
    CompileOptions compileOptions = base;
    if (!candidate.mesh.empty()) {
      compileOptions.sharding.mesh = candidate.mesh;
      compileOptions.sharding.autoShard = true;
      compileOptions.sharding.autoSeconds = options.autoSeconds;
      compileOptions.sharding.deviceProfile = options.deviceProfile;
      if (candidate.constraints.tensors_size() > 0)
        compileOptions.sharding.plan = candidate.constraints;
      if (listsAlternatives(candidate))
        compileOptions.sharding.alternatives = options.kBest;
    }
    absl::StatusOr<Compiled> made = compile(source, compileOptions);
    if (!made.ok()) {
      candidate.error = std::string(made.status().message());
      size_t newline = candidate.error.find('\n');
      if (newline != std::string::npos)
        candidate.error = candidate.error.substr(0, newline) + " ...";
      progress(absl::StrCat("  skipped: ", candidate.error));
      return false;
    }
    if (const auto &report = made->autoShardReport()) {
      candidate.modeledSeconds =
          report->computeSeconds + report->communicationSeconds;
      candidate.peakBytes = report->peakBytes;
    }
    candidate.fingerprint = fingerprintOf(made->executable());
    candidate.work = cost::programWork(made->executable());
    candidate.parameters = program.parameters_size();
    candidate.splitParameters = 0;
    for (const proto::TensorPlan &tensor : made->plan().tensors())
      if (parameterNames.count(tensor.name()) &&
          tensor.spec().find('"') != std::string::npos)
        ++candidate.splitParameters;
    candidate.planText = made->plan().tensors_size() ? made->planText() : "";
    if (listsAlternatives(candidate) && made->autoShardReport() &&
        !alternativesOf.count(i)) {
      TuningLog::Alternatives &listed = alternativesOf[i];
      listed.requested = options.kBest;
      for (const autoshard::AutoShardAlternative &alternative :
           made->autoShardReport()->alternatives) {
        proto::Plan &plan = listed.plans.emplace_back();
        for (const auto &[name, spec] : alternative.layouts)
          addSpec(plan, name, spec);
      }
      log.addAlternatives(keys[i], listed);
    }
    compiled[i] = std::move(*made);
    ++result.compilations;
    log.addCandidate(keys[i],
                     {candidate.fingerprint, candidate.modeledSeconds,
                      candidate.peakBytes, *candidate.work,
                      candidate.splitParameters, candidate.parameters});
    return true;
  };
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    Candidate &candidate = result.candidates[i];
    std::string constraints;
    google::protobuf::TextFormat::PrintToString(candidate.constraints,
                                                &constraints);
    keys[i] = hashText(absl::StrCat(modelKey, "|", candidate.mesh, "|",
                                    constraints, "|", options.autoSeconds, "|",
                                    options.deviceProfile));
    std::optional<TuningLog::Alternatives> logged;
    if (listsAlternatives(candidate))
      if (logged = log.findAlternatives(keys[i]);
          logged && logged->requested >= options.kBest)
        alternativesOf[i] = *logged;
    std::optional<TuningLog::Priced> priced = log.findCandidate(keys[i]);
    if (priced && (!listsAlternatives(candidate) || alternativesOf.count(i))) {
      candidate.fingerprint = priced->fingerprint;
      candidate.modeledSeconds = priced->modeledSeconds;
      candidate.peakBytes = priced->peakBytes;
      candidate.work = priced->work;
      candidate.splitParameters = priced->splitParameters;
      candidate.parameters = priced->parameters;
    } else if (elapsed() > options.budgetSeconds) {
      candidate.error = "not compiled: the budget ran out";
      continue;
    } else if (!compileCandidate(i)) {
      continue;
    }
    candidate.calibratedSeconds = candidate.modeledSeconds;
    // Listed right after it (the loop comes to them next).
    if (auto listed = alternativesOf.find(i); listed != alternativesOf.end()) {
      std::string mesh = candidate.mesh;
      size_t count = std::min(listed->second.plans.size(),
                              static_cast<size_t>(options.kBest));
      for (size_t k = 0; k < count; ++k) {
        Candidate next;
        next.mesh = mesh;
        next.name = absl::StrCat("auto#", k + 2);
        next.constraints = listed->second.plans[k];
        result.candidates.insert(result.candidates.begin() + i + 1 + k,
                                 std::move(next));
      }
      keys.insert(keys.begin() + i + 1, count, std::string());
      compiled.insert(compiled.begin() + i + 1, count, std::nullopt);
    }
  }

  // Measurements are of an executable on a backend with a thread count.
  std::string threadsKey =
      absl::StrCat(options.backend == "host" ? "" : "/" + options.backend, "/t",
                   options.threads);
  auto best = [&]() {
    int index = -1;
    for (size_t i = 0; i < result.candidates.size(); ++i) {
      const Candidate &c = result.candidates[i];
      if (c.measured && c.error.empty() &&
          (index < 0 ||
           c.measured->median < result.candidates[index].measured->median))
        index = static_cast<int>(i);
    }
    return index;
  };
  // Takes a measurement of candidate `i` with `runs` runs from where one
  // already is (itself, a candidate with the same executable, the log);
  // false if it has to be measured.
  auto known = [&](size_t i, int runs) {
    Candidate &candidate = result.candidates[i];
    if (candidate.measured && candidate.measured->runs >= runs)
      return true;
    for (const Candidate &other : result.candidates)
      if (&other != &candidate && other.fingerprint == candidate.fingerprint &&
          other.measured && other.measured->runs >= runs) {
        candidate.measured = other.measured;
        return true;
      }
    if (std::optional<Measurement> logged =
            log.find(candidate.fingerprint + threadsKey, runs)) {
      candidate.measured = logged;
      ++result.logMeasurements;
      return true;
    }
    return false;
  };
  auto describe = [&](size_t i) {
    const Candidate &c = result.candidates[i];
    return absl::StrCat(c.mesh.empty() ? "1 device" : c.mesh, " ", c.name);
  };
  auto skip = [&](size_t i, const std::string &why) {
    result.candidates[i].error = why;
    progress(absl::StrCat("  skipped ", describe(i), ": ", why));
  };
  // Loads the candidates of `indices` on `backend`, warms each up, then
  // times one sample of each in turn, `runs` times, so that a change in the
  // machine's load falls on all of them alike. `withinBudget`: none is
  // loaded, and no run past the first is taken, once the budget is spent.
  auto timeInterleaved = [&](HostBackend &backend,
                             const std::vector<size_t> &indices, int runs,
                             bool withinBudget) {
    std::vector<Timed> timed;
    for (size_t i : indices) {
      if (withinBudget && elapsed() > options.budgetSeconds)
        break;
      if (!compiled[i] && !compileCandidate(i))
        continue;
      Timed t{i, std::make_unique<Buffers>(compiled[i]->executable())};
      absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
          compiled[i]->load(backend);
      if (!loaded.ok()) {
        skip(i, absl::StrCat("load failed: ", loaded.status().message()));
        continue;
      }
      t.loaded = std::move(*loaded);
      bool ok = true;
      for (int w = 0; w < options.warmup && ok; ++w)
        ok = t.warm();
      if (!ok) {
        skip(i, absl::StrCat("run failed: ", t.status.message()));
        continue;
      }
      timed.push_back(std::move(t));
    }
    if (timed.empty())
      return timed;
    int bestIndex = best();
    progress(absl::StrFormat(
        "measuring %d candidates, %d runs each in turn; best so far %s",
        timed.size(), runs,
        bestIndex < 0 ? std::string("none")
                      : absl::StrFormat(
                            "%.3f ms (%s)",
                            1e3 * result.candidates[bestIndex].measured->median,
                            describe(bestIndex))));
    for (int r = 0; r < runs; ++r) {
      for (Timed &t : timed)
        if (t.status.ok())
          t.sample(options.minSampleSeconds);
      // Past the budget, the round ends with the runs it has.
      if (withinBudget && r > 0 && elapsed() > options.budgetSeconds)
        break;
    }
    return timed;
  };
  // Measures the candidates of `indices` that have no measurement of
  // `runs` runs yet: loads them all, warms each up, then times one run of
  // each in turn, `runs` times, so that a change in the machine's load
  // falls on all of them alike (on a shared machine it moves a median by
  // more than most plans differ). Then profiles the newly measured, one by
  // one, for the calibration.
  auto measureRound = [&](const std::vector<size_t> &indices, int runs) {
    std::vector<size_t> pending;
    std::set<std::string> seen;
    for (size_t i : indices)
      if (!known(i, runs) &&
          seen.insert(result.candidates[i].fingerprint).second)
        pending.push_back(i);
    if (pending.empty())
      return;
    if (options.backend == "mpi") {
      for (size_t i : pending) {
        if (elapsed() > options.budgetSeconds)
          break;
        if (!compiled[i] && !compileCandidate(i))
          continue;
        int bestIndex = best();
        progress(absl::StrFormat(
            "measuring %s under mpirun (%d runs); best so far %s", describe(i),
            runs,
            bestIndex < 0
                ? std::string("none")
                : absl::StrFormat(
                      "%.3f ms (%s)",
                      1e3 * result.candidates[bestIndex].measured->median,
                      describe(bestIndex))));
        absl::StatusOr<Measurement> m = measureUnderMpi(
            *compiled[i], options, runs, scratch->path,
            !result.candidates[i].measured ||
                result.candidates[i].measured->familySeconds.empty());
        if (!m.ok()) {
          skip(i, std::string(m.status().message()));
          continue;
        }
        if (m->familySeconds.empty() && result.candidates[i].measured)
          m->familySeconds = result.candidates[i].measured->familySeconds;
        result.candidates[i].measured = *m;
        ++result.newMeasurements;
        log.add(result.candidates[i].fingerprint + threadsKey, *m);
        for (size_t j : indices)
          known(j, runs);
      }
      return;
    }
    HostBackend backend(options.threads);
    std::vector<Timed> timed =
        timeInterleaved(backend, pending, runs, /*withinBudget=*/true);
    for (Timed &t : timed) {
      Candidate &candidate = result.candidates[t.candidate];
      t.loaded.reset();
      if (!t.status.ok()) {
        skip(t.candidate, absl::StrCat("run failed: ", t.status.message()));
        continue;
      }
      Measurement m = summarise(t.times);
      if (candidate.measured && !candidate.measured->familySeconds.empty()) {
        m.familySeconds = candidate.measured->familySeconds;
      } else {
        absl::StatusOr<std::map<std::string, double>> families =
            profileFamilies(*compiled[t.candidate], options.threads,
                            options.warmup, runs);
        if (!families.ok()) {
          skip(t.candidate, absl::StrCat("profiled run failed: ",
                                         families.status().message()));
          continue;
        }
        m.familySeconds = std::move(*families);
      }
      candidate.measured = m;
      ++result.newMeasurements;
      log.add(candidate.fingerprint + threadsKey, m);
      // Candidates of the round with the same executable share it.
      for (size_t i : indices)
        known(i, runs);
    }
  };
  auto recalibrate = [&] {
    result.calibration =
        calibrate(baseProfile, /*sharedProcessor=*/true, result.candidates);
  };
  auto ranked = [&](bool measuredOnly) {
    std::vector<size_t> order;
    for (size_t i = 0; i < result.candidates.size(); ++i)
      if (!result.candidates[i].fingerprint.empty() &&
          result.candidates[i].error.empty() &&
          (!measuredOnly || result.candidates[i].measured))
        order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const Candidate &x = result.candidates[a], &y = result.candidates[b];
      if (measuredOnly)
        return x.measured->median < y.measured->median;
      return x.calibratedSeconds < y.calibratedSeconds;
    });
    return order;
  };

  // The confirmation round: the search's fastest, the fastest expert
  // plans and the plan the raw cost model ranks first, timed together (each
  // executable once).
  auto confirm = [&](int runs) {
    // The search's three fastest executables, and the three fastest of the
    // expert plans (the search's medians may have ranked them wrong too),
    // measured or, where the search measured fewer, by the calibrated
    // model: the tuned plan is always compared with an expert.
    std::vector<std::pair<int, std::string>> roles;
    auto fastestThree = [&](auto &&eligible, const std::string &role,
                            bool orUnmeasured) {
      std::set<std::string> taken;
      std::vector<size_t> order = ranked(/*measuredOnly=*/true);
      if (orUnmeasured)
        for (size_t i : ranked(/*measuredOnly=*/false))
          if (!result.candidates[i].measured)
            order.push_back(i);
      for (size_t i : order)
        if (eligible(result.candidates[i]) && taken.size() < 3 &&
            taken.insert(result.candidates[i].fingerprint).second)
          roles.emplace_back(static_cast<int>(i),
                             absl::StrCat(role, " #", taken.size()));
    };
    fastestThree([](const Candidate &) { return true; }, "search's",
                 /*orUnmeasured=*/false);
    fastestThree(
        [](const Candidate &c) {
          return c.name == "data_parallel" || c.name == "megatron" ||
                 c.name == "data_x_megatron";
        },
        "expert", /*orUnmeasured=*/true);
    int raw = -1;
    for (size_t i = 0; i < result.candidates.size(); ++i) {
      const Candidate &c = result.candidates[i];
      if (c.name == "auto" && !c.mesh.empty() && c.error.empty() &&
          !c.fingerprint.empty() &&
          (raw < 0 || c.modeledSeconds < result.candidates[raw].modeledSeconds))
        raw = static_cast<int>(i);
    }
    if (raw >= 0)
      roles.emplace_back(raw, "uncalibrated auto");
    // One measurement per executable.
    std::vector<size_t> distinct;
    std::map<std::string, size_t> byFingerprint;
    for (auto [index, role] : roles)
      if (byFingerprint.emplace(result.candidates[index].fingerprint, index)
              .second)
        distinct.push_back(index);
    std::map<size_t, Measurement> measured;
    // A round's measurements are comparable among themselves only: the log
    // keeps them under the set they were taken in, and a later search
    // reuses them only for the same set (which a warm log's search, seeing
    // the same medians, arrives at).
    std::vector<std::string> fingerprints;
    for (size_t i : distinct)
      fingerprints.push_back(result.candidates[i].fingerprint);
    std::sort(fingerprints.begin(), fingerprints.end());
    std::string roundKey = absl::StrCat(
        "confirm-", hashText(absl::StrJoin(fingerprints, ",")), "/");
    for (size_t i : distinct)
      if (std::optional<Measurement> logged = log.find(
              roundKey + result.candidates[i].fingerprint + threadsKey, runs))
        measured[i] = *logged;
    if (measured.size() < distinct.size()) {
      measured.clear();
      progress(
          absl::StrFormat("confirming: %d executables, %d runs each in turn",
                          distinct.size(), runs));
      if (options.backend == "mpi") {
        for (size_t i : distinct)
          if (compiled[i] || compileCandidate(i))
            if (absl::StatusOr<Measurement> m = measureUnderMpi(
                    *compiled[i], options, runs, scratch->path, false);
                m.ok())
              measured[i] = *m;
      } else {
        HostBackend backend(options.threads);
        for (Timed &t : timeInterleaved(backend, distinct, runs,
                                        /*withinBudget=*/false))
          if (t.status.ok() && !t.times.empty())
            measured[t.candidate] = summarise(t.times);
      }
      for (const auto &[i, m] : measured)
        log.add(roundKey + result.candidates[i].fingerprint + threadsKey, m);
    }
    for (auto [index, role] : roles) {
      auto found =
          measured.find(byFingerprint[result.candidates[index].fingerprint]);
      if (found != measured.end())
        result.confirmation.push_back({index, role, found->second});
    }
    result.confirmRuns = runs;
    // The fastest of the round is the answer.
    if (const Confirmed *fastest = fastestConfirmed(result))
      result.best = fastest->candidate;
  };

  // Successive halving: the model's top K measured briefly; then the
  // faster half (and the close calls at the cut), and any unmeasured
  // candidate the calibrated model now puts ahead of the best measured,
  // with twice the runs; until one is left or the budget ends.
  int runs = options.runs;
  // The top K distinct executables (candidates that compile to the same
  // one share its measurement, and take no place of their own).
  std::vector<size_t> round;
  std::set<std::string> executables;
  for (size_t i : ranked(false))
    if (executables.size() < static_cast<size_t>(options.topK) ||
        executables.count(result.candidates[i].fingerprint)) {
      executables.insert(result.candidates[i].fingerprint);
      round.push_back(i);
    }
  for (int rounds = 1; !round.empty(); ++rounds) {
    measureRound(round, runs);
    // Candidates with the same executable: all take its latest (most runs)
    // measurement, so that none is ranked by an older, shorter one.
    for (Candidate &c : result.candidates)
      for (const Candidate &other : result.candidates)
        if (other.fingerprint == c.fingerprint && other.measured &&
            other.error.empty() &&
            (!c.measured || other.measured->runs > c.measured->runs))
          c.measured = other.measured;
    recalibrate();
    if (elapsed() > options.budgetSeconds ||
        (options.rounds > 0 && rounds >= options.rounds))
      break;
    // This round's survivors: the faster half of those it measured.
    std::vector<size_t> survivors;
    for (size_t i : round)
      if (result.candidates[i].measured && result.candidates[i].error.empty())
        survivors.push_back(i);
    std::stable_sort(survivors.begin(), survivors.end(),
                     [&](size_t a, size_t b) {
                       return result.candidates[a].measured->median <
                              result.candidates[b].measured->median;
                     });
    double bestMedian = survivors.empty()
                            ? 0
                            : result.candidates[survivors[0]].measured->median;
    // Close calls at the cut (interquartile ranges overlapping the last
    // survivor's) go on too, up to three quarters of the round: twice the
    // runs may tell them apart.
    size_t keep =
        std::min(survivors.size(), std::max<size_t>(1, survivors.size() / 2));
    size_t limit = std::max(keep, 3 * survivors.size() / 4);
    auto measuredOf = [&](size_t k) {
      return *result.candidates[survivors[k]].measured;
    };
    while (keep < limit && !separated(measuredOf(keep - 1), measuredOf(keep)))
      ++keep;
    survivors.resize(keep);
    // Unmeasured candidates the calibrated model now puts ahead of them.
    std::vector<size_t> next = survivors;
    for (size_t i : ranked(false))
      if (!result.candidates[i].measured &&
          result.candidates[i].calibratedSeconds < bestMedian)
        next.push_back(i);
    if (next.size() <= 1 && round.size() <= 1)
      break;
    round = next;
    runs *= 2;
  }
  result.best = best();
  if (result.best >= 0 && options.confirmRuns > 0)
    confirm(options.confirmRuns);
  // The best's plan text needs its compilation (a warm log may have spared
  // it).
  while (result.best >= 0 && !compiled[result.best] &&
         !compileCandidate(result.best))
    result.best = best();
  result.seconds = elapsed();
  if (result.best < 0)
    return absl::FailedPreconditionError(
        "no candidate could be measured within the budget:\n" +
        formatTable(result));
  return result;
}

} // namespace tessel::tune
