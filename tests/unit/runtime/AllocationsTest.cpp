//===- AllocationsTest.cpp - A run allocates nothing ----------------------===//
//
// The host backend does its allocating at load: buffers, kernel states,
// views. A run, on buffers the caller owns (runBuffers) or a training step
// on the state the devices keep, then allocates nothing on the heap in
// Tessel's code, on any thread: counted over three runs after two warm
// ones, for the test models on one device and partitioned (collectives,
// channels-last buffers, epilogues). oneDNN 2.6 allocates inside
// primitive::execute (its argument map) and inside its GEMM: counted apart
// and reported.
//
//===----------------------------------------------------------------------===//

#include <atomic>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "compiler/api/Tessel.h"
#include "compiler/plan/Plan.h"
#include "runtime/Backend.h"
#include "runtime/ElementType.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "tests/unit/runtime/CountAllocations.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

struct Case {
  const char *name;
  const char *model; // under tests/models
  const char *input; // its .npy there
  const char *mesh;  // "" with a plan, or one device
  const char *plan;  // under the model's folder, or ""
  bool autoShard = false;
};

std::ostream &operator<<(std::ostream &out, const Case &c) {
  return out << c.name;
}

/// The model's input shapes from its `shapes` file ("x=2x3x32x32").
std::map<std::string, std::vector<int64_t>> shapesOf(const std::string &dir) {
  std::ifstream in(dir + "/shapes");
  std::string line;
  std::map<std::string, std::vector<int64_t>> shapes;
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, '=');
    if (parts.size() != 2)
      continue;
    for (absl::string_view d : absl::StrSplit(parts[1], 'x')) {
      int64_t extent = 0;
      EXPECT_TRUE(absl::SimpleAtoi(d, &extent)) << line;
      shapes[parts[0]].push_back(extent);
    }
  }
  return shapes;
}

/// Output buffers of the executable's output types and shapes.
std::vector<HostTensor> outputsOf(const proto::Executable &executable) {
  std::vector<HostTensor> outputs;
  for (const proto::TensorSpec &spec : executable.outputs()) {
    HostTensor tensor;
    tensor.type = spec.element_type();
    tensor.dims.assign(spec.dims().begin(), spec.dims().end());
    tensor.bytes.resize(tensor.numElements() * elementByteSize(tensor.type));
    outputs.push_back(std::move(tensor));
  }
  return outputs;
}

std::string describe(const testing::Allocations &allocations) {
  std::string text;
  for (const std::string &stack : allocations.ownStacks)
    text += "\n  " + stack;
  return text;
}

/// Runs `run` twice, then counts three more runs: none of Tessel's own.
template <typename Run>
void expectNoAllocation(const std::string &name, Run run) {
  for (int warm = 0; warm < 2; ++warm)
    ASSERT_TRUE(run().ok()) << name;
  testing::startCounting({"libdnnl"});
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < 3 && status.ok(); ++i)
    status = run();
  testing::Allocations allocations = testing::stopCounting();
  ASSERT_TRUE(status.ok()) << name << ": " << status;
  EXPECT_EQ(allocations.own, 0)
      << name << ": heap allocations in 3 runs outside oneDNN"
      << describe(allocations);
  std::cout << name << ": " << allocations.library / 3.0
            << " allocations per run inside oneDNN\n";
}

// More threads than this machine's cores, so that workers often wake after
// the caller has run every chunk and still hold the task when the next call
// starts: that call must find a free record, not make one.
TEST(ThreadPoolAllocationsTest, LateWorkersCostNoAllocation) {
  if (!testing::countingAvailable())
    GTEST_SKIP() << "AddressSanitizer replaces malloc: nothing to count";
  ThreadPool pool(4);
  std::atomic<int64_t> sum{0};
  auto body = [&](int64_t begin, int64_t end) {
    sum.fetch_add(end - begin, std::memory_order_relaxed);
  };
  pool.parallelFor(64, 1, body);
  testing::startCounting({});
  constexpr int kCalls = 20000;
  for (int i = 0; i < kCalls; ++i)
    pool.parallelFor(64, 1, body);
  testing::Allocations allocations = testing::stopCounting();
  EXPECT_EQ(allocations.own, 0) << describe(allocations);
  EXPECT_EQ(sum.load(), 64 * (kCalls + 1));
}

