//===- TemplatesTest.cpp - Expert plans from the ops' sharding rules ------===//

#include "compiler/tune/Templates.h"

#include <cmath>

#include "compiler/api/Tessel.h"
#include "runtime/host/HostBackend.h"
#include "runtime/io/Npy.h"
#include "gtest/gtest.h"

namespace tessel::tune {
namespace {

const char *kGpt2 = "tests/models/gpt2/model.onnx";

std::vector<WeightUse> gpt2Weights() {
  CompileOptions options;
  options.inputShapes["ids"] = {2, 16};
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file(kGpt2), options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? weightUses((*model)->module()) : std::vector<WeightUse>{};
}

// The weights the GPT-2-style model's contractions read, with their
// dimensions found through the transposes torch.onnx puts before them:
// [out, in] as torch.nn.Linear stores them; the tied embedding is read by
// the LM head (its gather is no contraction).
TEST(TemplatesTest, FindsTheWeightsOfContractions) {
  std::vector<WeightUse> uses = gpt2Weights();
  ASSERT_EQ(uses.size(), 9u);
  const char *names[] = {"blocks.0.attn.qkv.weight",
                         "blocks.0.attn.proj.weight", "blocks.0.fc.weight",
                         "blocks.0.out.weight"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(uses[i].parameter, names[i]);
    EXPECT_EQ(uses[i].rank, 2);
    EXPECT_EQ(uses[i].outputDim, 0) << names[i];
    EXPECT_EQ(uses[i].contractedDim, 1) << names[i];
  }
  EXPECT_EQ(uses[8].parameter, "wte.weight");
  EXPECT_EQ(uses[8].outputDim, 0); // the vocabulary
}

// The template is the hand-written Megatron plan of the model
// (tests/models/gpt2/megatron.textproto), and the LM head column parallel.
TEST(TemplatesTest, MegatronAlternatesColumnAndRow) {
  proto::Plan plan = megatronPlan(gpt2Weights(), {"y"});
  std::map<std::string, std::string> specs;
  for (const proto::TensorPlan &tensor : plan.tensors())
    specs[tensor.name()] = tensor.spec();
  for (const char *block : {"blocks.0.", "blocks.1."}) {
    std::string b = block;
    EXPECT_EQ(specs[b + "attn.qkv.weight"], "[\"y\", null]");
    EXPECT_EQ(specs[b + "attn.proj.weight"], "[null, \"y\"]");
    EXPECT_EQ(specs[b + "fc.weight"], "[\"y\", null]");
    EXPECT_EQ(specs[b + "out.weight"], "[null, \"y\"]");
  }
  EXPECT_EQ(specs["wte.weight"], "[\"y\", null]");
  EXPECT_EQ(specs.size(), 9u);
  EXPECT_EQ(megatronPlan(gpt2Weights(), {"x", "y"}).tensors(0).spec(),
            "[[\"x\", \"y\"], null]");
  EXPECT_EQ(splitSpec(3, -1, {"x"}), "[null, null, null]");
}

/// Compiles `model` on `mesh` with `plan` as the cost model's constraints
/// and checks its output against the single device's (`dir`/output.npy
/// for the input `dir`/<input>.npy).
void expectLikeOneDevice(const std::string &dir, const std::string &input,
                         std::vector<int64_t> shape, const std::string &mesh,
                         const proto::Plan &plan) {
  SCOPED_TRACE(dir + " on " + mesh);
  absl::StatusOr<HostTensor> x = readNpy(dir + "/" + input + ".npy");
  absl::StatusOr<HostTensor> expected = readNpy(dir + "/output.npy");
  ASSERT_TRUE(x.ok() && expected.ok());
  CompileOptions options;
  options.inputShapes[input] = shape;
  options.sharding.mesh = mesh;
  options.sharding.autoShard = true;
  options.sharding.autoSeconds = 1;
  options.sharding.plan = plan;
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::file(dir + "/model.onnx"), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_FALSE(compiled->collectives().empty());
  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::vector<HostTensor>> outputs = (*loaded)->run({*x});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ((*outputs)[0].numElements(), expected->numElements());
  for (int64_t i = 0; i < expected->numElements(); ++i)
    ASSERT_NEAR((*outputs)[0].as<float>()[i], expected->as<float>()[i], 1e-3)
        << "element " << i;
}

/// `plan` and the input `name` split on its leading dimension over `axes`.
proto::Plan withInput(proto::Plan plan, const std::string &name, int64_t rank,
                      const std::vector<std::string> &axes) {
  proto::TensorPlan *input = plan.add_tensors();
  input->set_name(name);
  input->set_spec(splitSpec(rank, 0, axes));
  return plan;
}

// With the template as the cost model's constraints, the models give the
// single device's numbers, on even and uneven meshes, alone and with data
// parallelism.
TEST(TemplatesTest, MegatronPlansRunLikeOneDevice) {
  std::vector<WeightUse> uses = gpt2Weights();
  const std::string gpt2 = "tests/models/gpt2";
  expectLikeOneDevice(gpt2, "ids", {2, 16}, "x=2",
                      withInput(megatronPlan(uses, {"x"}), "ids", 2, {}));
  expectLikeOneDevice(gpt2, "ids", {2, 16}, "x=3",
                      withInput(megatronPlan(uses, {"x"}), "ids", 2, {}));
  expectLikeOneDevice(gpt2, "ids", {2, 16}, "x=2,y=2",
                      withInput(megatronPlan(uses, {"y"}), "ids", 2, {"x"}));
}

// Convolutions: kernels [out, in, h, w] split on out, then in, in turn.
TEST(TemplatesTest, MegatronSplitsConvolutions) {
  CompileOptions options;
  options.inputShapes["x"] = {2, 3, 32, 32};
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file("tests/models/resnet/model.onnx"), options);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<WeightUse> uses = weightUses((*model)->module());
  ASSERT_GE(uses.size(), 3u);
  EXPECT_EQ(uses[0].rank, 4);
  EXPECT_EQ(uses[0].outputDim, 0);
  EXPECT_EQ(uses[0].contractedDim, 1);
  proto::Plan plan = megatronPlan(uses, {"x"});
  EXPECT_EQ(plan.tensors(0).spec(), "[\"x\", null, null, null]");
  EXPECT_EQ(plan.tensors(1).spec(), "[null, \"x\", null, null]");
  expectLikeOneDevice("tests/models/resnet", "x", {2, 3, 32, 32}, "x=2",
                      withInput(plan, "x", 4, {}));
}

} // namespace
} // namespace tessel::tune
