//===- ProgramCostTest.cpp - Pricing executables, fitting profiles --------===//

#include "compiler/cost/ProgramCost.h"

#include <algorithm>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tessel::cost {
namespace {

constexpr const char *kBase = R"pb(
  name: "base"
  device {
    peak_flops { key: "f32" value: 1e11 }
    memory_bandwidth: 1e10
    memory_bytes: 1000000000
  }
  links { name: "threads" devices: 0 latency: 1e-6 bandwidth: 1e9 }
)pb";

proto::DeviceProfile parse(const std::string &text) {
  proto::DeviceProfile profile;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile));
  return profile;
}

WorkItem kernel(const std::string &family, double count, double flops,
                double bytes) {
  WorkItem item;
  item.family = family;
  item.count = count;
  item.flops = flops;
  item.bytes = bytes;
  item.elementType = "f32";
  return item;
}

WorkItem allReduce(double count, double bytes, int64_t members) {
  WorkItem item;
  item.family = "all_reduce";
  item.collective = true;
  item.count = count;
  item.bytes = bytes;
  item.elementType = "f32";
  for (int64_t d = 0; d < members; ++d)
    item.group.push_back(d);
  return item;
}

TEST(ProgramCostTest, NonNegativeLeastSquares) {
  // y = 2 a + 3 b exactly.
  std::vector<std::vector<double>> rows = {{1, 0}, {0, 1}, {1, 1}, {2, 1}};
  std::vector<double> y = {2, 3, 5, 7}, w(4, 1);
  std::vector<double> x = nonNegativeLeastSquares(rows, y, w);
  EXPECT_NEAR(x[0], 2, 1e-9);
  EXPECT_NEAR(x[1], 3, 1e-9);
  // The unconstrained fit would make b negative; it is held at 0.
  x = nonNegativeLeastSquares({{1, 1}, {2, 1}}, {1, 3}, {1, 1});
  EXPECT_GE(x[1], 0);
  EXPECT_NEAR(x[0], 1.4, 1e-9); // least squares of y = a x alone
  EXPECT_EQ(x[1], 0);
}

