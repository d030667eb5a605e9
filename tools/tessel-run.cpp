//===- tessel-run.cpp - Run a compiled model ------------------------------===//
//
//   tessel-run model.tessel --inputs x=x.npy --outputs output=y.npy
//
// Inputs and outputs are .npy files named by the model's input and output
// names; inputs not given are random (uniform in [-1, 1) for floats, in
// [0, 8) for integers) from --seed. --expect compares an output with a
// reference and fails when an element differs by more than
// atol + rtol * |reference|. --check runs the single-device program a
// partitioned executable carries on the same inputs and compares every
// output with it. Depends only on the runtime, not on MLIR.
//
//===----------------------------------------------------------------------===//

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "compiler/cost/CostModel.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executable.h"
#include "runtime/Names.h"
#include "runtime/cuda/CudaBackend.h"
#include "runtime/cuda/HostEmulation.h"
#include "runtime/cuda/MpiProcesses.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/mpi/MpiBackend.h"
#include "runtime/mpi/MpiCollectives.h"
#include "runtime/mpi/Watchdog.h"
#include <mpi.h>

ABSL_FLAG(std::string, inputs, "",
          "Input files: name=file.npy[,name=file.npy...]");
ABSL_FLAG(std::string, outputs, "",
          "Where to write outputs: name=file.npy[,name=file.npy...]");
ABSL_FLAG(std::string, expect, "",
          "Reference outputs to compare with: name=file.npy[,...]");
ABSL_FLAG(double, rtol, 1e-4, "Relative tolerance of --expect");
ABSL_FLAG(double, atol, 1e-5, "Absolute tolerance of --expect");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the random inputs");
ABSL_FLAG(std::string, backend, "host",
          "Where to run: host (threads as devices), mpi (one process per "
          "device: mpirun -np <devices> tessel-run ... --backend mpi), cuda "
          "(a GPU per device), or cuda_emulation (the cuda backend's plans "
          "and kernels run on the host, slowly: for machines without a GPU)");
ABSL_FLAG(std::string, params, "",
          "The parameter file (default: the one named at compile time, "
          "beside the executable, else <executable>.params)");
ABSL_FLAG(int, threads, 0, "Cores for the host backend (0: all)");
ABSL_FLAG(double, timeout, tessel::Watchdog::kDefaultSeconds,
          "Seconds a device waits for the others, in any phase (one process "
          "per device under mpirun: start-up, load, inputs, each collective, "
          "outputs, shutdown; cuda: each collective), before the job ends "
          "naming the device, the phase and whom it waited for");
ABSL_FLAG(int, devices, 0,
          "Devices available (host: threads standing in for them; 0: as "
          "many as the executable's mesh has)");
ABSL_FLAG(int, iterations, 1, "Runs to time (the outputs are the last run's)");
ABSL_FLAG(bool, run_times, false,
          "With --iterations: also print each timed run's time (rank 0's), "
          "as tessel-tune reads them");
ABSL_FLAG(bool, profile, false,
          "Print the time spent per kernel and per collective kind (an "
          "overlapped one's, '(overlapped)', runs beside the kernels'; "
          "collective_done is what the devices waited for those)");
ABSL_FLAG(int64_t, steps, 0,
          "Training: run this many steps of a training step (tessel-compile "
          "--train), the parameters and optimizer state kept on the devices "
          "between steps. An input file holds one batch for every step, or a "
          "batch per step along a leading dimension (step i takes batch i "
          "modulo their number). --outputs then writes each output the steps "
          "return stacked along a leading step dimension, and the final "
          "value of a parameter or optimizer state");
ABSL_FLAG(std::string, save_params, "",
          "Training: after the steps, write the model's parameters as "
          "trained to this parameter file (what the forward model runs with: "
          "tessel-run --params)");
ABSL_FLAG(std::string, checkpoint, "",
          "Training: write the parameters, the optimizer state and the steps "
          "taken to this file, atomically, after the last step and every "
          "--checkpoint_every steps");
ABSL_FLAG(int64_t, checkpoint_every, 0,
          "Training: steps between checkpoints (0: after the last only)");
ABSL_FLAG(std::string, resume, "",
          "Training: start from this checkpoint, at the step it records, "
          "and run until --steps in all");
ABSL_FLAG(int64_t, log_every, 1,
          "Training: print the scalar outputs (the loss) every this many "
          "steps (0: never)");
ABSL_FLAG(std::string, runtime_memory_profile, "",
          "With --steps: write the device profile --device-profile names to "
          "this file with runtime_bytes, what the runtime itself took per "
          "device here (the largest peak resident growth beyond the "
          "executable's buffers among the devices; under mpirun, with the "
          "shared memory the collectives' transport makes resident once "
          "collectives of every kind and layout have run) and, under "
          "mpirun, collective_workspace, what each collective kind takes "
          "beyond its operand and result (measured on 8 MiB per rank); a "
          "small program "
          "on the backend and device count a model will run on measures "
          "them, and tessel-compile --device-profile FILE counts them in "
          "the modeled peak and the memory budget");
ABSL_FLAG(std::string, device_profile, "host",
          "With --runtime-memory-profile: the profile to copy (a built-in "
          "name or a file)");
ABSL_FLAG(bool, check, false,
          "Also run the single-device program a partitioned executable "
          "carries and compare every output with it (--rtol, --atol)");

