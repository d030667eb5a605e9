//===- ApiTest.cpp - The C++ API: compile, inspect, save, run -------------===//

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "compiler/api/Tessel.h"
#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "runtime/Backend.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

const char *kModel = "tests/models/mlp/model.onnx";

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string temporaryDirectory() {
  const char *root = std::getenv("TEST_TMPDIR");
  return root ? root : "/tmp";
}

void expectLikeTorch(const float *output, int64_t elements,
                     const std::string &name) {
  absl::StatusOr<HostTensor> expected = readNpy("tests/models/mlp/output.npy");
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(elements, expected->numElements()) << name;
  for (int64_t i = 0; i < elements; ++i)
    ASSERT_NEAR(output[i], expected->as<float>()[i], 1e-4)
        << name << ", element " << i;
}

/// Runs the MLP's input through `compiled` three ways, each matching
/// torch: loaded from memory on buffers the test owns, saved and read back
/// by the API, and saved and loaded by the runtime as tessel-run does.
void expectRunsLikeTorch(const Compiled &compiled, const std::string &name) {
  absl::StatusOr<HostTensor> x = readNpy("tests/models/mlp/x.npy");
  ASSERT_TRUE(x.ok());
  HostBackend backend(2);

  absl::StatusOr<std::unique_ptr<LoadedExecutable>> inMemory =
      compiled.load(backend);
  ASSERT_TRUE(inMemory.ok()) << name << ": " << inMemory.status();
  std::vector<float> result(4 * 10, std::nanf(""));
  std::vector<int64_t> resultDims = {4, 10};
  TensorRef out(proto::F32, resultDims, result.data(),
                result.size() * sizeof(float));
  absl::Status ran = (*inMemory)->runBuffers({TensorRef(*x)}, {out});
  ASSERT_TRUE(ran.ok()) << name << ": " << ran;
  expectLikeTorch(result.data(), result.size(), name + " in memory");

  std::string path = temporaryDirectory() + "/" + name + ".tessel";
  ASSERT_TRUE(compiled.save(path).ok());
  absl::StatusOr<Compiled> reread = Compiled::read(path);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->collectives().size(), compiled.collectives().size());
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loadedBack =
      reread->load(backend);
  ASSERT_TRUE(loadedBack.ok()) << loadedBack.status();
  absl::StatusOr<std::vector<HostTensor>> outputs = (*loadedBack)->run({*x});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  expectLikeTorch((*outputs)[0].as<float>(), (*outputs)[0].numElements(),
                  name + " read back");

  absl::StatusOr<proto::Executable> executable = readExecutable(path);
  ASSERT_TRUE(executable.ok()) << executable.status();
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(*executable, temporaryDirectory());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  outputs = (*loaded)->run({*x});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  expectLikeTorch((*outputs)[0].as<float>(), (*outputs)[0].numElements(),
                  name + " saved");
}

/// Adds a partition spec for `tensor` to the options' plan.
void addSpec(CompileOptions &options, const std::string &tensor,
             const std::string &spec) {
  if (!options.sharding.plan)
    options.sharding.plan.emplace();
  proto::TensorPlan *entry = options.sharding.plan->add_tensors();
  entry->set_name(tensor);
  entry->set_spec(spec);
}

CompileOptions mlpOptions() {
  CompileOptions options;
  options.inputShapes["x"] = {4, 64};
  return options;
}

TEST(ApiTest, CompilesOnnxBytesOnOneDevice) {
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::onnx(readFile(kModel)), mlpOptions());
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->executable().programs_size(), 1);
  EXPECT_TRUE(compiled->collectives().empty());
  EXPECT_EQ(compiled->plan().tensors_size(), 0);
  expectRunsLikeTorch(*compiled, "single");
}

