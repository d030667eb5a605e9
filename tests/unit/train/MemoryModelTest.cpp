//===- MemoryModelTest.cpp - The modeled peak against the executable's ----===//
//
// --auto decides what fits by its memory model (passes/autoshard): per
// tensor, its bytes per device over its life. Priced as given
// (ShardingOptions::price), a training step's plan must model what its
// executable holds per device (runtime/Executable.h deviceBytes:
// parameters, state, inputs, the arena, load-time results) within 3%
// over and 4% under, for data parallel and each ZeRO stage, on even and
// uneven meshes (the test models' many small tensors make what the model
// does not see, 64-byte alignment and the arena's holes, weigh more than
// on the bench model, where it is within 1%). What the runtime holds
// beyond the executable is bench/train_memory.sh's to measure.
//
//===----------------------------------------------------------------------===//

#include <algorithm>

#include "compiler/api/Tessel.h"
#include "runtime/Executable.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

struct Step {
  const char *name, *model, *input;
  std::vector<int64_t> shape;
  const char *loss, *optimizer;
  std::vector<std::string> frozen = {};
};

const Step kSteps[] = {
    {"mlp",
     "mlp",
     "x",
     {8, 64},
     "cross_entropy:output,labels",
     "adamw:lr=1e-2"},
    {"mlp_momentum",
     "mlp",
     "x",
     {8, 64},
     "mse:output,target",
     "momentum:lr=0.1,beta=0.9"},
    {"gpt2",
     "gpt2",
     "ids",
     {4, 16},
     "cross_entropy:output,labels,dim=-1",
     "adamw:lr=1e-3",
     {"blocks.0.attn.mask"}},
};

struct Layout {
  const char *name;
  int devices, zeroStage;
};

const Layout kLayouts[] = {
    {"data_2", 2, 0},  {"data_4", 4, 0},  {"zero1_4", 4, 1},
    {"zero2_4", 4, 2}, {"zero3_4", 4, 3}, {"zero3_3_uneven", 3, 3},
};

class MemoryModel : public ::testing::TestWithParam<std::tuple<Step, Layout>> {
};

/// The modeled peak of `step` priced on `layout`, over the largest
/// device's bytes in its executable.
double modeledOverExecutable(const Step &step, const Layout &layout) {
  CompileOptions options;
  options.inputShapes[step.input] = step.shape;
  proto::Plan plan;
  proto::PlanMesh::Axis *axis = plan.mutable_mesh()->add_axes();
  axis->set_name("x");
  axis->set_size(layout.devices);
  proto::TensorPlan *input = plan.add_tensors();
  input->set_name(step.input);
  std::string spec = "[\"x\"";
  for (size_t d = 1; d < step.shape.size(); ++d)
    spec += ", null";
  input->set_spec(spec + "]");
  if (layout.zeroStage) {
    plan.mutable_zero()->set_stage(layout.zeroStage);
    plan.mutable_zero()->set_axis("x");
  }
  options.sharding.plan = plan;
  options.sharding.price = true;
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file(std::string("tests/models/") + step.model +
                                    "/model.onnx"),
                  options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok())
    return 0;
  EXPECT_TRUE((*model)->train(step.loss, step.optimizer, step.frozen).ok());
  EXPECT_TRUE((*model)->shard(options.sharding).ok());
  absl::StatusOr<Compiled> compiled = (*model)->compile();
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok() || !compiled->autoShardReport())
    return 0;
  const autoshard::AutoShardReport &report = *compiled->autoShardReport();
  EXPECT_TRUE(report.priced);
  int64_t held = 0;
  for (int d = 0; d < compiled->executable().programs_size(); ++d)
    held = std::max(held, deviceBytes(compiled->executable(), d));
  double ratio = static_cast<double>(report.peakBytes) / held;
  std::cout << step.name << " " << layout.name << ": modeled "
            << report.peakBytes << " bytes, executable " << held
            << ", modeled/executable " << ratio << "\n";
  return ratio;
}

TEST_P(MemoryModel, PricedPeakIsTheExecutables) {
  const auto &[step, layout] = GetParam();
  double ratio = modeledOverExecutable(step, layout);
  EXPECT_GT(ratio, 0.96);
  EXPECT_LT(ratio, 1.03);
}

// GPT-2's ZeRO-3 step holds, at its peak, what no op of the graph holds by
// itself: the fused q/k/v's slices, viewed as heads and read transposed by
// the attention's products (kept for the backward pass), and the tied
// embedding's part transposed for the output projection, materialized for
// the all-gather that reads it. The model counts both (within 2%; 3-4%
// under when it did not).
TEST(MemoryModel, CountsWhatViewsAndReshardsMaterialize) {
  const Step &gpt2 = kSteps[2];
  for (const Layout &layout :
       {Layout{"zero3_4", 4, 3}, Layout{"zero3_3_uneven", 3, 3}}) {
    double ratio = modeledOverExecutable(gpt2, layout);
    EXPECT_GT(ratio, 0.98) << layout.name;
    EXPECT_LT(ratio, 1.02) << layout.name;
  }
}

std::string
caseName(const ::testing::TestParamInfo<std::tuple<Step, Layout>> &info) {
  return std::string(std::get<0>(info.param).name) + "_" +
         std::get<1>(info.param).name;
}

INSTANTIATE_TEST_SUITE_P(Steps, MemoryModel,
                         ::testing::Combine(::testing::ValuesIn(kSteps),
                                            ::testing::ValuesIn(kLayouts)),
                         caseName);

// Pricing is of a given plan: with autoShard it is an error, and without a
// mesh there is nothing to price.
TEST(MemoryModel, PriceNeedsAPlanAndNoSearch) {
  CompileOptions options;
  options.inputShapes["x"] = {8, 64};
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::load(ModelSource::file("tests/models/mlp/model.onnx"), options);
  ASSERT_TRUE(model.ok()) << model.status();
  ShardingOptions sharding;
  sharding.price = true;
  absl::Status status = (*model)->shard(sharding);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("needs a mesh"), std::string::npos) << status;
  sharding.mesh = "x=2";
  sharding.autoShard = true;
  status = (*model)->shard(sharding);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("autoShard chooses one"), std::string::npos)
      << status;
}

} // namespace
} // namespace tessel