namespace {

/// Whether this process is one of an MPI job's, between MPI_Init and
/// MPI_Finalize.
bool inMpiJob = false;

/// This process's rank under mpirun, before MPI_Init (0 outside a job).
int environmentRank() {
  int rank = tessel::Watchdog::rankFromEnvironment();
  return rank < 0 ? 0 : rank;
}

void leaveMpiJob();

int fail(const std::string &message) {
  // One write: the lines of several ranks must not interleave.
  std::string line = absl::StrCat("tessel-run: error: ", message, "\n");
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  // The other ranks would wait for this one: the whole job ends.
  if (inMpiJob)
    MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

/// An error of this rank's, or one every rank of the job returns alike
/// (a job error), which one rank prints before all end cleanly.
int fail(const absl::Status &status) {
  std::optional<int> reporter = tessel::jobErrorReporter(status);
  if (!reporter || !inMpiJob)
    return fail(std::string(status.message()));
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == *reporter) {
    std::string line =
        absl::StrCat("tessel-run: error: ", status.message(), "\n");
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
  leaveMpiJob();
  return 1;
}

/// An error in the command line, which every rank of a job shares: rank 0
/// alone says it, and all end cleanly.
int usageError(const std::string &message) {
  if (environmentRank() == 0) {
    std::string line = absl::StrCat("tessel-run: error: ", message, "\n");
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
  leaveMpiJob();
  return 1;
}

/// absl's parser rejects an unknown flag without naming the one meant: the
/// first unknown flag of `argv`, with the nearest known one.
std::optional<std::string> unknownFlag(int argc, char **argv) {
  std::vector<std::string> known;
  for (const auto &[name, flag] : absl::GetAllFlags())
    known.push_back(absl::StrCat("--", name));
  std::sort(known.begin(), known.end());
  for (int i = 1; i < argc; ++i) {
    absl::string_view argument = argv[i];
    if (argument == "--")
      break;
    if (!absl::ConsumePrefix(&argument, "-") || argument.empty())
      continue;
    absl::ConsumePrefix(&argument, "-");
    absl::string_view name = argument.substr(0, argument.find('='));
    // absl's own: usage and flag files, which its parser handles itself.
    static const absl::string_view kBuiltin[] = {
        "help",     "helpfull",  "helpshort",  "helppackage",
        "helpon",   "helpmatch", "version",    "only_check_args",
        "flagfile", "fromenv",   "tryfromenv", "undefok"};
    if (std::find(std::begin(kBuiltin), std::end(kBuiltin), name) !=
        std::end(kBuiltin))
      continue;
    absl::CommandLineFlag *flag = absl::FindCommandLineFlag(name);
    if (!flag && absl::ConsumePrefix(&name, "no")) {
      flag = absl::FindCommandLineFlag(name);
      if (flag && !flag->IsOfType<bool>())
        flag = nullptr;
    }
    if (!flag)
      return tessel::withNameHint(absl::StrCat("unknown flag '", argv[i],
                                               "' (tessel-run --help lists "
                                               "the flags)"),
                                  absl::StrCat("--", name), known, "flags",
                                  /*listAtMost=*/0);
    // A flag's value may follow as the next argument.
    if (argument.find('=') == absl::string_view::npos &&
        !flag->IsOfType<bool>())
      ++i;
  }
  return std::nullopt;
}

/// Starts this process's part of an MPI job under the watchdog (armed
/// before MPI_Init: a rank that never starts ends the job too).
absl::Status joinMpiJob(int *argc, char ***argv) {
  int rank = tessel::Watchdog::rankFromEnvironment();
  if (absl::Status status =
          tessel::Watchdog::start(absl::GetFlag(FLAGS_timeout), rank);
      !status.ok())
    return status;
  tessel::Watchdog::Wait waiting("mpi_init", "start-up (MPI_Init)",
                                 tessel::Watchdog::othersFromEnvironment());
  // Backends call MPI from a device's thread (the cuda backend joins its
  // communicators and runs on one thread per device) while the main
  // thread waits: one thread at a time, which MPI_THREAD_SINGLE (what
  // MPI_Init gives) does not allow.
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) !=
      MPI_SUCCESS)
    return absl::InternalError("MPI_Init_thread failed");
  inMpiJob = true;
  if (provided < MPI_THREAD_SERIALIZED)
    return absl::FailedPreconditionError(
        "this MPI library does not let threads take turns calling it "
        "(MPI_THREAD_SERIALIZED); Tessel's backends need that");
  return absl::OkStatus();
}

/// Ends this process's part of an MPI job, once its runs are done.
void leaveMpiJob() {
  if (!inMpiJob)
    return;
  tessel::Watchdog::Wait waiting("mpi_finalize", "shutdown (MPI_Finalize)",
                                 tessel::Watchdog::othersFromEnvironment());
  MPI_Finalize();
  inMpiJob = false;
}

/// Names of `specs` (the executable's inputs or outputs).
std::vector<std::string>
namesOf(const google::protobuf::RepeatedPtrField<tessel::proto::TensorSpec>
            &specs) {
  std::vector<std::string> names;
  for (const tessel::proto::TensorSpec &spec : specs)
    names.push_back(spec.name());
  return names;
}

absl::StatusOr<std::map<std::string, std::string>>
parseFileList(const std::string &flag, const std::string &value) {
  std::map<std::string, std::string> files;
  for (absl::string_view entry :
       absl::StrSplit(value, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (parts.first.empty() || parts.second.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, " entry '", entry, "' is not of the form name=file.npy"));
    files[parts.first] = parts.second;
  }
  return files;
}

tessel::HostTensor randomTensor(const tessel::proto::TensorSpec &spec,
                                std::mt19937_64 &random) {
  tessel::HostTensor tensor;
  tensor.type = spec.element_type();
  // As the user gives it: a viewed input (a fused q/k/v weight's optimizer
  // state) in its stored shape.
  const auto &dims = tessel::storedDims(spec);
  tensor.dims.assign(dims.begin(), dims.end());
  int64_t count = tensor.numElements();
  tensor.bytes.resize(count * tessel::kernels::byteSize(tensor.type));
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int64_t> integer(0, 7);
  for (int64_t i = 0; i < count; ++i) {
    switch (tensor.type) {
    case tessel::proto::F32:
    case tessel::proto::F64:
    case tessel::proto::F16:
    case tessel::proto::BF16:
      tessel::kernels::storeDouble(tensor.bytes.data(), tensor.type, i,
                                   real(random));
      break;
    case tessel::proto::I1:
      tensor.as<uint8_t>()[i] = integer(random) & 1;
      break;
    default: // Other integers: small values every type holds.
      tessel::kernels::storeInt(tensor.bytes.data(), tensor.type, i,
                                integer(random));
      break;
    }
  }
  return tensor;
}

std::string shapeOf(const tessel::HostTensor &tensor) {
  google::protobuf::RepeatedField<int64_t> dims(tensor.dims.begin(),
                                                tensor.dims.end());
  return tessel::describeTensor(tensor.type, dims);
}

/// Compares `got` with `want` element by element; prints the largest
/// error after `label` and returns whether any element is outside
/// atol + rtol * |want|.
bool differs(const tessel::HostTensor &got, const tessel::HostTensor &want,
             const std::string &label) {
  double worst = 0, worstRelative = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double a = tessel::kernels::loadDouble(got.bytes.data(), got.type, i);
    double b = tessel::kernels::loadDouble(want.bytes.data(), want.type, i);
    double error = std::fabs(a - b);
    if (std::isnan(a) != std::isnan(b) ||
        error > absl::GetFlag(FLAGS_atol) +
                    absl::GetFlag(FLAGS_rtol) * std::fabs(b))
      ++bad;
    worst = std::max(worst, error);
    worstRelative =
        std::max(worstRelative, error / std::max(std::fabs(b), 1e-12));
  }
  std::cout << "  vs " << label << ": largest error " << worst << " (relative "
            << worstRelative << "), " << bad << " elements outside tolerance\n";
  return bad > 0;
}

