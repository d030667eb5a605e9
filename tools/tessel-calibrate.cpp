//===- tessel-calibrate.cpp - Measure this host for the cost model --------===//
//
// Writes a DeviceProfile (compiler/cost/device_profile.proto) of this
// machine as the host backend runs on it: the GEMM rate of the runtime's
// dot_general kernel, the memory bandwidth of a large copy, the physical
// memory, and the latency and bandwidth of the host collectives among
// device threads (from an all-reduce of 4 bytes and of 64 MiB).
//
// With --model, that profile is then fitted to the kernels and collectives
// the model actually runs: the model is compiled for every mesh of
// --devices devices with the cost model's plan and the expert templates
// (as tessel-tune's candidates), each executable is timed and profiled
// per kernel family and collective kind, and cost::fitProfile gives each
// family its launch cost and rates and each collective kind its latency
// and bandwidth, with the step's costs and the devices' sharing of the
// cores (tessel-tune's measurement and calibration, without its search).
//
//   tessel-calibrate [--threads N] [--devices 2] [-o host.textproto]
//   tessel-calibrate --model m.onnx [--input-shape x=8x64] --devices 4 ...
//
//===----------------------------------------------------------------------===//

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/cost/device_profile.pb.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/tune/Tuner.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/Collectives.h"
#include "runtime/kernels/KernelContext.h"

ABSL_FLAG(int, threads, 0, "Cores for the GEMM (0: all)");
ABSL_FLAG(int, devices, 2, "Device threads for the collectives");
ABSL_FLAG(std::string, o, "-", "Where to write the profile (-: stdout)");
ABSL_FLAG(std::string, model, "",
          "Fit the profile to this model's kernels and collectives (.onnx "
          "or .mlir), run on every mesh of --devices host devices");
ABSL_FLAG(std::vector<std::string>, input_shape, {},
          "With --model: pin inputs' shapes, name=d0xd1x... (comma-separated)");
ABSL_FLAG(double, budget, 300,
          "With --model: seconds for compiling and measuring");
ABSL_FLAG(int, runs, 5, "With --model: timed runs of each executable");

namespace {

/// The fastest of `runs` timings of `body`, seconds.
double fastest(int runs, const std::function<void()> &body) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count());
  }
  return best;
}

double gemmFlops(int threads) {
  const int64_t n = 1024;
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n);
  tessel::proto::Instruction instruction;
  instruction.set_op("dot_general");
  instruction.set_location("calibration");
  auto &attributes = *instruction.mutable_attributes();
  attributes["lhs_batching_dimensions"].mutable_ints();
  attributes["rhs_batching_dimensions"].mutable_ints();
  attributes["lhs_contracting_dimensions"].mutable_ints()->add_values(1);
  attributes["rhs_contracting_dimensions"].mutable_ints()->add_values(0);
  tessel::ThreadPool pool(threads);
  auto view = [&](std::vector<float> &data) {
    return tessel::kernels::TensorView{data.data(), tessel::proto::F32, {n, n}};
  };
  tessel::kernels::KernelFn kernel = tessel::kernels::findKernel("dot_general");
  double seconds = fastest(5, [&] {
    tessel::kernels::KernelContext context(instruction, {view(a), view(b)},
                                           {view(c)}, pool);
    if (absl::Status status = kernel(context); !status.ok()) {
      std::cerr << "tessel-calibrate: " << status.message() << "\n";
      std::exit(1);
    }
  });
  return 2.0 * n * n * n / seconds;
}

double copyBandwidth() {
  const size_t bytes = 256 << 20;
  std::vector<char> from(bytes, 1), to(bytes);
  double seconds =
      fastest(5, [&] { std::memcpy(to.data(), from.data(), bytes); });
  return 2.0 * bytes / seconds; // Read and written.
}

/// Seconds per all-reduce of `bytes` among `devices` threads.
double allReduceSeconds(int devices, size_t bytes) {
  tessel::HostGroup group(devices);
  std::vector<std::vector<float>> buffers(devices,
                                          std::vector<float>(bytes / 4, 1.0f));
  int rounds = bytes < 4096 ? 2000 : 5;
  return fastest(3,
                 [&] {
                   std::vector<std::thread> threads;
                   for (int r = 0; r < devices; ++r)
                     threads.emplace_back([&, r] {
                       tessel::CollectiveBuffer buffer{
                           tessel::proto::F32,
                           {static_cast<int64_t>(bytes / 4)},
                           buffers[r].data()};
                       for (int k = 0; k < rounds; ++k)
                         (void)group.allReduce(r, tessel::Reduction::Sum,
                                               buffer, buffer);
                     });
                   for (std::thread &thread : threads)
                     thread.join();
                 }) /
         rounds;
}

} // namespace