class AllocationsTest : public ::testing::TestWithParam<Case> {};

TEST_P(AllocationsTest, RunAllocatesNothing) {
  if (!testing::countingAvailable())
    GTEST_SKIP() << "AddressSanitizer replaces malloc: nothing to count";
  const Case &c = GetParam();
  std::string dir = std::string("tests/models/") + c.model;
  CompileOptions options;
  options.inputShapes = shapesOf(dir);
  options.sharding.mesh = c.mesh;
  options.sharding.autoShard = c.autoShard;
  if (*c.plan) {
    absl::StatusOr<proto::Plan> plan = readPlan(dir + "/" + c.plan);
    ASSERT_TRUE(plan.ok()) << plan.status();
    options.sharding.plan = *plan;
  }
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::file(dir + "/model.onnx"), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  absl::StatusOr<HostTensor> input = readNpy(dir + "/" + c.input);
  ASSERT_TRUE(input.ok()) << input.status();
  std::vector<HostTensor> outputs = outputsOf(compiled->executable());
  std::vector<TensorRef> outputRefs(outputs.begin(), outputs.end());
  std::vector<TensorRef> inputRefs = {TensorRef(*input)};
  expectNoAllocation(
      c.name, [&] { return (*loaded)->runBuffers(inputRefs, outputRefs); });
}

INSTANTIATE_TEST_SUITE_P(
    Models, AllocationsTest,
    ::testing::Values(
        Case{"mlp", "mlp", "x.npy", "", ""},
        Case{"mlp_auto_2x2", "mlp", "x.npy", "x=2,y=2", "", true},
        Case{"resnet", "resnet", "x.npy", "", ""},
        Case{"resnet_data_2", "resnet", "x.npy", "x=2", "", true},
        Case{"mobilenet", "mobilenet", "x.npy", "", ""},
        Case{"mobilenet_channels", "mobilenet", "x.npy", "",
             "channels.textproto"},
        Case{"gpt2", "gpt2", "ids.npy", "", ""},
        Case{"gpt2_megatron", "gpt2", "ids.npy", "", "megatron.textproto"},
        Case{"moe_experts", "moe", "x.npy", "", "experts.textproto"}),
    [](const ::testing::TestParamInfo<Case> &info) {
      return std::string(info.param.name);
    });

/// A training step keeps its state on the devices and writes the updates
/// over it (donated, or copied after the step): no allocation either.
TEST(AllocationsTest, TrainingStepAllocatesNothing) {
  if (!testing::countingAvailable())
    GTEST_SKIP() << "AddressSanitizer replaces malloc: nothing to count";
  for (const char *mesh : {"", "x=2"}) {
    CompileOptions options;
    options.inputShapes = shapesOf("tests/models/mlp");
    options.training.loss = "mse:output,target";
    options.training.optimizer = "adamw:lr=1e-3";
    options.sharding.mesh = mesh;
    options.sharding.autoShard = *mesh != 0;
    absl::StatusOr<Compiled> compiled =
        compile(ModelSource::file("tests/models/mlp/model.onnx"), options);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    HostBackend backend(2);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        compiled->load(backend);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    absl::StatusOr<HostTensor> x = readNpy("tests/models/mlp/x.npy");
    ASSERT_TRUE(x.ok());
    absl::StatusOr<HostTensor> target = readNpy("tests/models/mlp/output.npy");
    ASSERT_TRUE(target.ok());
    const proto::Executable &executable = (*loaded)->executable();
    StepSignature signature = stepSignature(executable);
    std::vector<TensorRef> inputs;
    for (int i : signature.inputs)
      inputs.push_back(executable.inputs(i).name() == "x" ? TensorRef(*x)
                                                          : TensorRef(*target));
    std::vector<HostTensor> all = outputsOf(executable);
    std::vector<TensorRef> outputRefs;
    for (int i : signature.outputs)
      outputRefs.push_back(all[i]);
    expectNoAllocation(std::string("mlp adamw step ") + (*mesh ? mesh : "1"),
                       [&] { return (*loaded)->step(inputs, outputRefs); });
  }
}

} // namespace
} // namespace tessel