/// A size in kB that /proc/self/status gives (`field`, with its colon),
/// in bytes; -1 if unknown.
int64_t statusBytes(const char *field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (absl::StartsWith(line, field))
      return std::atoll(line.c_str() + std::strlen(field)) * 1024;
  return -1;
}

/// This process's resident memory (VmRSS) or its high-water mark since
/// the last resetPeakResident() (VmHWM), in bytes; -1 if unknown.
int64_t residentBytes(bool peak) {
  return statusBytes(peak ? "VmHWM:" : "VmRSS:");
}

/// Restarts VmHWM from the current resident size (Linux's clear_refs).
bool resetPeakResident() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

/// What the MPI collectives take per rank beyond their operands.
struct CollectiveMemory {
  /// Per kind, a multiple of the operand's bytes per rank.
  std::map<std::string, double> workspace;
  /// Held for the rest of the run once the collectives' traffic has
  /// reached every transport buffer it can (the largest rank's bytes).
  int64_t transportBytes = 0;
  /// Whether the figures were measured (under MPI).
  bool measured = false;
};

/// The shared memory the communication library makes resident on this
/// rank once collectives of every kind, size and layout a program makes
/// have run: Open MPI's shared-memory transport touches its segments
/// (each rank's, which every peer maps too) as its non-blocking
/// collectives of strided pieces (a parameter gathered along its second
/// dimension) fill them, up to 0.8 MiB of each on 8 ranks, and they stay
/// resident: 6.4 MiB of the GPT-2 bench model's ZeRO-3 step over 8 ranks
/// that a small model's data parallel steps (blocking all-reduces) never
/// reach. Each collective through `group`, as a step runs it (blocking or
/// not by size), twice. (The heap the collectives take is their
/// workspace, measured apart.)
absl::StatusOr<int64_t> warmTransport(tessel::MpiGroup &group, int ranks) {
  using tessel::CollectiveBuffer;
  int64_t grown = 0;
  for (int64_t rows : {64, 512, 2048})
    for (int64_t columns : {16, 64, 256}) {
      std::vector<float> whole(rows * columns * ranks, 1.0f),
          gathered(whole.size(), 1.0f), part(rows * columns, 1.0f);
      int64_t before = statusBytes("RssShmem:");
      for (int round = 0; round < 2; ++round)
        for (int64_t dim : {0, 1}) {
          tessel::kernels::Shape wholeDims = {rows, columns};
          wholeDims[dim] *= ranks;
          CollectiveBuffer wholeIn{tessel::proto::F32, wholeDims, whole.data()};
          CollectiveBuffer wholeOut{tessel::proto::F32, wholeDims,
                                    gathered.data()};
          CollectiveBuffer piece{
              tessel::proto::F32, {rows, columns}, part.data()};
          for (absl::Status status :
               {group.allGather(dim, piece, wholeOut),
                group.reduceScatter(tessel::Reduction::Sum, dim, wholeIn,
                                    piece),
                group.allReduce(tessel::Reduction::Sum, wholeIn, wholeOut)})
            if (!status.ok())
              return status;
        }
      grown += std::max<int64_t>(0, statusBytes("RssShmem:") - before);
    }
  return grown;
}

