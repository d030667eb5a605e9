//===- TunerTest.cpp - The autotuned search and its calibration -----------===//

#include <cstdio>
#include <cstdlib>

#include "compiler/tune/Tuner.h"
#include "gtest/gtest.h"

namespace tessel::tune {
namespace {

const char *kModel = "tests/models/mlp/model.onnx";

TEST(TunerTest, MeshesAreEveryFactorisation) {
  std::vector<std::string> meshes;
  for (const MeshShape &mesh : meshesFor(8))
    meshes.push_back(meshText(mesh));
  EXPECT_EQ(meshes, (std::vector<std::string>{"x=8", "x=2,y=4", "x=4,y=2",
                                              "x=2,y=2,z=2"}));
  EXPECT_EQ(meshesFor(1).size(), 1u);
  EXPECT_TRUE(meshesFor(1)[0].empty());
  std::vector<std::string> six;
  for (const MeshShape &mesh : meshesFor(6, 2))
    six.push_back(meshText(mesh));
  EXPECT_EQ(six, (std::vector<std::string>{"x=6", "x=2,y=3", "x=3,y=2"}));
  EXPECT_EQ(meshesFor(7).size(), 1u); // a prime: one axis
}

TEST(TunerTest, RankingMetrics) {
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4}, {40, 30, 20, 10}), -1.0);
  EXPECT_NEAR(kendallTau({1, 2, 3}, {1, 3, 2}), 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(meanAbsolutePercentageError({1, 3}, {2, 2}), 50.0);
}

// Measurements made from known per-device-count factors (with noise that
// averages out in log space) give those factors back, and the calibrated
// model's error and ranking are then exact.
TEST(TunerTest, CalibrationRecoversKnownFactors) {
  std::vector<std::tuple<int64_t, double, double>> points;
  for (double modeled : {1.0, 2.0, 4.0}) {
    points.emplace_back(2, modeled, modeled * 3.0 * 1.1);
    points.emplace_back(2, modeled, modeled * 3.0 / 1.1);
    points.emplace_back(4, modeled * 0.5, modeled * 0.5 * 8.0);
  }
  Calibration calibration = calibrate(points);
  EXPECT_NEAR(calibration.factorByDevices[2], 3.0, 1e-9);
  EXPECT_NEAR(calibration.factorByDevices[4], 8.0, 1e-9);
  EXPECT_GT(calibration.mapeBefore, 50);
  EXPECT_LT(calibration.mapeAfter, 10);
  EXPECT_GT(calibration.tauAfter, calibration.tauBefore);
  EXPECT_EQ(calibration.measured, 9);
}

std::string temporaryPath(const std::string &name) {
  const char *root = std::getenv("TEST_TMPDIR");
  return std::string(root ? root : "/tmp") + "/" + name;
}

TuneOptions smallSearch() {
  TuneOptions options;
  options.inputShapes["x"] = {8, 64};
  options.devices = 2;
  options.budgetSeconds = 120;
  options.runs = 2;
  options.warmup = 1;
  options.threads = 2;
  options.autoSeconds = 1;
  return options;
}

// A small search finds a plan; a second search with the same log measures
// nothing again; a candidate that does not compile is reported and the
// search goes on.
TEST(TunerTest, SearchesReusesItsLogAndSkipsBrokenCandidates) {
  TuneOptions options = smallSearch();
  options.logPath = temporaryPath("tune.log");
  std::remove(options.logPath.c_str());
  proto::Plan broken;
  proto::TensorPlan *tensor = broken.add_tensors();
  tensor->set_name("no_such_tensor");
  tensor->set_spec("[\"x\"]");
  options.userPlans.emplace_back("broken", broken);
  absl::StatusOr<TuneResult> first = tune(ModelSource::file(kModel), options);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_GE(first->best, 0);
  EXPECT_GT(first->newMeasurements, 0);
  bool sawBroken = false;
  for (const Candidate &c : first->candidates)
    if (c.name == "broken") {
      sawBroken = true;
      EXPECT_NE(c.error.find("no_such_tensor"), std::string::npos) << c.error;
      EXPECT_FALSE(c.measured);
    }
  EXPECT_TRUE(sawBroken);
  const Candidate &best = first->candidates[first->best];
  EXPECT_EQ(best.mesh, "x=2");
  EXPECT_NE(best.planText.find("mesh"), std::string::npos);
  EXPECT_NE(formatTable(*first).find("best"), std::string::npos);

  // The best plan compiles and runs as a plan file would.
  CompileOptions compileOptions;
  compileOptions.inputShapes["x"] = {8, 64};
  compileOptions.sharding.plan.emplace();
  for (const proto::TensorPlan &t : best.constraints.tensors())
    *compileOptions.sharding.plan->add_tensors() = t;
  compileOptions.sharding.mesh = best.mesh;
  EXPECT_TRUE(compile(ModelSource::file(kModel), compileOptions).ok());

  absl::StatusOr<TuneResult> second = tune(ModelSource::file(kModel), options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->newMeasurements, 0);
  // What compiling gave is in the log too: only the best is compiled again
  // (for its plan text), not every candidate.
  EXPECT_LT(second->compilations, first->compilations);
  EXPECT_EQ(second->candidates[second->best].planText, best.planText);
  EXPECT_GT(second->logMeasurements, 0);
  EXPECT_EQ(second->candidates[second->best].fingerprint, best.fingerprint);
}

TEST(TunerTest, BadOptionsAreStatuses) {
  TuneOptions options = smallSearch();
  options.devices = 0;
  EXPECT_FALSE(tune(ModelSource::file(kModel), options).ok());
  options = smallSearch();
  options.topK = 0;
  EXPECT_FALSE(tune(ModelSource::file(kModel), options).ok());
  options = smallSearch();
  absl::StatusOr<TuneResult> missing =
      tune(ModelSource::file("/nonexistent.onnx"), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent.onnx"),
            std::string::npos);
}

} // namespace
} // namespace tessel::tune
