//===- TunerTest.cpp - The autotuned search and its calibration -----------===//

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "compiler/tune/Tuner.h"
#include "google/protobuf/text_format.h"
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

// Only pairs whose interquartile ranges do not overlap count: the model
// ordering two overlapping measurements either way is not judged.
TEST(TunerTest, SeparatedRanking) {
  auto measured = [](double lower, double median, double upper) {
    Measurement m;
    m.lowerQuartile = lower;
    m.median = median;
    m.upperQuartile = upper;
    return m;
  };
  std::vector<Measurement> runs = {measured(9, 10, 11), measured(10, 11, 12),
                                   measured(19, 20, 21)};
  EXPECT_TRUE(separated(runs[0], runs[2]));
  EXPECT_FALSE(separated(runs[0], runs[1]));
  int pairs = -1;
  // The model swaps the close pair and orders both separated pairs right.
  EXPECT_DOUBLE_EQ(separatedKendallTau({2, 1, 3}, runs, pairs), 1.0);
  EXPECT_EQ(pairs, 2);
  // It puts the slowest first: both separated pairs wrong.
  EXPECT_DOUBLE_EQ(separatedKendallTau({2, 3, 1}, runs, pairs), -1.0);
  // Nothing told apart: no pair, no judgement.
  EXPECT_DOUBLE_EQ(separatedKendallTau({1, 2}, {runs[0], runs[1]}, pairs), 0);
  EXPECT_EQ(pairs, 0);
}