/// Under MPI, on every rank: what each collective kind takes beyond its
/// operand and result while it runs, as a multiple of its operand's bytes
/// per rank, the largest over the ranks. Each kind runs on 8 MiB per rank
/// (Open MPI's non-blocking path, which a step's largest collectives
/// take), its operand and result allocated and written first; the freed
/// heap goes back to the system before each (malloc_trim), so that what
/// the collective allocates shows as resident growth. Twice per kind, the
/// second counted (the first also sets up what Open MPI keeps). Before
/// them, the transport's own buffers (warmTransport).
absl::StatusOr<CollectiveMemory> measureCollectiveMemory(int ranks) {
  using tessel::CollectiveBuffer;
  std::vector<int> members(ranks);
  std::iota(members.begin(), members.end(), 0);
  absl::StatusOr<std::unique_ptr<tessel::MpiGroup>> created =
      tessel::MpiGroup::create(members);
  if (!created.ok())
    return created.status();
  tessel::MpiGroup &group = **created;
  absl::StatusOr<int64_t> transport = warmTransport(group, ranks);
  if (!transport.ok())
    return transport.status();
  // 8 MiB of f32 per rank, a multiple of the rank count.
  int64_t elements = (int64_t{2} << 20) / ranks * ranks;
  auto buffer = [](std::vector<float> &storage, tessel::kernels::Shape dims) {
    int64_t count = 1;
    for (int64_t dim : dims)
      count *= dim;
    storage.assign(count, 1.0f);
    return CollectiveBuffer{tessel::proto::F32, std::move(dims),
                            storage.data()};
  };
  using Run = std::function<absl::Status(const CollectiveBuffer &,
                                         const CollectiveBuffer &)>;
  struct Probe {
    tessel::cost::Collective kind;
    tessel::kernels::Shape in, out;
    Run run;
  };
  int64_t piece = elements / ranks;
  std::vector<Probe> probes = {
      {tessel::cost::Collective::AllReduce,
       {elements},
       {elements},
       [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
         return group.allReduce(tessel::Reduction::Sum, in, out);
       }},
      {tessel::cost::Collective::ReduceScatter,
       {elements},
       {piece},
       [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
         return group.reduceScatter(tessel::Reduction::Sum, 0, in, out);
       }},
      {tessel::cost::Collective::AllGather,
       {elements},
       {elements * ranks},
       [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
         return group.allGather(0, in, out);
       }},
      {tessel::cost::Collective::AllToAll,
       {ranks, piece},
       {1, elements},
       [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
         return group.allToAll(0, 1, in, out);
       }},
  };
  std::vector<double> multiples;
  for (const Probe &probe : probes) {
    std::vector<float> inStorage, outStorage;
    CollectiveBuffer in = buffer(inStorage, probe.in);
    CollectiveBuffer out = buffer(outStorage, probe.out);
    int64_t grown = 0;
    for (int round = 0; round < 2; ++round) {
      ::malloc_trim(0);
      if (!resetPeakResident())
        return absl::UnavailableError("cannot reset the resident peak");
      int64_t before = residentBytes(/*peak=*/false);
      if (absl::Status status = probe.run(in, out); !status.ok())
        return status;
      grown = residentBytes(/*peak=*/true) - before;
    }
    multiples.push_back(std::max<int64_t>(0, grown) /
                        static_cast<double>(inStorage.size() * sizeof(float)));
  }
  multiples.push_back(static_cast<double>(*transport));
  std::vector<double> largest(multiples.size());
  {
    tessel::Watchdog::Wait waiting("outputs", "outputs (collective workspace)",
                                   "the other ranks");
    MPI_Allreduce(multiples.data(), largest.data(),
                  static_cast<int>(multiples.size()), MPI_DOUBLE, MPI_MAX,
                  MPI_COMM_WORLD);
  }
  CollectiveMemory memory;
  for (size_t k = 0; k < probes.size(); ++k)
    // Below a hundredth, what moved the resident size was not the
    // collective's own allocation.
    if (largest[k] >= 0.01)
      memory.workspace[tessel::cost::collectiveName(probes[k].kind)] =
          std::round(largest[k] * 100) / 100;
  memory.transportBytes = static_cast<int64_t>(largest.back());
  memory.measured = true;
  return memory;
}

/// Writes --device-profile's profile to `path` with `runtimeBytes` as its
/// runtime_bytes and `workspace` as its collective_workspace, measured
/// here on `devices` devices.
absl::Status writeRuntimeMemoryProfile(const std::string &path,
                                       int64_t stepsBytes,
                                       const CollectiveMemory &collectives,
                                       int devices) {
  const std::map<std::string, double> &workspace = collectives.workspace;
  int64_t runtimeBytes = stepsBytes + collectives.transportBytes;
  absl::StatusOr<tessel::cost::CostModel> base =
      tessel::cost::CostModel::named(absl::GetFlag(FLAGS_device_profile));
  if (!base.ok())
    return base.status();
  tessel::proto::DeviceProfile profile = base->profile();
  profile.mutable_device()->set_runtime_bytes(runtimeBytes);
  profile.mutable_device()->mutable_collective_workspace()->clear();
  for (const auto &[kind, multiple] : workspace)
    (*profile.mutable_device()->mutable_collective_workspace())[kind] =
        multiple;
  profile.set_source(
      absl::StrCat(profile.source(), "; runtime_bytes",
                   workspace.empty() ? "" : " and collective_workspace",
                   " measured by tessel-run --backend ",
                   absl::GetFlag(FLAGS_backend), " on ", devices, " devices"));
  if (absl::Status status = tessel::cost::writeProfile(profile, path);
      !status.ok())
    return status;
  std::cout << "runtime memory per device: " << runtimeBytes / 1048576.0
            << " MiB";
  if (collectives.measured)
    std::cout << " (" << stepsBytes / 1048576.0 << " in the steps, "
              << collectives.transportBytes / 1048576.0
              << " the collectives' transport buffers)";
  for (const auto &[kind, multiple] : workspace)
    std::cout << "; " << kind << " workspace " << multiple << "x its operand";
  std::cout << ", written to " << path << "\n";
  return absl::OkStatus();
}

/// What this process held before it loaded the executable.
int64_t residentBeforeLoad = -1;

/// The step inputs of --steps: per input a step takes, its file's tensor
/// (one batch, or a batch per step along a leading dimension) or a random
/// batch; errors name the input and the shapes.
absl::StatusOr<std::vector<tessel::HostTensor>>
readStepInputs(const tessel::proto::Executable &executable,
               const tessel::StepSignature &signature,
               const std::map<std::string, std::string> &files,
               std::mt19937_64 &random) {
  std::vector<tessel::HostTensor> batches;
  for (int i : signature.inputs) {
    const tessel::proto::TensorSpec &spec = executable.inputs(i);
    auto file = files.find(spec.name());
    if (file == files.end()) {
      batches.push_back(randomTensor(spec, random));
      continue;
    }
    absl::StatusOr<tessel::HostTensor> tensor = tessel::readNpy(file->second);
    if (!tensor.ok())
      return tensor.status();
    bool one = std::equal(tensor->dims.begin(), tensor->dims.end(),
                          spec.dims().begin(), spec.dims().end());
    bool perStep =
        tensor->dims.size() == static_cast<size_t>(spec.dims_size()) + 1 &&
        tensor->dims[0] > 0 &&
        std::equal(tensor->dims.begin() + 1, tensor->dims.end(),
                   spec.dims().begin(), spec.dims().end());
    if (tensor->type != spec.element_type() || (!one && !perStep))
      return absl::InvalidArgumentError(absl::StrCat(
          "--inputs: '", file->second, "' is ", shapeOf(*tensor), "; input '",
          spec.name(), "' takes ",
          tessel::describeTensor(spec.element_type(), spec.dims()),
          " for every step, or a batch per step: Sx",
          tessel::describeTensor(spec.element_type(), spec.dims())));
    batches.push_back(std::move(*tensor));
  }
  return batches;
}