// Meshes even and uneven, a plan given and one chosen by the cost model:
// every partitioned program computes what the model does on one device.
TEST(ApiTest, ShardsByPlanAndByCostModel) {
  struct Case {
    const char *name, *mesh;
    bool autoShard;
  };
  for (Case c :
       {Case{"data2", "x=2", false}, Case{"auto4", "x=4", true},
        Case{"auto2x2", "x=2,y=2", true}, Case{"uneven3", "x=3", false}}) {
    CompileOptions options = mlpOptions();
    options.sharding.mesh = c.mesh;
    options.sharding.autoShard = c.autoShard;
    options.sharding.autoSeconds = 2;
    if (!c.autoShard)
      addSpec(options, "x", "[\"x\", null]");
    absl::StatusOr<Compiled> compiled =
        compile(ModelSource::file(kModel), options);
    ASSERT_TRUE(compiled.ok()) << c.name << ": " << compiled.status();
    EXPECT_GT(compiled->executable().programs_size(), 1) << c.name;
    EXPECT_GT(compiled->plan().tensors_size(), 0) << c.name;
    EXPECT_NE(compiled->planText().find("tensors"), std::string::npos);
    EXPECT_EQ(compiled->autoShardReport().has_value(), c.autoShard);
    if (c.autoShard) {
      EXPECT_GT(compiled->autoShardReport()->computeSeconds, 0) << c.name;
      EXPECT_GT(compiled->autoShardReport()->peakBytes, 0) << c.name;
    }
    expectRunsLikeTorch(*compiled, c.name);
  }
}

TEST(ApiTest, StepsExposeTheModule) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file(kModel), mlpOptions());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->hasWeights());
  EXPECT_FALSE((*model)->hasMesh());
  ShardingOptions sharding;
  sharding.mesh = "x=2";
  ASSERT_TRUE((*model)->shard(sharding).ok());
  EXPECT_TRUE((*model)->hasMesh());
  ASSERT_TRUE((*model)->insertCollectives().ok());
  EXPECT_TRUE((*model)->module());
}

// A module the caller built on its own context compiles like its text.
TEST(ApiTest, CompilesAModuleOfTheCaller) {
  mlir::MLIRContext context;
  context.loadDialect<graph::GraphDialect, mlir::func::FuncDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(
          readFile("tests/models/dot/model.mlir"), &context);
  ASSERT_TRUE(module);
  CompileOptions options;
  options.sharding.mesh = "x=2";
  addSpec(options, "a", "[\"x\", null]");
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::mlir(*module), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->executable().programs_size(), 2);

  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> x(32), w(24), y(12);
  for (int i = 0; i < 32; ++i)
    x[i] = i / 7.0f;
  for (int i = 0; i < 24; ++i)
    w[i] = i / 5.0f;
  std::vector<int64_t> xDims = {4, 8}, wDims = {8, 3}, yDims = {4, 3};
  ASSERT_TRUE((*loaded)
                  ->runBuffers({TensorRef(proto::F32, xDims, x.data(), 128),
                                TensorRef(proto::F32, wDims, w.data(), 96)},
                               {TensorRef(proto::F32, yDims, y.data(), 48)})
                  .ok());
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      float sum = 0;
      for (int k = 0; k < 8; ++k)
        sum += x[i * 8 + k] * w[k * 3 + j];
      EXPECT_NEAR(y[i * 3 + j], sum, 1e-4) << i << "," << j;
    }
}

