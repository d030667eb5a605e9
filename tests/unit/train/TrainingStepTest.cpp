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
#include "compiler/plan/Plan.h"
#include "compiler/train/TrainingStep.h"
#include "runtime/Backend.h"
#include "runtime/Executable.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

struct Config {
  /// The model (tests/models/<model>), its input and the input's shape.
  const char *name, *model, *input;
  std::vector<int64_t> shape;
  const char *loss, *optimizer;
  /// Parameters not trained (the model's buffers).
  std::vector<std::string> frozen = {};
  /// Batch norm: "eval" (running statistics) or "train" (batch ones).
  const char *batchNorm = "eval";
};

const Config kMlpConfigs[] = {
    {"sgd_mse", "mlp", "x", {4, 64}, "mse:output,target", "sgd:lr=0.1"},
    {"sgd_wd",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "sgd:lr=0.1,weight_decay=0.05"},
    {"momentum",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "momentum:lr=0.1,beta=0.9"},
    {"adam",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "adam:lr=1e-3"},
    {"adamw",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "adamw:lr=1e-3,weight_decay=0.01"},
};

const Config kGpt2Configs[] = {
    {"sgd_mse", "gpt2", "ids", {2, 16}, "mse:output,target", "sgd:lr=0.1"},
    // A language model's step: classes along the last dimension, AdamW's
    // weight decay, the attention mask (a torch buffer) frozen.
    {"adamw_lm",
     "gpt2",
     "ids",
     {2, 16},
     "cross_entropy:output,labels,dim=-1",
     "adamw:lr=1e-3,weight_decay=0.01",
     {"blocks.0.attn.mask"}},
};

// ResNet in eval mode (torch's model.eval()): batch norm with its running
// statistics, which stay as they are (frozen), convolutions, max pooling,
// residual adds, global average pooling.
const Config kResNetConfigs[] = {
    {"momentum_eval",
     "resnet",
     "x",
     {2, 3, 32, 32},
     "cross_entropy:output,labels",
     "momentum:lr=0.05,beta=0.9",
     {"bn.running_mean", "bn.running_var", "layer1.bn1.running_mean",
      "layer1.bn1.running_var", "layer1.bn2.running_mean",
      "layer1.bn2.running_var", "layer2.bn1.running_mean",
      "layer2.bn1.running_var", "layer2.bn2.running_mean",
      "layer2.bn2.running_var", "layer2.down.1.running_mean",
      "layer2.down.1.running_var"}},
};

struct Mesh {
  const char *name, *mesh;
  bool autoShard;
  /// The axes that split the input's first dimension (the batch), or none.
  const char *inputSpec;
  /// A plan file (with its mesh), or none.
  const char *planFile = nullptr;
  /// A ZeRO stage over axis "x" (the plan's zero), or 0.
  int zeroStage = 0;
};

const Mesh kMeshes[] = {
    {"one_device", "", false, nullptr},
    {"data_parallel_2", "x=2", false, "\"x\""},
    {"data_parallel_3_uneven_batch", "x=3", false, "\"x\""},
    {"auto_2x2", "x=2,y=2", true, nullptr},
};

const Mesh kGpt2Meshes[] = {
    {"one_device", "", false, nullptr},
    {"data_parallel_2", "x=2", false, "\"x\""},
    {"megatron_2x4", "", false, nullptr,
     "tests/models/gpt2/megatron.textproto"},
    // The token table split by rows too (vocabulary-parallel embedding and
    // logits).
    {"megatron_vocab_2x2", "", false, nullptr,
     "tests/models/gpt2/megatron_vocab.textproto"},
    {"auto_2x2", "x=2,y=2", true, nullptr},
};

// Expert parallelism (token groups and experts over x; 2x2: each expert's
// hidden features over y too), and --auto.
const Mesh kSwitchMeshes[] = {
    {"one_device", "", false, nullptr},
    {"experts_2", "", false, nullptr, "tests/models/switch/experts.textproto"},
    {"experts_4", "", false, nullptr,
     "tests/models/switch/experts_4.textproto"},
    {"experts_2x2", "", false, nullptr,
     "tests/models/switch/experts_2x2.textproto"},
    {"data_parallel_3_uneven_groups", "x=3", false, "\"x\""},
    {"auto_2x2", "x=2,y=2", true, nullptr},
};