/// --steps: runs the training step `loaded` until `steps` steps are taken
/// in all (from --resume's count), with checkpoints, and writes what
/// --outputs, --expect and --save-params ask. Returns the exit code.
int runSteps(tessel::LoadedExecutable &loaded,
             const tessel::proto::Executable &executable,
             const tessel::ParameterSource &parameters,
             const std::map<std::string, std::string> &inputFiles,
             const std::map<std::string, std::string> &outputFiles,
             const std::map<std::string, std::string> &expectFiles, int rank) {
  tessel::StepSignature signature = tessel::stepSignature(executable);
  int64_t steps = absl::GetFlag(FLAGS_steps);
  int64_t every = absl::GetFlag(FLAGS_checkpoint_every);
  std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  std::mt19937_64 random(absl::GetFlag(FLAGS_seed));
  std::vector<tessel::HostTensor> batches;
  if (rank == 0) {
    absl::StatusOr<std::vector<tessel::HostTensor>> read =
        readStepInputs(executable, signature, inputFiles, random);
    if (!read.ok())
      return fail(read.status());
    batches = std::move(*read);
  }
  int64_t start = 0;
  if (std::string resume = absl::GetFlag(FLAGS_resume); !resume.empty()) {
    absl::StatusOr<int64_t> taken = tessel::loadCheckpoint(loaded, resume);
    if (!taken.ok())
      return fail(taken.status());
    start = std::min(*taken, steps);
    if (rank == 0)
      std::cout << "resumed from '" << resume << "' after " << *taken
                << " steps\n";
  }
  // The outputs of every step run here, stacked.
  std::vector<tessel::HostTensor> stacked;
  for (int o : signature.outputs) {
    const tessel::proto::TensorSpec &spec = executable.outputs(o);
    tessel::HostTensor tensor = tessel::outputFor(spec);
    tensor.dims.insert(tensor.dims.begin(), steps - start);
    tensor.bytes.resize(tensor.bytes.size() * (steps - start));
    stacked.push_back(std::move(tensor));
  }
  std::vector<std::vector<int64_t>> inputDims, outputDims;
  for (int i : signature.inputs)
    inputDims.push_back({executable.inputs(i).dims().begin(),
                         executable.inputs(i).dims().end()});
  for (int o : signature.outputs)
    outputDims.push_back({executable.outputs(o).dims().begin(),
                          executable.outputs(o).dims().end()});
  int64_t logEvery = absl::GetFlag(FLAGS_log_every);
  // The peak the steps reach, from here (the state and the program
  // loaded, the batches read).
  bool measured = residentBeforeLoad >= 0 && resetPeakResident();
  auto begin = std::chrono::steady_clock::now();
  // The first step also prepares what kernels keep between runs.
  double firstSeconds = 0;
  std::map<std::string, double> warmUp; // --profile after the first step
  for (int64_t i = start; i < steps; ++i) {
    std::vector<tessel::TensorRef> in, out;
    for (size_t b = 0; b < batches.size(); ++b) {
      tessel::HostTensor &batch = batches[b];
      bool perStep = batch.dims.size() > inputDims[b].size();
      size_t bytes =
          perStep ? batch.bytes.size() / batch.dims[0] : batch.bytes.size();
      int64_t which = perStep ? i % batch.dims[0] : 0;
      in.emplace_back(batch.type, inputDims[b],
                      batch.bytes.data() + which * bytes, bytes);
    }
    for (size_t o = 0; o < stacked.size(); ++o) {
      size_t bytes = stacked[o].bytes.size() / (steps - start);
      out.emplace_back(stacked[o].type, outputDims[o],
                       stacked[o].bytes.data() + (i - start) * bytes, bytes);
    }
    if (rank != 0)
      in.clear(), out.clear(); // Rank 0 holds the batches and the results.
    if (absl::Status status = loaded.step(in, out); !status.ok())
      return fail(absl::StrCat("step ", i + 1, ": ", status.message()));
    if (i == start) {
      firstSeconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - begin)
                         .count();
      for (const auto &[kernel, total] : loaded.profile())
        warmUp[kernel] = total;
    }
    if (rank == 0 && logEvery > 0 && (i + 1) % logEvery == 0) {
      std::string line = absl::StrCat("step ", i + 1, ":");
      for (size_t o = 0; o < out.size(); ++o)
        if (outputDims[o].empty())
          absl::StrAppend(
              &line, " ", executable.outputs(signature.outputs[o]).name(), " ",
              tessel::kernels::loadDouble(out[o].data, out[o].type, 0));
      std::cout << line << "\n" << std::flush;
    }
    bool last = i + 1 == steps;
    if (!checkpoint.empty() && (last || (every > 0 && (i + 1) % every == 0)))
      if (absl::Status status =
              tessel::saveCheckpoint(loaded, i + 1, checkpoint);
          !status.ok())
        return fail(status);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  // Memory per device: what the steps held at their peak above what the
  // process held before loading (a process per device under MPI; the
  // process's share per device thread on the host).
  int64_t grown =
      measured ? residentBytes(/*peak=*/true) - residentBeforeLoad : -1;
  int devices = executable.programs_size();
  // Per rank: its growth, and its growth beyond its executable's buffers
  // (the runtime's own memory).
  int64_t executableBytes = 0;
  if (inMpiJob)
    executableBytes = tessel::deviceBytes(executable, rank);
  else
    for (int d = 0; d < devices; ++d)
      executableBytes += tessel::deviceBytes(executable, d);
  int64_t mine[2] = {grown, grown - executableBytes};
  std::vector<int64_t> perRank(inMpiJob ? 2 * devices : 2);
  if (inMpiJob) {
    tessel::Watchdog::Wait waiting("outputs", "outputs (memory figures)",
                                   "the other ranks");
    MPI_Gather(mine, 2, MPI_INT64_T, perRank.data(), 2, MPI_INT64_T, 0,
               MPI_COMM_WORLD);
  } else {
    perRank = {grown / devices, (grown - executableBytes) / devices};
  }
  std::vector<int64_t> grownPerRank, runtimePerRank;
  for (size_t r = 0; r < perRank.size(); r += 2) {
    grownPerRank.push_back(perRank[r]);
    runtimePerRank.push_back(perRank[r + 1]);
  }
  // Under MPI the collectives' memory too, on every rank at once.
  CollectiveMemory collectives;
  if (inMpiJob && measured &&
      !absl::GetFlag(FLAGS_runtime_memory_profile).empty()) {
    absl::StatusOr<CollectiveMemory> probed = measureCollectiveMemory(devices);
    if (!probed.ok())
      return fail(absl::StrCat("--runtime-memory-profile: measuring the "
                               "collectives' memory: ",
                               probed.status().message()));
    collectives = std::move(*probed);
  }
  if (std::string path = absl::GetFlag(FLAGS_save_params); !path.empty())
    if (absl::Status status = tessel::saveParameters(loaded, parameters, path);
        !status.ok())
      return fail(status);
  // What --outputs and --expect name: the steps' outputs, stacked, and the
  // state's final values.
  std::map<std::string, tessel::HostTensor> results;
  for (size_t o = 0; o < stacked.size(); ++o)
    results[executable.outputs(signature.outputs[o]).name()] =
        std::move(stacked[o]);
  for (const auto *files : {&outputFiles, &expectFiles})
    for (const auto &[name, file] : *files)
      if (!results.count(name)) {
        absl::StatusOr<tessel::HostTensor> value = loaded.readState(name);
        if (!value.ok())
          return fail(value.status());
        results[name] = std::move(*value);
      }
  if (rank != 0)
    return 0;
  if (steps > start) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    std::cout << steps - start << " steps in " << seconds << " s ("
              << seconds / (steps - start) * 1e3 << " ms per step";
    if (steps - start > 1)
      std::cout << ", " << (seconds - firstSeconds) / (steps - start - 1) * 1e3
                << " ms after the first";
    std::cout << "), peak memory " << usage.ru_maxrss / 1024 << " MB\n";
    // Per step after the first (this rank's own under MPI; the devices'
    // sum on the host), most first.
    if (absl::GetFlag(FLAGS_profile) && steps - start > 1) {
      std::vector<std::pair<std::string, double>> profile = loaded.profile();
      for (auto &[kernel, total] : profile)
        total = (total - warmUp[kernel]) / (steps - start - 1);
      std::sort(
          profile.begin(), profile.end(),
          [](const auto &a, const auto &b) { return a.second > b.second; });
      for (const auto &[kernel, perStep] : profile)
        std::cout << "  " << kernel << ": " << perStep * 1e3
                  << " ms per step\n";
    }
    if (measured) {
      auto largest = std::max_element(grownPerRank.begin(), grownPerRank.end());
      std::cout << "memory per device: " << *largest / 1048576.0
                << " MiB measured ("
                << (inMpiJob
                        ? absl::StrCat("rank ", largest - grownPerRank.begin(),
                                       ", the largest peak resident "
                                       "growth of the ranks")
                        : absl::StrCat("the process's peak resident "
                                       "growth / ",
                                       devices))
                << "), " << tessel::deviceBytes(executable, 0) / 1048576.0
                << " MiB estimated from the executable (--explain-memory)\n";
    }
    if (std::string path = absl::GetFlag(FLAGS_runtime_memory_profile);
        !path.empty()) {
      if (!measured)
        return fail("--runtime-memory-profile: this system does not let "
                    "tessel-run measure its resident memory "
                    "(/proc/self/status, /proc/self/clear_refs)");
      if (absl::Status status = writeRuntimeMemoryProfile(
              path,
              std::max<int64_t>(0, *std::max_element(runtimePerRank.begin(),
                                                     runtimePerRank.end())),
              collectives, devices);
          !status.ok())
        return fail(status);
    }
  }
  bool mismatch = false;
  for (const auto &[name, tensor] : results) {
    std::cout << "output '" << name << "': " << shapeOf(tensor) << "\n";
    if (auto file = outputFiles.find(name); file != outputFiles.end())
      if (absl::Status status = tessel::writeNpy(file->second, tensor);
          !status.ok())
        return fail(status);
    if (auto file = expectFiles.find(name); file != expectFiles.end()) {
      absl::StatusOr<tessel::HostTensor> expected =
          tessel::readNpy(file->second);
      if (!expected.ok())
        return fail(expected.status());
      if (expected->dims != tensor.dims)
        return fail(absl::StrCat("output '", name, "' is ", shapeOf(tensor),
                                 " but '", file->second, "' is ",
                                 shapeOf(*expected)));
      mismatch |= differs(tensor, *expected, file->second);
    }
  }
  return mismatch ? 2 : 0;
}

} // namespace