// Bad input: a status naming the problem, never a crash or an exit.
TEST(ApiTest, ErrorsAreStatuses) {
  absl::StatusOr<Compiled> garbage =
      compile(ModelSource::onnx("not a model", "garbage.onnx"), {});
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("garbage.onnx"), std::string::npos)
      << garbage.status();

  absl::StatusOr<Compiled> badMlir =
      compile(ModelSource::mlir("func.func @main( {", "broken.mlir"), {});
  ASSERT_FALSE(badMlir.ok());
  EXPECT_TRUE(isDiagnostics(badMlir.status()));
  EXPECT_NE(badMlir.status().message().find("broken.mlir:1:"),
            std::string::npos)
      << badMlir.status();

  CompileOptions noMesh = mlpOptions();
  noMesh.sharding.autoShard = true;
  absl::StatusOr<Compiled> autoAlone =
      compile(ModelSource::file(kModel), noMesh);
  ASSERT_FALSE(autoAlone.ok());
  EXPECT_NE(autoAlone.status().message().find("needs a mesh"),
            std::string::npos);

  CompileOptions badMesh = mlpOptions();
  badMesh.sharding.mesh = "x=two";
  EXPECT_FALSE(compile(ModelSource::file(kModel), badMesh).ok());

  CompileOptions badPlan = mlpOptions();
  badPlan.sharding.mesh = "x=2";
  addSpec(badPlan, "no_such_tensor", "[\"x\", null]");
  absl::StatusOr<Compiled> unknown =
      compile(ModelSource::file(kModel), badPlan);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no_such_tensor"),
            std::string::npos)
      << unknown.status();

  CompileOptions badShape;
  badShape.inputShapes["x"] = {4, 65};
  EXPECT_FALSE(compile(ModelSource::file(kModel), badShape).ok());
}

// Buffers that do not fit the program: statuses naming the tensor.
TEST(ApiTest, RunRejectsBuffersThatDoNotFit) {
  CompileOptions options = mlpOptions();
  options.sharding.mesh = "x=2";
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::file(kModel), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> x(4 * 64, 1.0f), y(4 * 10);
  std::vector<int64_t> xDims = {4, 64}, wrongDims = {4, 63}, yDims = {4, 10};
  TensorRef in(proto::F32, xDims, x.data(), x.size() * sizeof(float));
  TensorRef out(proto::F32, yDims, y.data(), y.size() * sizeof(float));
  auto message = [&](std::vector<TensorRef> inputs,
                     std::vector<TensorRef> outputs) {
    absl::Status status = (*loaded)->runBuffers(inputs, outputs);
    EXPECT_FALSE(status.ok());
    return std::string(status.message());
  };
  EXPECT_NE(message({}, {out}).find("1 inputs, got 0"), std::string::npos);
  EXPECT_NE(message({TensorRef(proto::F32, wrongDims, x.data(),
                               4 * 63 * sizeof(float))},
                    {out})
                .find("input 'x'"),
            std::string::npos);
  EXPECT_NE(message({TensorRef(proto::F64, xDims, x.data(),
                               x.size() * sizeof(float))},
                    {out})
                .find("input 'x'"),
            std::string::npos);
  EXPECT_NE(message({in}, {TensorRef(proto::F32, yDims, y.data(), 8)})
                .find("its shape needs 160"),
            std::string::npos);
  EXPECT_NE(
      message({in}, {TensorRef(proto::F32, yDims, nullptr, 0)}).find("output"),
      std::string::npos);
  EXPECT_TRUE((*loaded)->runBuffers({in}, {out}).ok());

  absl::StatusOr<Compiled> missing = Compiled::read("/nonexistent.tessel");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent.tessel"),
            std::string::npos)
      << missing.status();
}

// Each compilation has its own MLIR context: two threads at once.
TEST(ApiTest, CompilesFromTwoThreads) {
  std::vector<absl::StatusOr<Compiled>> results(2, absl::UnknownError(""));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      CompileOptions options = mlpOptions();
      options.sharding.mesh = t ? "x=2" : "";
      results[t] = compile(ModelSource::file(kModel), options);
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < 2; ++t) {
    ASSERT_TRUE(results[t].ok()) << results[t].status();
    EXPECT_EQ(results[t]->executable().programs_size(), t ? 2 : 1);
  }
  // And two loaded executables run from two threads at once.
  threads.clear();
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      expectRunsLikeTorch(*results[t], t ? "thread1" : "thread0");
    });
  for (std::thread &thread : threads)
    thread.join();
}

} // namespace
} // namespace tessel
