//===- TrainingStepTest.cpp - One training step against PyTorch's ---------===//
//
// The test MLP (tests/models/mlp) made one training step per loss and
// optimizer, run on the host backend on one device and partitioned; the
// loss, the updated parameters and the updated optimizer state must be
// PyTorch's (tests/train/generate.py, from optimizer state set to random
// values so that every term of the update counts).
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <fstream>

#include "compiler/api/Tessel.h"
#include "compiler/train/TrainingStep.h"
#include "runtime/Backend.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

struct Config {
  const char *name, *loss, *optimizer;
};

const Config kConfigs[] = {
    {"sgd_mse", "mse:output,target", "sgd:lr=0.1"},
    {"sgd_wd", "cross_entropy:output,labels", "sgd:lr=0.1,weight_decay=0.05"},
    {"momentum", "cross_entropy:output,labels", "momentum:lr=0.1,beta=0.9"},
    {"adam", "cross_entropy:output,labels", "adam:lr=1e-3"},
    {"adamw", "cross_entropy:output,labels", "adamw:lr=1e-3,weight_decay=0.01"},
};

struct Mesh {
  const char *name, *mesh;
  bool autoShard;
  /// A spec for the batch input, or none.
  const char *xSpec;
};

const Mesh kMeshes[] = {
    {"one_device", "", false, nullptr},
    {"data_parallel_2", "x=2", false, "[\"x\", null]"},
    {"data_parallel_3_uneven_batch", "x=3", false, "[\"x\", null]"},
    {"auto_2x2", "x=2,y=2", true, nullptr},
};

absl::StatusOr<Compiled> compileStep(const Config &config, const Mesh &mesh) {
  CompileOptions options;
  options.inputShapes["x"] = {4, 64};
  options.sharding.mesh = mesh.mesh;
  options.sharding.autoShard = mesh.autoShard;
  options.sharding.autoSeconds = 5;
  if (mesh.xSpec) {
    options.sharding.plan.emplace();
    proto::TensorPlan *entry = options.sharding.plan->add_tensors();
    entry->set_name("x");
    entry->set_spec(mesh.xSpec);
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file("tests/models/mlp/model.onnx"), options);
  if (!model.ok())
    return model.status();
  absl::Status built = (*model)->train(config.loss, config.optimizer);
  if (!built.ok())
    return built;
  absl::Status sharded = (*model)->shard(options.sharding);
  if (!sharded.ok())
    return sharded;
  return (*model)->compile();
}

class TrainingStep : public ::testing::TestWithParam<std::tuple<Config, Mesh>> {
};

TEST_P(TrainingStep, MatchesPyTorch) {
  const auto &[config, mesh] = GetParam();
  absl::StatusOr<Compiled> compiled = compileStep(config, mesh);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::string directory = std::string("tests/train/mlp/") + config.name;

  std::vector<HostTensor> inputs;
  for (const proto::TensorSpec &input : compiled->executable().inputs()) {
    std::string path = input.name() == "x"
                           ? "tests/models/mlp/x.npy"
                           : directory + "/" + input.name() + ".npy";
    absl::StatusOr<HostTensor> tensor = readNpy(path);
    ASSERT_TRUE(tensor.ok()) << input.name() << ": " << tensor.status();
    inputs.push_back(*std::move(tensor));
  }
  HostBackend backend(4);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::vector<HostTensor>> outputs = (*loaded)->run(inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();

  const auto &specs = compiled->executable().outputs();
  ASSERT_EQ(specs.size(), static_cast<int>(outputs->size()));
  ASSERT_GT(specs.size(), 6); // The loss and six parameters at least.
  for (int r = 0; r < specs.size(); ++r) {
    absl::StatusOr<HostTensor> expected =
        readNpy(directory + "/expected/" + specs[r].name() + ".npy");
    ASSERT_TRUE(expected.ok()) << specs[r].name() << ": " << expected.status();
    const HostTensor &actual = (*outputs)[r];
    ASSERT_EQ(actual.dims, expected->dims) << specs[r].name();
    ASSERT_EQ(actual.type, proto::F32) << specs[r].name();
    for (int64_t i = 0; i < actual.numElements(); ++i) {
      float want = expected->type == proto::F64
                       ? static_cast<float>(expected->as<double>()[i])
                       : expected->as<float>()[i];
      ASSERT_NEAR(actual.as<float>()[i], want, 2e-6 + 1e-4 * std::fabs(want))
          << config.name << " on " << mesh.name << ": " << specs[r].name()
          << "[" << i << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Mlp, TrainingStep,
    ::testing::Combine(::testing::ValuesIn(kConfigs),
                       ::testing::ValuesIn(kMeshes)),
    [](const ::testing::TestParamInfo<std::tuple<Config, Mesh>> &info) {
      return std::string(std::get<0>(info.param).name) + "_" +
             std::get<1>(info.param).name;
    });

TEST(TrainingStepSpecs, BadSpecsAreErrors) {
  EXPECT_FALSE(train::parseLoss("hinge:y,t").ok());
  EXPECT_FALSE(train::parseLoss("mse:y").ok());
  EXPECT_FALSE(train::parseOptimizer("rmsprop:lr=1").ok());
  EXPECT_FALSE(train::parseOptimizer("sgd").ok());
  EXPECT_FALSE(train::parseOptimizer("sgd:lr=-1").ok());
  EXPECT_FALSE(train::parseOptimizer("adam:lr=1e-3,beta=0.9").ok());
  EXPECT_FALSE(train::parseOptimizer("momentum:lr=0.1,beta=1.5").ok());
  absl::StatusOr<train::OptimizerSpec> adamw =
      train::parseOptimizer("adamw:lr=1e-3");
  ASSERT_TRUE(adamw.ok());
  EXPECT_EQ(adamw->weightDecay, 0.01);

  Config config = {"sgd_mse", "mse:logits,target", "sgd:lr=0.1"};
  absl::StatusOr<Compiled> compiled = compileStep(config, kMeshes[0]);
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find(
                "'logits', which is no output of the model (outputs: output)"),
            std::string::npos)
      << compiled.status();
}

} // namespace
} // namespace tessel
