//===- PlanBackendTest.cpp - The CUDA backend's plans, without a GPU ------===//
//
// The plans, kernels (DeviceOps.h), loader and runner of the CUDA backend on
// the host emulation and its fake NCCL: communicators made per device group,
// numbers against the host backend, unsupported programs rejected at load,
// and faults (a device that fails, a device that stalls) ending the run with
// an error naming the device and the collective instead of a hang.
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

#include "runtime/Executable.h"
#include "runtime/cuda/HostEmulation.h"
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/cuda/PlanBackend.h"
#include "runtime/cuda/Planner.h"
#include "runtime/host/HostBackend.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/params/ParameterFile.h"
#include "gtest/gtest.h"

namespace tessel::cuda {
namespace {

proto::Buffer *addBuffer(proto::DeviceProgram &program,
                         proto::Buffer::Storage storage,
                         std::vector<int64_t> dims, uint64_t offset = 0) {
  proto::Buffer *buffer = program.add_buffers();
  buffer->set_storage(storage);
  buffer->set_element_type(proto::F32);
  for (int64_t d : dims)
    buffer->add_dims(d);
  buffer->set_offset(offset);
  return buffer;
}

/// An element-wise fusion of `operands` (each one-dimensional) into `result`:
/// their sum times `factor`.
void addFusion(proto::DeviceProgram &program, const char *name,
               std::vector<int64_t> operands, int64_t result, float factor) {
  proto::Instruction *inst = program.add_instructions();
  inst->set_op("fusion");
  inst->set_location(name);
  proto::Fusion *fusion = inst->mutable_fusion();
  int last = -1;
  for (size_t i = 0; i < operands.size(); ++i) {
    inst->add_operands(operands[i]);
    fusion->add_operand_dims()->add_values(0);
    proto::FusionStep *load = fusion->add_steps();
    load->set_op("load");
    load->add_args(static_cast<int64_t>(i));
    load->set_element_type(proto::F32);
    int loaded = fusion->steps_size() - 1;
    if (last >= 0) {
      proto::FusionStep *add = fusion->add_steps();
      add->set_op("add");
      add->add_args(last);
      add->add_args(loaded);
      add->set_element_type(proto::F32);
      loaded = fusion->steps_size() - 1;
    }
    last = loaded;
  }
  proto::FusionStep *constant = fusion->add_steps();
  constant->set_op("constant");
  constant->set_element_type(proto::F32);
  (*constant->mutable_attributes())["value"].set_f(factor);
  proto::FusionStep *mul = fusion->add_steps();
  mul->set_op("mul");
  mul->add_args(last);
  mul->add_args(fusion->steps_size() - 2);
  mul->set_element_type(proto::F32);
  fusion->add_outputs(fusion->steps_size() - 1);
  inst->add_results(result);
}

/// A 2x2 mesh; every device holds x (4 floats, replicated) and computes
/// y = all_reduce over the row of (x * (device + 1)), then z = all_reduce
/// over the column of y: z = x * 10 everywhere. `async`: both all-reduces
/// start and end at a collective_done; a second scaling of x (into a buffer
/// nobody reads) runs while y's communicates, and z reduces a copy of y
/// made on the compute stream after y's done.
proto::Executable twoAxisExecutable(bool async = false) {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  for (const char *axis : {"x", "y"}) {
    proto::MeshAxis *a = executable.mutable_mesh()->add_axes();
    a->set_name(axis);
    a->set_size(2);
  }
  proto::TensorSpec *input = executable.add_inputs();
  proto::TensorSpec *output = executable.add_outputs();
  input->set_name("x");
  output->set_name("z");
  for (proto::TensorSpec *spec : {input, output}) {
    spec->set_element_type(proto::F32);
    spec->add_dims(4);
  }
  for (int device = 0; device < 4; ++device) {
    proto::DeviceProgram *program = executable.add_programs();
    program->set_device_id(device);
    program->set_arena_bytes(80);
    addBuffer(*program, proto::Buffer::INPUT, {4});
    addBuffer(*program, proto::Buffer::ARENA, {4}, 0);
    addBuffer(*program, proto::Buffer::ARENA, {4}, 16);
    addBuffer(*program, proto::Buffer::ARENA, {4}, 32);
    addBuffer(*program, proto::Buffer::ARENA, {4}, 48);
    addBuffer(*program, proto::Buffer::ARENA, {4}, 64);
    program->add_output_buffers(3);
    auto scale = [&](const char *name, int64_t operand, int64_t result,
                     float by) {
      addFusion(*program, name, {operand}, result, by);
    };
    scale("scaled", 0, 1, device + 1);
    auto allReduce = [&](const char *name, int64_t in, int64_t out,
                         std::vector<std::vector<int64_t>> groups) {
      int start = program->instructions_size();
      proto::Instruction *inst = program->add_instructions();
      inst->set_op("collective");
      inst->set_location(name);
      inst->add_operands(in);
      inst->add_results(out);
      inst->mutable_collective()->set_kind(proto::Collective::ALL_REDUCE);
      inst->mutable_collective()->set_reduction(proto::Collective::SUM);
      inst->mutable_collective()->set_async(async);
      for (const std::vector<int64_t> &group : groups) {
        proto::Ints *ints = inst->mutable_collective()->add_groups();
        for (int64_t id : group)
          ints->add_values(id);
      }
      return start;
    };
    auto done = [&](int start) {
      const proto::Instruction &started = program->instructions(start);
      proto::Instruction *inst = program->add_instructions();
      inst->set_op("collective_done");
      inst->set_location(started.location());
      inst->add_operands(started.results(0));
      inst->add_operands(started.operands(0));
      (*inst->mutable_attributes())["start"].set_i(start);
    };
    int y = allReduce("y", 1, 2, {{0, 1}, {2, 3}});
    if (async) {
      scale("scaled again", 0, 5, 2);
      done(y);
      scale("y copied", 2, 4, 1);
    }
    int z = allReduce("z", async ? 4 : 2, 3, {{0, 2}, {1, 3}});
    if (async)
      done(z);
  }
  return executable;
}

HostTensor vector4(float a, float b, float c, float d) {
  HostTensor tensor;
  tensor.type = proto::F32;
  tensor.dims = {4};
  tensor.bytes.resize(16);
  float values[4] = {a, b, c, d};
  std::memcpy(tensor.bytes.data(), values, 16);
  return tensor;
}

TEST(PlanBackendTest, CommunicatorsPerGroupAndNumbers) {
  auto nccl = std::make_shared<FakeNccl>(10);
  PlanBackend backend(
      "test",
      [](int device, int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<HostDeviceApi>(device);
      },
      nccl, 10);
  proto::Executable executable = twoAxisExecutable();
  EXPECT_EQ(executableGroups(executable),
            (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {0, 2}, {1, 3}}));
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(executable, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // One communicator per group, joined by its two members at their ranks.
  std::vector<FakeNccl::Joined> joined = nccl->joined();
  ASSERT_EQ(joined.size(), 8u);
  std::map<int, std::vector<int>> ranksBySerial;
  for (const FakeNccl::Joined &j : joined) {
    EXPECT_EQ(j.size, 2);
    ranksBySerial[j.serial].push_back(j.rank);
  }
  EXPECT_EQ(ranksBySerial.size(), 4u);
  for (auto &[serial, ranks] : ranksBySerial) {
    std::sort(ranks.begin(), ranks.end());
    EXPECT_EQ(ranks, (std::vector<int>{0, 1})) << "communicator " << serial;
  }
  absl::StatusOr<std::vector<HostTensor>> outputs =
      (*loaded)->run({vector4(1, 2, 3, -4)});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const float *z = (*outputs)[0].as<float>();
  EXPECT_EQ(z[0], 10);
  EXPECT_EQ(z[1], 20);
  EXPECT_EQ(z[2], 30);
  EXPECT_EQ(z[3], -40);
  // The host backend agrees.
  HostBackend host(1);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> reference =
      host.load(executable, "");
  ASSERT_TRUE(reference.ok()) << reference.status();
  absl::StatusOr<std::vector<HostTensor>> want =
      (*reference)->run({vector4(1, 2, 3, -4)});
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ((*want)[0].bytes, (*outputs)[0].bytes);
}

std::vector<std::string> shapeOf(const DevicePlan &plan); // Below.

// Asynchronous collectives run on the communication stream while the
// kernels between their start and their done run on the compute stream;
// the emulation runs communication work only when waited for, so a plan
// missing its done's wait would read stale results here.
TEST(PlanBackendTest, AsynchronousCollectivesOverlapAndGiveTheHostsNumbers) {
  proto::Executable executable = twoAxisExecutable(/*async=*/true);
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  absl::StatusOr<DevicePlan> plan =
      planDevice(executable, 0, *layout, nullptr, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(
      shapeOf(*plan),
      (std::vector<std::string>{
          "compute kernel", "record 0 on compute", "communication waits for 0",
          "all_reduce", "record 1 on communication", "compute kernel",
          "compute waits for 1", "compute kernel", "record 2 on compute",
          "communication waits for 2", "all_reduce",
          "record 3 on communication", "compute waits for 3"}));
  EXPECT_EQ(plan->events, 4);
  PlanBackend backend(
      "test",
      [](int device, int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<HostDeviceApi>(device);
      },
      std::make_shared<FakeNccl>(10), 10);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(executable, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  HostBackend host(1);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> reference =
      host.load(executable, "");
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (int run = 0; run < 2; ++run) {
    absl::StatusOr<std::vector<HostTensor>> outputs =
        (*loaded)->run({vector4(1, 2, 3, -4 - run)});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    const float *z = (*outputs)[0].as<float>();
    EXPECT_EQ(z[0], 10);
    EXPECT_EQ(z[3], -40 - 10 * run);
    absl::StatusOr<std::vector<HostTensor>> want =
        (*reference)->run({vector4(1, 2, 3, -4 - run)});
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ((*want)[0].bytes, (*outputs)[0].bytes);
  }
}

// A collective_done that names no collective in flight is refused at load.
TEST(PlanBackendTest, ADoneWithoutItsStartIsRejected) {
  proto::Executable executable = twoAxisExecutable(/*async=*/true);
  for (proto::DeviceProgram &program : *executable.mutable_programs())
    for (proto::Instruction &inst : *program.mutable_instructions())
      if (inst.op() == "collective")
        inst.mutable_collective()->set_async(false);
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  absl::StatusOr<DevicePlan> plan =
      planDevice(executable, 0, *layout, nullptr, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find(
                "instruction 'collective_done' (tensor 'y')"),
            std::string::npos)
      << plan.status();
  EXPECT_NE(plan.status().message().find("names no asynchronous collective"),
            std::string::npos)
      << plan.status();
}

// The emulation's communication stream runs its work, in order, only when
// the compute stream waits for an event recorded after it, or at the end;
// an error there drops the rest.
TEST(HostDeviceApiTest, CommunicationWorkRunsWhenWaitedFor) {
  HostDeviceApi api(0);
  std::vector<int> ran;
  auto work = [&](int id) {
    return [&ran, id] {
      ran.push_back(id);
      return absl::OkStatus();
    };
  };
  ASSERT_TRUE(api.record(0, Stream::Compute).ok());
  ASSERT_TRUE(api.waitFor(0, Stream::Communication).ok());
  ASSERT_TRUE(api.onStream(Stream::Communication, work(1)).ok());
  ASSERT_TRUE(api.record(1, Stream::Communication).ok());
  ASSERT_TRUE(api.onStream(Stream::Communication, work(2)).ok());
  ASSERT_TRUE(api.onStream(Stream::Compute, work(3)).ok());
  EXPECT_EQ(ran, (std::vector<int>{3}));
  ASSERT_TRUE(api.waitFor(1, Stream::Compute).ok());
  EXPECT_EQ(ran, (std::vector<int>{3, 1}));
  absl::StatusOr<int> progress = api.progress();
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(*progress, -1);
  EXPECT_EQ(ran, (std::vector<int>{3, 1, 2}));
  // Waiting for an event never recorded is a planning error.
  EXPECT_EQ(api.waitFor(7, Stream::Compute).code(),
            absl::StatusCode::kInternal);
  // A failure comes back at the wait; what followed it never runs.
  ASSERT_TRUE(
      api.onStream(Stream::Communication,
                   [] { return absl::DeadlineExceededError("a peer is gone"); })
          .ok());
  ASSERT_TRUE(api.onStream(Stream::Communication, work(4)).ok());
  ASSERT_TRUE(api.record(2, Stream::Communication).ok());
  EXPECT_EQ(api.waitFor(2, Stream::Compute).code(),
            absl::StatusCode::kDeadlineExceeded);
  progress = api.progress();
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(ran, (std::vector<int>{3, 1, 2}));
}

/// A training step on 2 devices, each holding half of everything: the
/// parameter w is updated in place (w += x), the state input `seen`, which
/// the program does not read, is set to x, and the step's output y is 2x.
proto::Executable trainingExecutable() {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  proto::MeshAxis *axis = executable.mutable_mesh()->add_axes();
  axis->set_name("x");
  axis->set_size(2);
  auto spec = [](proto::TensorSpec *spec, const char *name) {
    spec->set_name(name);
    spec->set_element_type(proto::F32);
    spec->add_dims(4);
  };
  spec(executable.add_inputs(), "x");
  spec(executable.add_inputs(), "seen");
  spec(executable.add_parameters(), "w");
  spec(executable.add_outputs(), "w.updated");
  spec(executable.add_outputs(), "seen.updated");
  spec(executable.add_outputs(), "y");
  proto::StateUpdate *w = executable.add_state_updates();
  w->set_output(0);
  w->set_parameter(true);
  w->set_index(0);
  proto::StateUpdate *seen = executable.add_state_updates();
  seen->set_output(1);
  seen->set_index(1);
  for (int device = 0; device < 2; ++device) {
    proto::DeviceProgram *program = executable.add_programs();
    program->set_device_id(device);
    program->set_arena_bytes(32);
    addBuffer(*program, proto::Buffer::INPUT, {2})
        ->add_global_offsets(2 * device);
    addBuffer(*program, proto::Buffer::PARAMETER, {2})
        ->add_global_offsets(2 * device);
    addBuffer(*program, proto::Buffer::ARENA, {2}, 0);
    addBuffer(*program, proto::Buffer::ARENA, {2}, 16);
    addFusion(*program, "w.updated", {1, 0}, 1, 1);
    addFusion(*program, "seen.updated", {0}, 2, 1);
    addFusion(*program, "y", {0}, 3, 2);
    for (int64_t buffer : {1, 2, 3}) {
      program->add_output_buffers(buffer);
      program->add_output_offsets()->add_values(2 * device);
    }
  }
  return executable;
}

// The devices keep the training state between steps: a parameter updated
// in place, and a state input the program never reads (in memory of its
// own); steps, readState and writeState give the host backend's values.
TEST(PlanBackendTest, TrainingStateStaysOnTheDevices) {
  proto::Executable executable = trainingExecutable();
  ASSERT_TRUE(validateExecutable(executable).ok())
      << validateExecutable(executable);
  auto parameters = std::make_shared<ParameterSet>();
  float w0[4] = {10, 20, 30, 40};
  parameters->add("w", proto::F32, {4},
                  {reinterpret_cast<const char *>(w0), sizeof(w0)});
  PlanBackend backend(
      "test",
      [](int device, int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<HostDeviceApi>(device);
      },
      std::make_shared<FakeNccl>(10), 10);
  HostBackend host(1);
  for (Backend *on : std::vector<Backend *>{&backend, &host}) {
    SCOPED_TRACE(on->name());
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded = on->load(
        executable,
        ParameterSource(std::shared_ptr<const ParameterStore>(parameters)));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    HostTensor x = vector4(1, 2, 3, 4), y = vector4(0, 0, 0, 0);
    for (int step = 0; step < 2; ++step)
      ASSERT_TRUE((*loaded)->step({TensorRef(x)}, {TensorRef(y)}).ok());
    EXPECT_EQ(y.bytes, vector4(2, 4, 6, 8).bytes);
    absl::StatusOr<HostTensor> w = (*loaded)->readState("w");
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->bytes, vector4(12, 24, 36, 48).bytes);
    absl::StatusOr<HostTensor> seen = (*loaded)->readState("seen");
    ASSERT_TRUE(seen.ok()) << seen.status();
    EXPECT_EQ(seen->bytes, x.bytes);
    ASSERT_TRUE((*loaded)->writeState("w", vector4(0, 1, 0, 1)).ok());
    ASSERT_TRUE((*loaded)->step({TensorRef(x)}, {TensorRef(y)}).ok());
    w = (*loaded)->readState("w");
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->bytes, vector4(1, 3, 3, 5).bytes);
    // A value of another shape, or a name that is no state, is an error.
    HostTensor three = vector4(1, 2, 3, 4);
    three.dims = {3};
    three.bytes.resize(12);
    EXPECT_FALSE((*loaded)->writeState("w", three).ok());
    EXPECT_FALSE((*loaded)->readState("y").ok());
  }
}

/// A host device whose device `victim` fails or stalls in its first kernel.
class FaultyDevice : public HostDeviceApi {
public:
  FaultyDevice(int device, int victim, bool stall)
      : HostDeviceApi(device), self(device), victim(victim), stall(stall) {}
  absl::Status element(KernelKind kind, const void *host, const void *params,
                       int64_t count) override {
    if (self == victim && stall)
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    else if (self == victim)
      return absl::InternalError("the device fell off the bus");
    return HostDeviceApi::element(kind, host, params, count);
  }

private:
  int self, victim;
  bool stall;
};

PlanBackend faultyBackend(bool stall, double timeout) {
  return PlanBackend(
      "faulty",
      [stall](int device, int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<FaultyDevice>(device, /*victim=*/1, stall);
      },
      std::make_shared<FakeNccl>(timeout), timeout);
}

TEST(PlanBackendTest, AFailingDeviceEndsTheRunNamingIt) {
  PlanBackend backend = faultyBackend(/*stall=*/false, 30);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(twoAxisExecutable(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<HostTensor>> outputs =
      (*loaded)->run({vector4(1, 2, 3, 4)});
  ASSERT_FALSE(outputs.ok());
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(outputs.status().message().find("device 1"), std::string::npos)
      << outputs.status();
  EXPECT_NE(outputs.status().message().find("fell off the bus"),
            std::string::npos)
      << outputs.status();
  // The communicators are gone: another run is refused, not attempted.
  absl::StatusOr<std::vector<HostTensor>> again =
      (*loaded)->run({vector4(1, 2, 3, 4)});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  // The others were released by the abort, not by their timeout.
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      10);
}

TEST(PlanBackendTest, AStalledDeviceTimesOutNamingTheCollective) {
  PlanBackend backend = faultyBackend(/*stall=*/true, 0.3);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(twoAxisExecutable(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::vector<HostTensor>> outputs =
      (*loaded)->run({vector4(1, 2, 3, 4)});
  ASSERT_FALSE(outputs.ok());
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kDeadlineExceeded)
      << outputs.status();
  // Whoever gave up first names its collective: y (device 0 waits for
  // device 1 there) or z (device 3 does).
  EXPECT_TRUE(outputs.status().message().find("collective for tensor 'y'") !=
                  std::string::npos ||
              outputs.status().message().find("collective for tensor 'z'") !=
                  std::string::npos)
      << outputs.status();
  EXPECT_NE(outputs.status().message().find("waited"), std::string::npos)
      << outputs.status();
}

TEST(PlanBackendTest, AnOpWithoutAKernelIsRejectedAtLoad) {
  proto::Executable executable = twoAxisExecutable();
  proto::Instruction *odd = executable.mutable_programs(0)->add_instructions();
  odd->set_op("fft");
  odd->set_location("spectrum");
  odd->add_operands(0);
  odd->add_results(1);
  std::unique_ptr<Backend> backend = makeEmulationBackend(10);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend->load(executable, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "the cuda backend has no kernel 'fft' (instruction for tensor "
            "'spectrum')");
}

TEST(PlanBackendTest, WritingAConstantIsRejected) {
  proto::Executable executable = twoAxisExecutable();
  proto::DeviceProgram *program = executable.mutable_programs(0);
  proto::Buffer *constant = addBuffer(*program, proto::Buffer::CONSTANT, {4});
  constant->set_data(std::string(16, '\0'));
  program->mutable_instructions(0)->set_results(0, program->buffers_size() - 1);
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  absl::StatusOr<DevicePlan> plan =
      planDevice(executable, 0, *layout, nullptr, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("writes a read-only buffer"),
            std::string::npos)
      << plan.status();
}

// A GEMM is planned in cuBLAS's column-major terms: the emulation computes
// what cublasGemmStridedBatchedEx would, and a transposed operand is read
// in place (a transpose flag), not packed.
TEST(PlanBackendTest, DotGeneralReadsATransposedOperandInPlace) {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  proto::DeviceProgram *program = executable.add_programs();
  program->set_arena_bytes(4096);
  // lhs [k=3, m=2] (contracting dimension first), rhs [k=3, n=4].
  addBuffer(*program, proto::Buffer::ARENA, {3, 2}, 0);
  addBuffer(*program, proto::Buffer::ARENA, {3, 4}, 256);
  addBuffer(*program, proto::Buffer::ARENA, {2, 4}, 512);
  proto::Instruction *dot = program->add_instructions();
  dot->set_op("dot_general");
  dot->set_location("product");
  dot->add_operands(0);
  dot->add_operands(1);
  dot->add_results(2);
  auto &attributes = *dot->mutable_attributes();
  attributes["lhs_batching_dimensions"].mutable_ints();
  attributes["rhs_batching_dimensions"].mutable_ints();
  attributes["lhs_contracting_dimensions"].mutable_ints()->add_values(0);
  attributes["rhs_contracting_dimensions"].mutable_ints()->add_values(0);
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<char> memory(layout->totalBytes);
  std::vector<char> workspace(4096);
  absl::StatusOr<DevicePlan> plan =
      planDevice(executable, 0, *layout, memory.data(), workspace.data());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->launches.size(), 1u);
  const GemmLaunch &gemm = plan->launches[0].gemm;
  EXPECT_EQ(plan->launches[0].type, Launch::Type::Gemm);
  EXPECT_FALSE(gemm.transA); // The rhs, [k, n] row-major.
  EXPECT_TRUE(gemm.transB);  // The lhs, stored [k, m].
  float *lhs = reinterpret_cast<float *>(memory.data());
  float *rhs = reinterpret_cast<float *>(memory.data() + 256);
  for (int i = 0; i < 6; ++i)
    lhs[i] = static_cast<float>(i + 1);
  for (int i = 0; i < 12; ++i)
    rhs[i] = static_cast<float>(i % 5) - 2;
  emulateGemm(gemm);
  const float *out = reinterpret_cast<float *>(memory.data() + 512);
  for (int m = 0; m < 2; ++m)
    for (int n = 0; n < 4; ++n) {
      float want = 0;
      for (int k = 0; k < 3; ++k)
        want += lhs[k * 2 + m] * rhs[k * 4 + n];
      EXPECT_EQ(out[m * 4 + n], want) << m << "," << n;
    }
}

/// Device 0 of two runs one collective of `kind` from an [in] to an [out]
/// buffer along `dimension`.
proto::Executable oneCollective(proto::Collective::Kind kind,
                                std::vector<int64_t> in,
                                std::vector<int64_t> out, int64_t dimension) {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  for (int device = 0; device < 2; ++device) {
    proto::DeviceProgram *program = executable.add_programs();
    program->set_device_id(device);
    program->set_arena_bytes(1024);
    addBuffer(*program, proto::Buffer::ARENA, in, 0);
    addBuffer(*program, proto::Buffer::ARENA, out, 512);
    proto::Instruction *inst = program->add_instructions();
    inst->set_op("collective");
    inst->set_location("t");
    inst->add_operands(0);
    inst->add_results(1);
    proto::Collective *collective = inst->mutable_collective();
    collective->set_kind(kind);
    collective->set_dimension(dimension);
    proto::Ints *group = collective->add_groups();
    group->add_values(0);
    group->add_values(1);
  }
  return executable;
}

absl::StatusOr<DevicePlan> planOf(const proto::Executable &executable) {
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  if (!layout.ok())
    return layout.status();
  return planDevice(executable, 0, *layout, nullptr, nullptr);
}

/// The plan's launches by kind: collectives' work (on the communication
/// stream) by name, kernels on the compute stream with a "compute " prefix,
/// and the events between the streams.
std::vector<std::string> shapeOf(const DevicePlan &plan) {
  std::vector<std::string> launches;
  auto streamName = [](Stream stream) {
    return stream == Stream::Compute ? "compute" : "communication";
  };
  for (const Launch &launch : plan.launches) {
    if (launch.type == Launch::Type::Record) {
      launches.push_back(absl::StrCat("record ", launch.event, " on ",
                                      streamName(launch.stream)));
      continue;
    }
    if (launch.type == Launch::Type::Wait) {
      launches.push_back(
          absl::StrCat(streamName(launch.stream), " waits for ", launch.event));
      continue;
    }
    std::string prefix = launch.stream == Stream::Compute ? "compute " : "";
    switch (launch.type) {
    case Launch::Type::Nccl:
      launches.push_back(launch.nccl.op == NcclOp::AllGather ? "all_gather"
                         : launch.nccl.op == NcclOp::ReduceScatter
                             ? "reduce_scatter"
                         : launch.nccl.op == NcclOp::AllReduce ? "all_reduce"
                                                               : "send_recv");
      break;
    case Launch::Type::Element:
      launches.push_back(launch.kind == KernelKind::Copy   ? "copy"
                         : launch.kind == KernelKind::Fill ? "fill"
                                                           : "kernel");
      break;
    default:
      launches.push_back("other");
    }
    launches.back() = prefix + launches.back();
  }
  return launches;
}

/// A collective's launches run on the communication stream, after the
/// compute stream's work before it (event 0) and before the compute
/// stream's work after it (event 1).
std::vector<std::string> onCommunication(std::vector<std::string> work) {
  work.insert(work.begin(),
              {"record 0 on compute", "communication waits for 0"});
  work.insert(work.end(), {"record 1 on communication", "compute waits for 1"});
  return work;
}

// Gathering along the leading dimension receives straight into the result;
// along another, NCCL's rank-major blocks are unpacked, one copy per rank.
TEST(LaunchPlanTest, AllGatherUnpacksOnlyAlongInnerDimensions) {
  absl::StatusOr<DevicePlan> leading =
      planOf(oneCollective(proto::Collective::ALL_GATHER, {2, 3}, {4, 3}, 0));
  ASSERT_TRUE(leading.ok()) << leading.status();
  EXPECT_EQ(shapeOf(*leading), onCommunication({"all_gather"}));
  absl::StatusOr<DevicePlan> inner =
      planOf(oneCollective(proto::Collective::ALL_GATHER, {2, 3}, {2, 6}, 1));
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(shapeOf(*inner), onCommunication({"all_gather", "copy", "copy"}));
  EXPECT_EQ(inner->launches[2].nccl.count, 6);
  EXPECT_EQ(inner->groups, (std::vector<std::vector<int>>{{0, 1}}));
  // Uneven (5 = 3 + 2): the padding row of the last piece is left out.
  absl::StatusOr<DevicePlan> uneven =
      planOf(oneCollective(proto::Collective::ALL_GATHER, {3, 2}, {5, 2}, 0));
  ASSERT_TRUE(uneven.ok()) << uneven.status();
  EXPECT_EQ(shapeOf(*uneven), onCommunication({"all_gather", "copy", "copy"}));
  // A shape that does not gather is an error naming the tensor.
  absl::StatusOr<DevicePlan> wrong =
      planOf(oneCollective(proto::Collective::ALL_GATHER, {2, 3}, {5, 3}, 0));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("collective for tensor 't'"),
            std::string::npos)
      << wrong.status();
}

// An uneven reduce_scatter pads the pieces with zeros in scratch first.
TEST(LaunchPlanTest, UnevenReduceScatterPacksPaddedPieces) {
  absl::StatusOr<DevicePlan> plan = planOf(
      oneCollective(proto::Collective::REDUCE_SCATTER, {5, 2}, {3, 2}, 0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(shapeOf(*plan),
            onCommunication({"fill", "copy", "copy", "reduce_scatter"}));
  EXPECT_EQ(plan->launches[5].nccl.count, 6);
  EXPECT_GE(plan->workspaceBytes, kErrorWordBytes + 12 * sizeof(float));
}

// An asynchronous collective's scratch (here the padded pieces of an uneven
// reduce_scatter) stays its own until its done: a collective started while
// it is in flight packs into other scratch.
TEST(LaunchPlanTest, ScratchInFlightIsNotReused) {
  auto workspaceOf = [](bool async) -> absl::StatusOr<uint64_t> {
    proto::Executable executable =
        oneCollective(proto::Collective::REDUCE_SCATTER, {5, 2}, {3, 2}, 0);
    for (proto::DeviceProgram &program : *executable.mutable_programs()) {
      program.mutable_instructions(0)->mutable_collective()->set_async(async);
      addBuffer(program, proto::Buffer::ARENA, {3, 2}, 768);
      proto::Instruction *second = program.add_instructions();
      *second = program.instructions(0);
      second->set_location("u");
      second->mutable_collective()->set_async(false);
      second->set_results(0, 2);
      if (async) {
        proto::Instruction *done = program.add_instructions();
        done->set_op("collective_done");
        done->set_location("t");
        done->add_operands(1);
        done->add_operands(0);
        (*done->mutable_attributes())["start"].set_i(0);
      }
    }
    absl::StatusOr<DevicePlan> plan = planOf(executable);
    if (!plan.ok())
      return plan.status();
    return plan->workspaceBytes;
  };
  absl::StatusOr<uint64_t> together = workspaceOf(true);
  absl::StatusOr<uint64_t> apart = workspaceOf(false);
  ASSERT_TRUE(together.ok()) << together.status();
  ASSERT_TRUE(apart.ok()) << apart.status();
  uint64_t pieces = alignUp(2 * 3 * 2 * sizeof(float));
  EXPECT_EQ(*apart, kErrorWordBytes + pieces);
  EXPECT_EQ(*together, kErrorWordBytes + 2 * pieces);
}

// Buffers of one input share its bytes; a split parameter is held as this
// device's part; every block is 256-byte aligned.
TEST(LaunchPlanTest, BuffersShareInputsAndHoldParameterParts) {
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  proto::TensorSpec *weight = executable.add_parameters();
  weight->set_element_type(proto::F32);
  weight->add_dims(8);
  weight->add_dims(4);
  executable.add_inputs()->set_element_type(proto::F32);
  proto::DeviceProgram *program = executable.add_programs();
  program->set_arena_bytes(100);
  addBuffer(*program, proto::Buffer::INPUT, {6});
  addBuffer(*program, proto::Buffer::INPUT, {2, 3});
  proto::Buffer *part = addBuffer(*program, proto::Buffer::PARAMETER, {4, 4});
  part->add_global_offsets(4);
  part->add_global_offsets(0);
  addBuffer(*program, proto::Buffer::PARAMETER, {16});
  addBuffer(*program, proto::Buffer::CONSTANT, {1})->set_data("abcd");
  absl::StatusOr<BufferLayout> layout = layoutBuffers(executable, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->bufferOffsets[0], 256u);
  EXPECT_EQ(layout->bufferOffsets[1], 256u);
  EXPECT_EQ(layout->bufferOffsets[2], 512u);
  EXPECT_EQ(layout->bufferOffsets[3], 512u); // A view of the part.
  EXPECT_EQ(layout->bufferOffsets[4], 768u); // The part is 64 bytes, not 128.
  EXPECT_EQ(layout->totalBytes, 1024u);
  EXPECT_EQ(layout->parameterParts, (std::map<int64_t, int>{{0, 2}}));
}

// The element kernels' f16 and bf16 conversions are the host's, bit for bit.
TEST(DeviceOpsTest, HalfAndBfloatConversionsAreTheHosts) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    uint16_t h = static_cast<uint16_t>(bits);
    float viaDevice = halfToFloat(h);
    float viaHost = kernels::toFloat(kernels::Half{h});
    ASSERT_EQ(std::memcmp(&viaDevice, &viaHost, 4), 0) << bits;
    viaDevice = bfloatToFloat(h);
    viaHost = kernels::toFloat(kernels::BFloat16{h});
    ASSERT_EQ(std::memcmp(&viaDevice, &viaHost, 4), 0) << bits;
  }
  uint32_t bits = 0x12345u;
  for (int i = 0; i < 200000; ++i) {
    bits = bits * 1664525u + 1013904223u;
    float value;
    std::memcpy(&value, &bits, 4);
    ASSERT_EQ(floatToHalf(value), kernels::toHalf(value).bits) << value;
    ASSERT_EQ(floatToBfloat(value), kernels::toBFloat16(value).bits) << value;
  }
}

} // namespace
} // namespace tessel::cuda