TEST(ProgramCostTest, WorkPrintsAndParsesBack) {
  ProgramWork work;
  work.devices = 4;
  work.items = {kernel("dot_general", 2, 1e6, 4e4), allReduce(1, 4096, 4)};
  absl::StatusOr<ProgramWork> back = parseWork(formatWork(work));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(formatWork(*back), formatWork(work));
  EXPECT_EQ(back->items[1].group, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_FALSE(parseWork("x").ok());
  EXPECT_FALSE(parseWork("2;dot_general,0,1").ok());
  EXPECT_FALSE(parseWork("2;no_such_collective,1,1,0,8,f32,0.1").ok());
}

// Runs priced by a known calibrated profile give that profile back: the
// launch cost and roofline scale of each kernel family, a collective's
// latency and bandwidth, the step's fixed costs; and the fitted profile
// prices the runs exactly.
TEST(ProgramCostTest, FitRecoversKnownRates) {
  proto::DeviceProfile base = parse(kBase);
  base.set_shared_processor(true);
  proto::DeviceProfile truth = base;
  // dot_general at a third of the base's rates, plus 5 us a launch;
  // fusion at the base's rates plus 1 us.
  auto &dot = (*truth.mutable_kernels())["dot_general"];
  dot.set_launch_seconds(5e-6);
  dot.set_flop_rate(1e11 / 3);
  dot.set_byte_rate(1e10 / 3);
  auto &fusion = (*truth.mutable_kernels())["fusion"];
  fusion.set_launch_seconds(1e-6);
  fusion.set_flop_rate(1e11);
  fusion.set_byte_rate(1e10);
  auto &reduce = (*truth.mutable_collectives())["all_reduce"];
  reduce.set_name("all_reduce");
  reduce.set_latency(4e-6);
  reduce.set_bandwidth(2e9);
  truth.set_step_seconds(20e-6);
  truth.set_step_seconds_per_device(3e-6);
  absl::StatusOr<CostModel> truthModel = CostModel::fromProfile(truth);
  ASSERT_TRUE(truthModel.ok()) << truthModel.status();

  // Plans of a model on 1, 2 and 4 devices: compute split, all-reduces of
  // varying size.
  std::vector<Observation> observations;
  for (int64_t devices : {1, 2, 4})
    for (double split : {1.0, 0.5}) {
      ProgramWork work;
      work.devices = devices;
      double part = split == 1.0 ? 1.0 / devices : 1.0;
      work.items = {kernel("dot_general", 3, 2e8 * part, 1e6 * part),
                    kernel("dot_general", 1, 1e6 * part, 4e5 * part),
                    kernel("fusion", 4 + devices, 1e5 * part, 8e5 * part)};
      if (devices > 1)
        work.items.push_back(
            allReduce(split == 1.0 ? 1 : 2, 4e5 * split * devices, devices));
      Observation observation;
      observation.work = work;
      observation.familySeconds = familySeconds(work, *truthModel);
      observation.stepSeconds = programSeconds(work, *truthModel);
      observations.push_back(observation);
    }
  absl::StatusOr<proto::DeviceProfile> fitted = fitProfile(base, observations);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  EXPECT_NEAR(fitted->kernels().at("dot_general").launch_seconds(), 5e-6, 1e-9);
  EXPECT_NEAR(fitted->kernels().at("dot_general").flop_rate(), 1e11 / 3,
              1e11 * 1e-6);
  EXPECT_NEAR(fitted->kernels().at("fusion").launch_seconds(), 1e-6, 1e-9);
  EXPECT_NEAR(fitted->collectives().at("all_reduce").latency(), 4e-6, 1e-9);
  // The collective and step terms trade off a little through the fit of
  // the step's factors (the step times themselves come out exact, below).
  EXPECT_NEAR(fitted->collectives().at("all_reduce").bandwidth(), 2e9,
              2e9 * 1e-4);
  EXPECT_NEAR(fitted->step_seconds(), 20e-6, 20e-6 * 1e-3);
  EXPECT_NEAR(fitted->step_seconds_per_device(), 3e-6, 3e-6 * 1e-2);
  absl::StatusOr<CostModel> model = CostModel::fromProfile(*fitted);
  ASSERT_TRUE(model.ok()) << model.status();
  for (const Observation &observation : observations)
    EXPECT_NEAR(programSeconds(observation.work, *model),
                observation.stepSeconds, 1e-9 * observation.stepSeconds);
  EXPECT_FALSE(fitProfile(base, {}).ok());
}

// Device threads sharing fewer cores: each device's profile times its own
// kernels, which on 4 threads and 2 cores are half of what they cost the
// step. The fit finds that factor from the step times, so the calibrated
// model prices the plans of one search (one device count, different work)
// by their step times, and more kernel work costs what it costs the step.
TEST(ProgramCostTest, FitScalesContendedKernelTimes) {
  proto::DeviceProfile base = parse(kBase);
  base.set_shared_processor(true);
  proto::DeviceProfile truth = base;
  auto &dot = (*truth.mutable_kernels())["dot_general"];
  dot.set_launch_seconds(2e-6);
  dot.set_flop_rate(1e11 / 2);
  dot.set_byte_rate(1e10 / 2);
  auto &fusion = (*truth.mutable_kernels())["fusion"];
  fusion.set_launch_seconds(1e-6);
  fusion.set_flop_rate(1e11);
  fusion.set_byte_rate(1e10);
  auto &reduce = (*truth.mutable_collectives())["all_reduce"];
  reduce.set_name("all_reduce");
  reduce.set_latency(4e-6);
  reduce.set_bandwidth(2e9);
  truth.set_step_seconds(50e-6);
  absl::StatusOr<CostModel> truthModel = CostModel::fromProfile(truth);
  ASSERT_TRUE(truthModel.ok()) << truthModel.status();
  auto observe = [&](double part, double reduces) {
    ProgramWork work;
    work.devices = 4;
    work.items = {kernel("dot_general", 3, 2e7 * part, 1e5 * part),
                  kernel("fusion", 6, 1e5 * part, 8e5 * part)};
    if (reduces > 0)
      work.items.push_back(allReduce(reduces, 4e5 * part, 4));
    Observation observation;
    observation.work = work;
    observation.familySeconds = familySeconds(work, *truthModel);
    for (auto &[family, seconds] : observation.familySeconds)
      if (family != "all_reduce")
        seconds /= 2;
    observation.stepSeconds = programSeconds(work, *truthModel);
    return observation;
  };
  std::vector<Observation> observations;
  for (double part : {0.25, 0.5, 1.0})
    for (double reduces : {0.0, 1.0, 3.0})
      observations.push_back(observe(part, reduces));
  absl::StatusOr<proto::DeviceProfile> fitted = fitProfile(base, observations);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  absl::StatusOr<CostModel> model = CostModel::fromProfile(*fitted);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NEAR(fitted->kernels().at("dot_general").flop_rate(), 1e11 / 2,
              1e11 * 1e-6);
  EXPECT_NEAR(fitted->step_seconds() + 4 * fitted->step_seconds_per_device(),
              50e-6, 1e-9);
  // A plan with twice the work, not among the observations.
  Observation doubled = observe(2.0, 1.0);
  EXPECT_NEAR(programSeconds(doubled.work, *model), doubled.stepSeconds,
              1e-6 * doubled.stepSeconds);
}

// The devices of a shared processor each compute at 1/N of its rates.
TEST(ProgramCostTest, SharedProcessorScalesCompute) {
  proto::DeviceProfile profile = parse(kBase);
  ProgramWork work;
  work.devices = 4;
  work.items = {kernel("dot_general", 1, 1e9, 0)};
  absl::StatusOr<CostModel> separate = CostModel::fromProfile(profile);
  profile.set_shared_processor(true);
  absl::StatusOr<CostModel> shared = CostModel::fromProfile(profile);
  ASSERT_TRUE(separate.ok() && shared.ok());
  EXPECT_DOUBLE_EQ(programSeconds(work, *separate), 1e-2);
  EXPECT_DOUBLE_EQ(programSeconds(work, *shared), 4e-2);
}

// An overlapped collective hides as much of itself as the kernels between
// its start and its wait take, on devices of their own; on a shared
// processor, nothing. Windows print and parse back with the work.
TEST(ProgramCostTest, OverlapHidesCollectivesBehindKernels) {
  proto::DeviceProfile profile = parse(kBase);
  ProgramWork work;
  work.devices = 2;
  // 1e-2 s of dot_general; an all-reduce of 1 MB: 1e-6 + 2 * 1/2 * 1e6 /
  // 1e9 = about 1e-3 s.
  work.items = {kernel("dot_general", 1, 1e9, 0), allReduce(1, 1e6, 2)};
  absl::StatusOr<CostModel> model = CostModel::fromProfile(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  double serial = programSeconds(work, *model);
  double collective = familySeconds(work, *model).at("all_reduce");
  ASSERT_GT(collective, 0);
  // Behind a tenth of the dot (1e-3 s): at most that much hidden.
  OverlapWindow window;
  window.collective = allReduce(1, 1e6, 2);
  window.kernels = {kernel("dot_general", 1, 1e8, 0)};
  work.windows = {window};
  EXPECT_NEAR(hiddenSeconds(work, *model), std::min(collective, 1e-3), 1e-12);
  // Behind the whole dot: all of it.
  work.windows[0].kernels = {kernel("dot_general", 1, 1e9, 0)};
  EXPECT_NEAR(programSeconds(work, *model), serial - collective, 1e-12);
  absl::StatusOr<ProgramWork> back = parseWork(formatWork(work));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(formatWork(*back), formatWork(work));
  ASSERT_EQ(back->windows.size(), 1u);
  EXPECT_EQ(back->windows[0].kernels.size(), 1u);
  EXPECT_FALSE(parseWork(formatWork(work) + "|dot_general,0,1,0,0,f32,").ok());
  profile.set_shared_processor(true);
  absl::StatusOr<CostModel> shared = CostModel::fromProfile(profile);
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(hiddenSeconds(work, *shared), 0);
}

// An executable's overlapped all-reduce gives a window holding the kernel
// between its start and its wait; the wait itself is no work (no
// "collective_done" family to price or fit).
TEST(ProgramCostTest, ExecutableOverlapWindows) {
  constexpr const char *kProgram = R"pb(
    programs {
      device_id: 0
      buffers { storage: ARENA element_type: F32 dims: 256 }
      buffers { storage: ARENA element_type: F32 dims: 256 offset: 1024 }
      buffers { storage: ARENA element_type: F32 dims: 256 offset: 2048 }
      instructions {
        op: "collective"
        operands: 0
        results: 1
        collective { kind: ALL_REDUCE reduction: SUM groups { values: 0 values: 1 } async: true }
      }
      instructions { op: "fusion" operands: 0 results: 2 flops: 256 }
      instructions {
        op: "collective_done"
        operands: 1
        operands: 0
        attributes { key: "start" value { i: 0 } }
      }
      instructions { op: "fusion" operands: 1 results: 0 flops: 256 }
    }
  )pb";
  proto::Executable executable;
  ASSERT_TRUE(
      google::protobuf::TextFormat::ParseFromString(kProgram, &executable));
  ProgramWork work = programWork(executable);
  for (const WorkItem &item : work.items)
    EXPECT_NE(item.family, "collective_done");
  ASSERT_EQ(work.windows.size(), 1u);
  EXPECT_EQ(work.windows[0].collective.family, "all_reduce");
  ASSERT_EQ(work.windows[0].kernels.size(), 1u);
  EXPECT_EQ(work.windows[0].kernels[0].family, "fusion");
}

// An image split by rows and one split by columns exchange halos of the
// same bytes, but by columns in one short run per row of every channel:
// the work counts the runs a member moves (the outer size before the
// dimension, times the three blocks of the extended part), and the fit
// recovers a cost per run that prices the two apart.
TEST(ProgramCostTest, HaloRunsAlongInnerDimensionsCostMore) {
  constexpr const char *kHalos = R"pb(
    programs {
      device_id: 0
      buffers { storage: ARENA element_type: F32 dims: 8 dims: 16 dims: 4 dims: 32 }
      buffers { storage: ARENA element_type: F32 dims: 8 dims: 16 dims: 6 dims: 32 offset: 65536 }
      buffers { storage: ARENA element_type: F32 dims: 8 dims: 16 dims: 32 dims: 4 offset: 131072 }
      buffers { storage: ARENA element_type: F32 dims: 8 dims: 16 dims: 32 dims: 6 offset: 196608 }
      instructions {
        op: "collective"
        operands: 0
        results: 1
        collective { kind: HALO_EXCHANGE dimension: 2 halo_low: 1 halo_high: 1 groups { values: 0 values: 1 } }
      }
      instructions {
        op: "collective"
        operands: 2
        results: 3
        collective { kind: HALO_EXCHANGE dimension: 3 halo_low: 1 halo_high: 1 groups { values: 0 values: 1 } }
      }
    }
  )pb";
  proto::Executable executable;
  ASSERT_TRUE(
      google::protobuf::TextFormat::ParseFromString(kHalos, &executable));
  ProgramWork work = programWork(executable);
  ASSERT_EQ(work.items.size(), 2u);
  std::vector<double> runs;
  for (const WorkItem &item : work.items) {
    EXPECT_EQ(item.bytes, 8 * 16 * 2 * 32 * 4);
    runs.push_back(item.runs);
  }
  std::sort(runs.begin(), runs.end());
  EXPECT_EQ(runs, (std::vector<double>{8 * 16 * 3, 8 * 16 * 32 * 3}));
  absl::StatusOr<ProgramWork> back = parseWork(formatWork(work));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(formatWork(*back), formatWork(work));
  // A line of a log written before runs were counted still parses.
  EXPECT_TRUE(parseWork("2;halo_exchange,1,1,0,8,f32,0.1").ok());

  proto::DeviceProfile base = parse(kBase);
  proto::DeviceProfile truth = base;
  auto &halo = (*truth.mutable_collectives())["halo_exchange"];
  halo.set_name("halo_exchange");
  halo.set_latency(10e-6);
  halo.set_bandwidth(5e9);
  halo.set_run_seconds(50e-9);
  absl::StatusOr<CostModel> truthModel = CostModel::fromProfile(truth);
  ASSERT_TRUE(truthModel.ok()) << truthModel.status();
  // Plans with one kind of split or the other, at several sizes.
  std::vector<Observation> observations;
  for (double scale : {1.0, 2.0, 4.0})
    for (const WorkItem &exchange : work.items) {
      Observation observation;
      observation.work.devices = 2;
      WorkItem item = exchange;
      item.bytes *= scale;
      item.runs *= scale;
      observation.work.items = {item};
      observation.familySeconds = familySeconds(observation.work, *truthModel);
      observation.stepSeconds = programSeconds(observation.work, *truthModel);
      observations.push_back(observation);
    }
  absl::StatusOr<proto::DeviceProfile> fitted = fitProfile(base, observations);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  EXPECT_NEAR(fitted->collectives().at("halo_exchange").run_seconds(), 50e-9,
              50e-9 * 1e-3);
  absl::StatusOr<CostModel> model = CostModel::fromProfile(*fitted);
  ASSERT_TRUE(model.ok()) << model.status();
  for (const Observation &observation : observations)
    EXPECT_NEAR(programSeconds(observation.work, *model),
                observation.stepSeconds, 1e-6 * observation.stepSeconds);
  // A negative cost per run is refused.
  (*fitted->mutable_collectives())["halo_exchange"].set_run_seconds(-1);
  EXPECT_FALSE(CostModel::fromProfile(*fitted).ok());
}

// A calibrated entry that makes no sense is refused with its name.
TEST(ProgramCostTest, BadCalibratedEntriesAreRefused) {
  proto::DeviceProfile profile = parse(kBase);
  (*profile.mutable_collectives())["all_shout"].set_bandwidth(1);
  absl::StatusOr<CostModel> model = CostModel::fromProfile(profile);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("all_shout"), std::string::npos);
  profile = parse(kBase);
  (*profile.mutable_kernels())["fusion"].set_launch_seconds(-1);
  model = CostModel::fromProfile(profile);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("fusion"), std::string::npos);
}

} // namespace
} // namespace tessel::cost