// ZeRO over the batch axis (compiler/train/ZeroPlan.h): the optimizer
// state, then the gradients, then the parameters split over it.
const Mesh kZeroMeshes[] = {
    {"zero1_4", "x=4", false, "\"x\"", nullptr, 1},
    {"zero2_4", "x=4", false, "\"x\"", nullptr, 2},
    {"zero3_4", "x=4", false, "\"x\"", nullptr, 3},
    {"zero3_3_uneven_batch", "x=3", false, "\"x\"", nullptr, 3},
    {"data_parallel_8", "x=8", false, "\"x\""},
    {"zero2_8", "x=8", false, "\"x\"", nullptr, 2},
};

absl::StatusOr<Compiled> compileStep(const Config &config, const Mesh &mesh) {
  CompileOptions options;
  options.inputShapes[config.input] = config.shape;
  options.sharding.mesh = mesh.mesh;
  options.sharding.autoShard = mesh.autoShard;
  options.sharding.autoSeconds = 5;
  // --auto prices ZeRO as a whole on a copy of the module per stage and
  // axis: seven searches. The MLP's AdamW step covers that here (and
  // tests/e2e/train.test the listing); on every config it multiplies the
  // test's time under the sanitizers, not its coverage.
  options.sharding.zeroCandidates =
      std::string(config.model) == "mlp" && std::string(config.name) == "adamw";
  if (mesh.planFile) {
    absl::StatusOr<proto::Plan> plan = readPlan(mesh.planFile);
    if (!plan.ok())
      return plan.status();
    options.sharding.plan = *plan;
  }
  if (mesh.inputSpec) {
    if (!options.sharding.plan)
      options.sharding.plan.emplace();
    proto::TensorPlan *entry = options.sharding.plan->add_tensors();
    entry->set_name(config.input);
    // The batch (the input's first dimension) split, the rest whole.
    std::string spec = std::string("[") + mesh.inputSpec;
    for (size_t d = 1; d < config.shape.size(); ++d)
      spec += ", null";
    entry->set_spec(spec + "]");
  }
  if (mesh.zeroStage) {
    options.sharding.plan->mutable_zero()->set_stage(mesh.zeroStage);
    options.sharding.plan->mutable_zero()->set_axis("x");
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file(std::string("tests/models/") +
                                    config.model + "/model.onnx"),
                  options);
  if (!model.ok())
    return model.status();
  absl::Status built = (*model)->train(config.loss, config.optimizer,
                                       config.frozen, config.batchNorm);
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
  std::string directory =
      std::string("tests/train/") + config.model + "/" + config.name;

  std::vector<HostTensor> inputs;
  for (const proto::TensorSpec &input : compiled->executable().inputs()) {
    std::string path = input.name() == config.input
                           ? std::string("tests/models/") + config.model + "/" +
                                 config.input + ".npy"
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

std::string
caseName(const ::testing::TestParamInfo<std::tuple<Config, Mesh>> &info) {
  return std::string(std::get<0>(info.param).name) + "_" +
         std::get<1>(info.param).name;
}

INSTANTIATE_TEST_SUITE_P(Mlp, TrainingStep,
                         ::testing::Combine(::testing::ValuesIn(kMlpConfigs),
                                            ::testing::ValuesIn(kMeshes)),
                         caseName);

// GPT-2: embeddings (gather), layer norms, masked attention, tanh GELU,
// the tied LM head; the parameters the ONNX file merged are tied in the
// reference, and the attention mask (a torch buffer) stays as it was.
INSTANTIATE_TEST_SUITE_P(ResNet, TrainingStep,
                         ::testing::Combine(::testing::ValuesIn(kResNetConfigs),
                                            ::testing::ValuesIn(kMeshes)),
                         caseName);

INSTANTIATE_TEST_SUITE_P(Gpt2, TrainingStep,
                         ::testing::Combine(::testing::ValuesIn(kGpt2Configs),
                                            ::testing::ValuesIn(kGpt2Meshes)),
                         caseName);

// Twenty steps from fresh optimizer state, the state kept on the devices
// between steps (LoadedExecutable::step): the loss of every step, and the
// parameters and optimizer state after the last, must be PyTorch's
// (tests/train/generate.py RUNS). The ResNet's steps cycle through 5
// batches.
const Config kMlpRuns[] = {
    {"momentum_20",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "momentum:lr=0.05,beta=0.9"},
    {"adamw_20",
     "mlp",
     "x",
     {4, 64},
     "cross_entropy:output,labels",
     "adamw:lr=1e-2,weight_decay=0.01"},
};
const Config kGpt2Runs[] = {
    {"adamw_lm_20",
     "gpt2",
     "ids",
     {2, 16},
     "cross_entropy:output,labels,dim=-1",
     "adamw:lr=1e-3,weight_decay=0.01,eps=1e-6",
     {"blocks.0.attn.mask"}},
};
// Top-1 then top-2 routing with tokens dropped at capacity: the routing
// (ArgMax, OneHot, CumSum) has no gradient, the gates do.
const Config kSwitchRuns[] = {
    {"adam_20",
     "switch",
     "x",
     {4, 8, 16},
     "cross_entropy:output,labels,dim=-1",
     "adam:lr=1e-2"},
};
const Config kResNetRuns[] = {
    {"momentum_eval_20",
     "resnet",
     "x",
     {2, 3, 32, 32},
     "cross_entropy:output,labels",
     "momentum:lr=0.01,beta=0.9",
     kResNetConfigs[0].frozen},
    // Training mode (torch's model.train()): batch statistics over the
    // whole batch, however it is split, and the running statistics
    // updated by every step (state, compared at the end).
    {"momentum_train_20",
     "resnet",
     "x",
     {2, 3, 32, 32},
     "cross_entropy:output,labels",
     "momentum:lr=0.01,beta=0.9",
     {},
     "train"},
};

/// Whether `actual` is `expected` (f32) within `rtol` of each element plus
/// `scaled` of the largest; adds a failure naming `what` if not.
void expectClose(const HostTensor &actual, const HostTensor &expected,
                 double rtol, double scaled, const std::string &what) {
  ASSERT_EQ(actual.dims, expected.dims) << what;
  ASSERT_EQ(actual.type, proto::F32) << what;
  ASSERT_EQ(expected.type, proto::F32) << what;
  double largest = 0;
  for (int64_t i = 0; i < expected.numElements(); ++i)
    largest = std::max(largest, std::fabs(double(expected.as<float>()[i])));
  for (int64_t i = 0; i < actual.numElements(); ++i) {
    float want = expected.as<float>()[i];
    ASSERT_NEAR(actual.as<float>()[i], want,
                1e-7 + scaled * largest + rtol * std::fabs(want))
        << what << "[" << i << "]";
  }
}

class TrainingRun : public ::testing::TestWithParam<std::tuple<Config, Mesh>> {
};

TEST_P(TrainingRun, TwentyStepsMatchPyTorch) {
  const auto &[config, mesh] = GetParam();
  absl::StatusOr<Compiled> compiled = compileStep(config, mesh);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const proto::Executable &executable = compiled->executable();
  std::string directory =
      std::string("tests/train/") + config.model + "/" + config.name;
  absl::StatusOr<HostTensor> batches =
      readNpy(directory + "/" + config.input + ".npy");
  absl::StatusOr<HostTensor> labels = readNpy(directory + "/labels.npy");
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_TRUE(labels.ok()) << labels.status();
  // The step takes the batch and the labels, and returns the loss.
  StepSignature signature = stepSignature(executable);
  ASSERT_EQ(signature.inputs.size(), 2u);
  ASSERT_EQ(executable.inputs(signature.inputs[0]).name(), config.input);
  ASSERT_EQ(executable.inputs(signature.inputs[1]).name(), "labels");
  ASSERT_EQ(signature.outputs.size(), 1u);
  HostBackend backend(4);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  constexpr int kSteps = 20;
  HostTensor losses;
  losses.type = proto::F32;
  losses.dims = {kSteps};
  losses.bytes.resize(kSteps * sizeof(float));
  int64_t count = batches->dims[0];
  std::vector<int64_t> scalar;
  for (int step = 0; step < kSteps; ++step) {
    const auto &x = executable.inputs(signature.inputs[0]);
    const auto &t = executable.inputs(signature.inputs[1]);
    std::vector<int64_t> xDims(x.dims().begin(), x.dims().end());
    std::vector<int64_t> tDims(t.dims().begin(), t.dims().end());
    size_t xBytes = batches->bytes.size() / count;
    size_t tBytes = labels->bytes.size() / count;
    int64_t which = step % count;
    TensorRef in[] = {TensorRef(batches->type, xDims,
                                batches->bytes.data() + which * xBytes, xBytes),
                      TensorRef(labels->type, tDims,
                                labels->bytes.data() + which * tBytes, tBytes)};
    TensorRef out[] = {TensorRef(proto::F32, scalar, losses.as<float>() + step,
                                 sizeof(float))};
    absl::Status stepped = (*loaded)->step(in, out);
    ASSERT_TRUE(stepped.ok()) << "step " << step << ": " << stepped;
  }
  std::string label = std::string(config.name) + " on " + mesh.name;
  absl::StatusOr<HostTensor> expectedLosses =
      readNpy(directory + "/expected/losses.npy");
  ASSERT_TRUE(expectedLosses.ok()) << expectedLosses.status();
  expectClose(losses, *expectedLosses, 1e-4, 1e-6, label + ": losses");
  // Twenty steps of f32 drift apart a little (a ReLU or a max pooling
  // decided the other way by a rounding difference), and Adam's normalized
  // update magnifies a rounding difference in a vanishing gradient: the
  // state's tolerance is relative to its largest element.
  ASSERT_GT(signature.state.size(), 6u);
  for (const StepSignature::State &state : signature.state) {
    absl::StatusOr<HostTensor> actual = (*loaded)->readState(state.name);
    ASSERT_TRUE(actual.ok()) << actual.status();
    if (state.name == "optimizer.step") {
      EXPECT_EQ(actual->as<float>()[0], kSteps) << label;
      continue;
    }
    absl::StatusOr<HostTensor> expected =
        readNpy(directory + "/expected/" + state.name + ".npy");
    ASSERT_TRUE(expected.ok()) << state.name << ": " << expected.status();
    expectClose(*actual, *expected, 1e-3, 3e-3, label + ": " + state.name);
  }
}

INSTANTIATE_TEST_SUITE_P(Mlp, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kMlpRuns),
                                            ::testing::ValuesIn(kMeshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(Gpt2, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kGpt2Runs),
                                            ::testing::ValuesIn(kGpt2Meshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(ResNet, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kResNetRuns),
                                            ::testing::ValuesIn(kMeshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(Switch, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kSwitchRuns),
                                            ::testing::ValuesIn(kSwitchMeshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(MlpZero, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kMlpRuns),
                                            ::testing::ValuesIn(kZeroMeshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(Gpt2Zero, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kGpt2Runs),
                                            ::testing::ValuesIn(kZeroMeshes)),
                         caseName);
INSTANTIATE_TEST_SUITE_P(ResNetZero, TrainingRun,
                         ::testing::Combine(::testing::ValuesIn(kResNetRuns),
                                            ::testing::ValuesIn(kZeroMeshes)),
                         caseName);

TEST(TrainingStepSpecs, BadSpecsAreErrors) {
  EXPECT_FALSE(train::parseLoss("hinge:y,t").ok());
  EXPECT_FALSE(train::parseLoss("mse:y").ok());
  EXPECT_FALSE(train::parseLoss("cross_entropy:y,t,axis=1").ok());
  EXPECT_FALSE(train::parseLoss("mse:y,t,dim=1").ok());
  absl::StatusOr<train::LossSpec> lm =
      train::parseLoss("cross_entropy:y,t,dim=-1");
  ASSERT_TRUE(lm.ok());
  EXPECT_EQ(lm->classDim, -1);
  EXPECT_FALSE(train::parseOptimizer("rmsprop:lr=1").ok());
  EXPECT_FALSE(train::parseOptimizer("sgd").ok());
  EXPECT_FALSE(train::parseOptimizer("sgd:lr=-1").ok());
  EXPECT_FALSE(train::parseOptimizer("adam:lr=1e-3,beta=0.9").ok());
  EXPECT_FALSE(train::parseOptimizer("momentum:lr=0.1,beta=1.5").ok());
  absl::StatusOr<train::OptimizerSpec> adamw =
      train::parseOptimizer("adamw:lr=1e-3");
  ASSERT_TRUE(adamw.ok());
  EXPECT_EQ(adamw->weightDecay, 0.01);

  Config config = {"sgd_mse",           "mlp",       "x", {4, 64},
                   "mse:logits,target", "sgd:lr=0.1"};
  absl::StatusOr<Compiled> compiled = compileStep(config, kMeshes[0]);
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find(
                "'logits', which is no output of the model (outputs: output)"),
            std::string::npos)
      << compiled.status();
}

} // namespace
} // namespace tessel