/// `profile` fitted to the model's executables on `devices` host devices
/// (tessel-tune's candidates, every one measured once); an error if
/// nothing could be measured.
absl::StatusOr<tessel::proto::DeviceProfile>
fitToModel(const tessel::proto::DeviceProfile &profile,
           const std::string &model, int devices) {
  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> shapes =
      tessel::parseInputShapes(absl::GetFlag(FLAGS_input_shape));
  if (!shapes.ok())
    return shapes.status();
  // The measured profile is where the fit starts; the tuner reads it as a
  // profile file.
  char pattern[] = "/tmp/tessel-calibrate.XXXXXX";
  int fd = mkstemp(pattern);
  if (fd < 0)
    return absl::InternalError("cannot create a temporary file in /tmp");
  close(fd);
  std::string basePath = pattern;
  if (absl::Status status = tessel::cost::writeProfile(profile, basePath);
      !status.ok()) {
    std::remove(basePath.c_str());
    return status;
  }
  tessel::tune::TuneOptions options;
  options.inputShapes = *shapes;
  options.devices = devices;
  options.budgetSeconds = absl::GetFlag(FLAGS_budget);
  options.runs = absl::GetFlag(FLAGS_runs);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.deviceProfile = basePath;
  options.autoSeconds = 2;
  // Every candidate measured once: no search, no extra candidates, no
  // head-to-head round (there is no answer to confirm).
  options.topK = 1000;
  options.rounds = 1;
  options.kBest = 0;
  options.forcedDecisions = 0;
  options.confirmRuns = 0;
  options.onProgress = [](const std::string &line) {
    std::cerr << "tessel-calibrate: " << line << "\n";
  };
  absl::StatusOr<tessel::tune::TuneResult> result =
      tessel::tune::tune(tessel::ModelSource::file(model), options);
  std::remove(basePath.c_str());
  if (!result.ok())
    return result.status();
  const tessel::tune::Calibration &c = result->calibration;
  if (!c.profile)
    return absl::FailedPreconditionError(
        "no executable of the model was measured: nothing to fit");
  std::cerr << tessel::tune::formatTable(*result);
  std::cerr << absl::StrFormat(
      "tessel-calibrate: fitted to %d executables of %s: the model's error "
      "%.0f%% -> %.0f%%, Kendall tau %.2f -> %.2f\n",
      c.measured, model, c.mapeBefore, c.mapeAfter, c.tauBefore, c.tauAfter);
  tessel::proto::DeviceProfile fitted = *c.profile;
  fitted.set_source(absl::StrCat(profile.source(), "; fitted to ", model,
                                 " on ", devices, " devices (", c.measured,
                                 " executables)"));
  return fitted;
}

int main(int argc, char **argv) {
  absl::SetProgramUsageMessage(
      "tessel-calibrate [--threads N] [--devices 2] [-o host.textproto]\n"
      "  tessel-calibrate --model m.onnx [--input_shape x=8x64] --devices 4 "
      "[--budget 300] [-o model.textproto]");
  absl::ParseCommandLine(argc, argv);
  int devices = std::max(2, absl::GetFlag(FLAGS_devices));

  tessel::proto::DeviceProfile profile;
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  profile.set_name(absl::StrCat("host-", cores, "-cores"));
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::gmtime(&now));
  profile.set_source(absl::StrCat("measured by tessel-calibrate on ", host,
                                  " (", cores, " cores), ", date));
  tessel::proto::DeviceProfile::Device &device = *profile.mutable_device();
  (*device.mutable_peak_flops())["f32"] =
      gemmFlops(absl::GetFlag(FLAGS_threads));
  device.set_memory_bandwidth(copyBandwidth());
  device.set_memory_bytes(static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) *
                          sysconf(_SC_PAGE_SIZE));

  // alpha from a 4-byte all-reduce (2 (p - 1) steps); the bandwidth from a
  // 64 MiB one, less those steps.
  double p = devices;
  double small = allReduceSeconds(devices, 4);
  double alpha = small / (2 * (p - 1));
  size_t large = 64 << 20;
  double big = allReduceSeconds(devices, large);
  double bandwidth =
      2 * (p - 1) / p * large / std::max(1e-9, big - 2 * (p - 1) * alpha);
  tessel::proto::DeviceProfile::Link &link = *profile.add_links();
  link.set_name("host threads");
  link.set_devices(0);
  link.set_latency(alpha);
  link.set_bandwidth(bandwidth);

  std::string model = absl::GetFlag(FLAGS_model);
  if (!model.empty()) {
    absl::StatusOr<tessel::proto::DeviceProfile> fitted =
        fitToModel(profile, model, std::max(1, absl::GetFlag(FLAGS_devices)));
    if (!fitted.ok()) {
      std::cerr << "tessel-calibrate: " << fitted.status().message() << "\n";
      return 1;
    }
    profile = *fitted;
  }

  std::string path = absl::GetFlag(FLAGS_o);
  if (absl::Status status = tessel::cost::writeProfile(
          profile, path,
          model.empty()
              ? "# This machine as the host backend sees it; rerun "
                "tessel-calibrate to measure yours.\n"
              : "# This machine as the host backend runs " + model +
                    "; rerun tessel-calibrate --model to measure yours.\n");
      !status.ok()) {
    std::cerr << "tessel-calibrate: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