int main(int argc, char **argv) {
  absl::SetProgramUsageMessage(
      "tessel-run model.tessel [--inputs x=x.npy,...] [--outputs y=y.npy,...]");
  // --save-params and --save_params alike: dashes in a flag's name are
  // the underscores of absl's.
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i)
    if (argv[i][0] == '-')
      for (char *c = argv[i] + 2; *c && *c != '='; ++c)
        if (*c == '-')
          *c = '_';
  if (std::optional<std::string> unknown = unknownFlag(argc, argv))
    return usageError(*unknown);
  std::vector<char *> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() != 2)
    return usageError("expected one executable, e.g. tessel-run model.tessel");
  std::string path = positional[1];
  std::string backendName = absl::GetFlag(FLAGS_backend);
  std::vector<std::string> backends = {"host", "mpi", "cuda", "cuda_emulation"};
  if (std::find(backends.begin(), backends.end(), backendName) ==
      backends.end())
    return usageError(tessel::withNameHint(
        absl::StrCat("unknown backend '", backendName, "'"), backendName,
        backends, "backends"));
  if (absl::GetFlag(FLAGS_devices) < 0)
    return usageError("--devices must not be negative");
  if (!(absl::GetFlag(FLAGS_timeout) > 0))
    return usageError("--timeout must be positive");
  int64_t steps = absl::GetFlag(FLAGS_steps);
  if (steps < 0 || absl::GetFlag(FLAGS_checkpoint_every) < 0)
    return usageError("--steps and --checkpoint_every must not be negative");
  if (steps == 0)
    for (const char *flag :
         {"save_params", "checkpoint", "resume", "runtime_memory_profile"})
      if (!absl::FindCommandLineFlag(flag)->CurrentValue().empty())
        return usageError(absl::StrCat("--", flag, " needs --steps"));
  if (steps > 0 &&
      (absl::GetFlag(FLAGS_check) || absl::GetFlag(FLAGS_iterations) != 1))
    return usageError("--check and --iterations run the program as a "
                      "function; --steps trains: give one or the other");
  // With MPI, every rank runs this; rank 0 reports.
  int rank = 0;
  // The cuda backends run one process per device when started by mpirun.
  bool underMpirun = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  bool processPerDevice =
      backendName == "mpi" ||
      (absl::StartsWith(backendName, "cuda") && underMpirun);
  if (backendName == "mpi" && !underMpirun) {
    // Not started by mpirun: one process could only run one device.
    absl::StatusOr<tessel::proto::Executable> read =
        tessel::readExecutable(path);
    if (!read.ok())
      return fail(std::string(read.status().message()));
    if (read->programs_size() > 1)
      return usageError(absl::StrCat(
          "--backend mpi runs one process per device, started by mpirun: "
          "mpirun -np ",
          read->programs_size(), " tessel-run ", path,
          " --backend mpi ... (this executable has ", read->programs_size(),
          " devices; --backend host runs them as threads of one process)"));
  }
  if (processPerDevice) {
    if (absl::Status status = joinMpiJob(&argc, &argv); !status.ok())
      return fail(std::string(status.message()));
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }

  absl::StatusOr<tessel::proto::Executable> executable =
      tessel::readExecutable(path);
  absl::Status located = executable.status();
  if (located.ok())
    located = tessel::locateParameterFile(*executable, path,
                                          absl::GetFlag(FLAGS_params));
  // Under mpirun, every rank learns whether all read theirs; the first
  // that failed says why.
  if (processPerDevice)
    located = tessel::MpiGroup::worldSucceeds(located,
                                              "load (reading the executable)");
  if (!located.ok())
    return fail(located);
  auto inputFiles = parseFileList("inputs", absl::GetFlag(FLAGS_inputs));
  auto outputFiles = parseFileList("outputs", absl::GetFlag(FLAGS_outputs));
  auto expectFiles = parseFileList("expect", absl::GetFlag(FLAGS_expect));
  for (auto *list : {&inputFiles, &outputFiles, &expectFiles})
    if (!list->ok())
      return usageError(std::string(list->status().message()));
  // Names the model does not have, before anything runs.
  std::vector<std::string> inputNames = namesOf(executable->inputs());
  std::vector<std::string> outputNames = namesOf(executable->outputs());
  for (const auto &[flag, list, names, what] :
       {std::make_tuple("inputs", &*inputFiles, &inputNames, "input"),
        std::make_tuple("outputs", &*outputFiles, &outputNames, "output"),
        std::make_tuple("expect", &*expectFiles, &outputNames, "output")})
    for (const auto &entry : *list)
      if (std::find(names->begin(), names->end(), entry.first) == names->end())
        return usageError(tessel::withNameHint(
            absl::StrCat("--", flag, " names '", entry.first,
                         "', which is not an ", what, " of the model"),
            entry.first, *names, absl::StrCat(what, "s")));

  if (steps > 0 && executable->state_updates_size() == 0)
    return usageError(
        "--steps trains, but no output of this executable updates a "
        "parameter or an input: compile a training step (tessel-compile "
        "--train --loss ... --optimizer ...)");
  std::mt19937_64 random(absl::GetFlag(FLAGS_seed));
  std::vector<tessel::HostTensor> inputs;
  // Under MPI, rank 0 reads the inputs and sends the others their parts.
  for (const tessel::proto::TensorSpec &spec : executable->inputs()) {
    if (rank != 0 || steps > 0)
      break;
    auto file = inputFiles->find(spec.name());
    if (file == inputFiles->end()) {
      inputs.push_back(randomTensor(spec, random));
      continue;
    }
    absl::StatusOr<tessel::HostTensor> tensor = tessel::readNpy(file->second);
    if (!tensor.ok())
      return fail(std::string(tensor.status().message()));
    inputs.push_back(std::move(*tensor));
  }

  size_t slash = path.find_last_of('/');
  std::string directory =
      slash == std::string::npos ? "." : path.substr(0, slash);
  std::unique_ptr<tessel::Backend> backend;
  if (backendName == "mpi") {
    backend = std::make_unique<tessel::MpiBackend>(
        absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_profile));
  } else if (backendName == "cuda_emulation") {
    double timeout = absl::GetFlag(FLAGS_timeout);
    bool profile = absl::GetFlag(FLAGS_profile);
    backend = processPerDevice
                  ? tessel::cuda::makeMpiEmulationBackend(timeout, profile)
                  : tessel::cuda::makeEmulationBackend(
                        timeout, /*convolutions=*/true, profile);
  } else if (backendName == "cuda") {
    absl::StatusOr<std::unique_ptr<tessel::Backend>> cuda =
        tessel::cuda::makeCudaBackend(absl::GetFlag(FLAGS_timeout),
                                      processPerDevice,
                                      absl::GetFlag(FLAGS_profile));
    if (!cuda.ok())
      return fail(std::string(cuda.status().message()));
    backend = std::move(*cuda);
  } else
    backend = std::make_unique<tessel::HostBackend>(
        absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_profile),
        absl::GetFlag(FLAGS_devices));
  residentBeforeLoad = residentBytes(/*peak=*/false);
  absl::StatusOr<std::unique_ptr<tessel::LoadedExecutable>> loaded =
      backend->load(*executable, directory);
  if (!loaded.ok())
    return fail(loaded.status());
  // A rank needs only its own program from here on; rank 0 also the
  // single-device one (--check).
  if (inMpiJob)
    tessel::keepOnlyDevice(*executable, rank, /*keepReference=*/rank == 0);
  if (steps > 0) {
    int code = runSteps(**loaded, *executable, directory, *inputFiles,
                        *outputFiles, *expectFiles, rank);
    loaded->reset();
    leaveMpiJob();
    return code;
  }

  absl::StatusOr<std::vector<tessel::HostTensor>> outputs;
  int iterations = std::max(1, absl::GetFlag(FLAGS_iterations));
  // Timed runs follow an untimed first one, which also prepares what
  // kernels keep between runs (library primitives, packed weights), as
  // other runtimes do at session creation.
  double firstSeconds = 0;
  std::map<std::string, double> warmUp;
  // Every run writes into the same output tensors (no allocation per run).
  std::vector<tessel::HostTensor> results;
  if (iterations > 1) {
    auto first = std::chrono::steady_clock::now();
    if (absl::Status status = (*loaded)->runInto(inputs, results); !status.ok())
      return fail(std::string(status.message()));
    firstSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - first)
            .count();
    for (const auto &[kernel, total] : (*loaded)->profile())
      warmUp[kernel] = total;
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<double> runSeconds;
  for (int i = 0; i < iterations; ++i) {
    auto runStart = std::chrono::steady_clock::now();
    if (absl::Status status = (*loaded)->runInto(inputs, results); !status.ok())
      return fail(std::string(status.message()));
    runSeconds.push_back(std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - runStart)
                             .count());
  }
  outputs = std::move(results);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  // The job's collective work is done: what follows is rank 0's alone.
  std::vector<std::pair<std::string, double>> profile = (*loaded)->profile();
  for (auto &[kernel, total] : profile)
    total -= warmUp[kernel];
  std::stable_sort(
      profile.begin(), profile.end(),
      [](const auto &a, const auto &b) { return a.second > b.second; });
  loaded->reset();
  leaveMpiJob();
  if (rank != 0)
    return 0; // Rank 0 has the outputs and reports.
  if (iterations > 1) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    std::cout << "time per run: " << seconds / iterations * 1e3 << " ms ("
              << iterations << " runs after a first of " << firstSeconds * 1e3
              << " ms), peak memory " << usage.ru_maxrss / 1024 << " MB\n";
    if (absl::GetFlag(FLAGS_run_times)) {
      std::cout << "run times ms:";
      for (double run : runSeconds)
        std::cout << " " << run * 1e3;
      std::cout << "\n";
    }
  }

  for (const auto &[kernel, total] : profile)
    std::cout << "  " << kernel << ": " << total / iterations * 1e3
              << " ms per run\n";

  // --check: the same inputs through the single-device program.
  std::optional<std::vector<tessel::HostTensor>> reference;
  if (absl::GetFlag(FLAGS_check)) {
    if (!executable->has_reference())
      return fail("--check needs a partitioned executable (compiled for a "
                  "mesh of several devices); this one runs on one device");
    tessel::HostBackend single(absl::GetFlag(FLAGS_threads), false);
    absl::StatusOr<std::unique_ptr<tessel::LoadedExecutable>> loadedReference =
        single.load(executable->reference(), directory);
    if (!loadedReference.ok())
      return fail(absl::StrCat("the single-device program: ",
                               loadedReference.status().message()));
    absl::StatusOr<std::vector<tessel::HostTensor>> referenceOutputs =
        (*loadedReference)->run(inputs);
    if (!referenceOutputs.ok())
      return fail(absl::StrCat("the single-device program: ",
                               referenceOutputs.status().message()));
    reference = std::move(*referenceOutputs);
  }

  bool mismatch = false;
  for (int o = 0; o < executable->outputs_size(); ++o) {
    const std::string &name = executable->outputs(o).name();
    const tessel::HostTensor &output = (*outputs)[o];
    std::cout << "output '" << name << "': " << shapeOf(output) << "\n";
    if (auto file = outputFiles->find(name); file != outputFiles->end()) {
      if (absl::Status status = tessel::writeNpy(file->second, output);
          !status.ok())
        return fail(std::string(status.message()));
    }
    if (auto file = expectFiles->find(name); file != expectFiles->end()) {
      absl::StatusOr<tessel::HostTensor> expected =
          tessel::readNpy(file->second);
      if (!expected.ok())
        return fail(std::string(expected.status().message()));
      if (expected->dims != output.dims)
        return fail(absl::StrCat("output '", name, "' is ", shapeOf(output),
                                 " but '", file->second, "' is ",
                                 shapeOf(*expected)));
      mismatch |= differs(output, *expected, file->second);
    }
    if (reference)
      mismatch |= differs(output, (*reference)[o], "the single-device program");
  }
  return mismatch ? 2 : 0;
}