// The report: every candidate in the table (names escaped), one point
// before and one after calibration per measured executable, inside the
// plot, and the best plan.
TEST(TunerTest, HtmlReport) {
  TuneResult result;
  auto add = [&](std::string name, std::string fingerprint, double modeled,
                 double calibrated, std::optional<double> measured) {
    Candidate c;
    c.mesh = "x=2";
    c.name = std::move(name);
    c.fingerprint = std::move(fingerprint);
    c.modeledSeconds = modeled;
    c.calibratedSeconds = calibrated;
    if (measured) {
      c.measured.emplace();
      c.measured->median = c.measured->fastest = c.measured->slowest =
          *measured;
    }
    c.planText = "tensors { name: \"w\" spec: '[\"x\", null]' }\n";
    result.candidates.push_back(c);
  };
  add("auto", "a", 1e-3, 2e-3, 2.5e-3);
  add("same_executable", "a", 1e-3, 2e-3, 2.5e-3);
  add("<mine>", "b", 4e-3, 3e-3, 3.5e-3);
  add("unmeasured", "c", 9e-3, 9e-3, std::nullopt);
  result.best = 0;
  std::string html = formatHtml(result, "model.onnx on 2 devices");
  EXPECT_NE(html.find("<td>&lt;mine&gt;</td>"), std::string::npos);
  EXPECT_EQ(html.find("<mine>"), std::string::npos);
  EXPECT_NE(html.find("<td>unmeasured</td>"), std::string::npos);
  EXPECT_NE(html.find("<pre id=\"plan\">tensors { name: &quot;w&quot;"),
            std::string::npos);
  for (const char *kind : {"before", "after"}) {
    std::string marker = std::string("<circle class=\"") + kind + "\" cx=\"";
    int points = 0;
    for (size_t at = html.find(marker); at != std::string::npos;
         at = html.find(marker, at + 1)) {
      ++points;
      double cx = std::atof(html.c_str() + at + marker.size());
      size_t cyAt = html.find("cy=\"", at) + 4;
      double cy = std::atof(html.c_str() + cyAt);
      EXPECT_GE(cx, 60);
      EXPECT_LE(cx, 340);
      EXPECT_GE(cy, 40);
      EXPECT_LE(cy, 320);
    }
    EXPECT_EQ(points, 2) << kind; // executables "a" and "b"
  }
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
  // The cost model's next-best plans are candidates of their own, listed
  // after its best, each constraining the largest parameters and compiling
  // to an executable of its own.
  auto alternativesOf = [](const TuneResult &result) {
    std::vector<const Candidate *> listed;
    const Candidate *autoCandidate = nullptr;
    for (const Candidate &c : result.candidates) {
      if (c.name == "auto")
        autoCandidate = &c;
      if (absl::StartsWith(c.name, "auto#")) {
        EXPECT_EQ(c.name, absl::StrCat("auto#", listed.size() + 2));
        EXPECT_GT(c.constraints.tensors_size(), 0) << c.name;
        EXPECT_TRUE(autoCandidate && autoCandidate->mesh == c.mesh);
        EXPECT_NE(c.fingerprint, autoCandidate->fingerprint) << c.name;
        listed.push_back(&c);
      }
    }
    return listed;
  };
  std::vector<const Candidate *> alternatives = alternativesOf(*first);
  EXPECT_GE(alternatives.size(), 1u);
  EXPECT_LE(alternatives.size(), static_cast<size_t>(options.kBest));
  // The search's fastest, the best expert plan and --auto's were measured
  // again together, and the fastest of that round is the answer.
  std::set<std::string> roles;
  for (const Confirmed &c : first->confirmation) {
    roles.insert(c.role);
    EXPECT_GT(c.measured.median, 0) << c.role;
    EXPECT_EQ(c.measured.runs, options.confirmRuns) << c.role;
  }
  EXPECT_TRUE(roles.count("search's #1"));
  EXPECT_TRUE(roles.count("expert #1"));
  EXPECT_TRUE(roles.count("uncalibrated auto"));
  const Confirmed *fastest = fastestConfirmed(*first);
  ASSERT_NE(fastest, nullptr);
  EXPECT_EQ(fastest->candidate, first->best);
  for (const Confirmed &c : first->confirmation)
    EXPECT_LE(fastest->measured.median, c.measured.median);
  std::string confirmation = formatConfirmation(*first);
  EXPECT_NE(confirmation.find("tuned / best expert"), std::string::npos)
      << confirmation;
  const Candidate &best = first->candidates[first->best];
  EXPECT_EQ(best.mesh, "x=2");
  EXPECT_NE(best.planText.find("mesh"), std::string::npos);
  EXPECT_NE(formatTable(*first).find("best"), std::string::npos);

  // The search fitted a profile to what it measured: the kernels the MLP
  // runs, on a processor its devices share; --auto takes it.
  ASSERT_TRUE(first->calibration.profile);
  const proto::DeviceProfile &fitted = *first->calibration.profile;
  EXPECT_TRUE(fitted.shared_processor());
  EXPECT_TRUE(fitted.kernels().contains("dot_general"));
  EXPECT_GT(first->calibration.measured, 0);
  for (const Candidate &c : first->candidates) {
    if (c.measured) {
      EXPECT_GT(c.calibratedSeconds, 0) << c.mesh << " " << c.name;
    }
  }
  std::string profilePath = temporaryPath("calibrated.textproto");
  {
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(fitted, &text));
    std::ofstream(profilePath) << text;
  }
  CompileOptions withProfile;
  withProfile.inputShapes["x"] = {8, 64};
  withProfile.sharding.mesh = "x=2";
  withProfile.sharding.autoShard = true;
  withProfile.sharding.deviceProfile = profilePath;
  absl::StatusOr<Compiled> calibratedAuto =
      compile(ModelSource::file(kModel), withProfile);
  ASSERT_TRUE(calibratedAuto.ok()) << calibratedAuto.status();
  ASSERT_TRUE(calibratedAuto->autoShardReport());
  EXPECT_GT(calibratedAuto->autoShardReport()->computeSeconds, 0);

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
  // So does the confirmation round.
  ASSERT_EQ(second->confirmation.size(), first->confirmation.size());
  for (size_t k = 0; k < first->confirmation.size(); ++k)
    EXPECT_NEAR(second->confirmation[k].measured.median,
                first->confirmation[k].measured.median,
                1e-8 * first->confirmation[k].measured.median);
  // The next-best plans come from the log as well.
  std::vector<const Candidate *> again = alternativesOf(*second);
  ASSERT_EQ(again.size(), alternatives.size());
  for (size_t k = 0; k < again.size(); ++k)
    EXPECT_EQ(again[k]->fingerprint, alternatives[k]->fingerprint);
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
