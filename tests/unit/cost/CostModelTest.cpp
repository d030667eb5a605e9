//===- CostModelTest.cpp - Roofline and alpha-beta formulas ---------------===//

#include "compiler/cost/CostModel.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tessel::cost {
namespace {

/// Two nodes of 4 devices: a fast link inside a node, a slow one across.
constexpr const char *kTwoLevels = R"pb(
  name: "test"
  device {
    peak_flops { key: "f32" value: 1e12 }
    peak_flops { key: "bf16" value: 4e12 }
    memory_bandwidth: 1e11
    memory_bytes: 16000000000
  }
  links { name: "fast" devices: 4 latency: 1e-6 bandwidth: 1e11 }
  links { name: "slow" devices: 0 latency: 1e-5 bandwidth: 1e10 }
)pb";

CostModel model(const std::string &text) {
  proto::DeviceProfile profile;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile));
  absl::StatusOr<CostModel> result = CostModel::fromProfile(profile);
  EXPECT_TRUE(result.ok()) << result.status();
  return *result;
}

TEST(CostModelTest, ComputeIsTheSlowerOfArithmeticAndMemory) {
  CostModel m = model(kTwoLevels);
  // 2e12 FLOPs of f32 at 1e12/s: 2 s; 1e10 bytes at 1e11/s: 0.1 s.
  EXPECT_DOUBLE_EQ(m.computeSeconds(2e12, "f32", 1e10), 2.0);
  // bf16 is 4x faster; memory-bound ops pay their bytes.
  EXPECT_DOUBLE_EQ(m.computeSeconds(2e12, "bf16", 1e10), 0.5);
  EXPECT_DOUBLE_EQ(m.computeSeconds(1e6, "f32", 1e11), 1.0);
  // An element type not listed runs at the slowest listed rate.
  EXPECT_DOUBLE_EQ(m.computeSeconds(1e12, "i32", 0), 1.0);
}

TEST(CostModelTest, GroupsUseTheClosestLinkHoldingThem) {
  CostModel m = model(kTwoLevels);
  EXPECT_EQ(m.linkFor({0, 1, 2, 3}).name(), "fast");
  EXPECT_EQ(m.linkFor({4, 6}).name(), "fast");
  EXPECT_EQ(m.linkFor({3, 4}).name(), "slow");
  EXPECT_EQ(m.linkFor({0, 4}).name(), "slow");
}

TEST(CostModelTest, AlphaBetaCollectives) {
  CostModel m = model(kTwoLevels);
  std::vector<int64_t> node = {0, 1, 2, 3}, across = {0, 4};
  double bytes = 1e9;
  // Ring all-reduce over 4 on the fast link: 6 alpha + 2 (3/4) B / w.
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::AllReduce, bytes, node),
                   6e-6 + 1.5 * 1e-2);
  // All-gather and reduce-scatter move half that.
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::AllGather, bytes, node),
                   3e-6 + 0.75 * 1e-2);
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::ReduceScatter, bytes, node),
                   m.collectiveSeconds(Collective::AllGather, bytes, node));
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::AllToAll, bytes, node),
                   3e-6 + 0.75 * 1e-2);
  // Across nodes: the slow link, 10x the time per byte.
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::AllReduce, bytes, across),
                   2e-5 + 1e-1);
  EXPECT_DOUBLE_EQ(
      m.collectiveSeconds(Collective::CollectivePermute, bytes, across),
      1e-5 + 1e-1);
  EXPECT_DOUBLE_EQ(m.collectiveSeconds(Collective::HaloExchange, 1e4, node),
                   2e-6 + 1e-7);
  // A group of one moves nothing.
  EXPECT_EQ(m.collectiveSeconds(Collective::AllReduce, bytes, {3}), 0);
}

TEST(CostModelTest, CollectiveWorkspaceIsAMultipleOfTheOperand) {
  CostModel plain = model(kTwoLevels);
  EXPECT_EQ(plain.collectiveWorkspaceBytes(Collective::ReduceScatter, 1e6), 0);
  std::string text = kTwoLevels;
  text.replace(text.find("memory_bytes"), 0,
               R"pb(collective_workspace { key: "reduce_scatter" value: 2 }
                    collective_workspace { key: "all_reduce" value: 0.49 }
               )pb");
  CostModel m = model(text);
  EXPECT_EQ(m.collectiveWorkspaceBytes(Collective::ReduceScatter, 1000), 2000);
  // Rounded up to a whole byte.
  EXPECT_EQ(m.collectiveWorkspaceBytes(Collective::AllReduce, 1001), 491);
  // A kind the profile does not list takes none.
  EXPECT_EQ(m.collectiveWorkspaceBytes(Collective::AllGather, 1e6), 0);
  // Past what any device holds, held there (no overflow in a peak's sum).
  EXPECT_EQ(m.collectiveWorkspaceBytes(Collective::ReduceScatter, 1e30),
            int64_t{1} << 60);
}

TEST(CostModelTest, BadProfilesSayWhy) {
  auto error = [](const std::string &text) {
    proto::DeviceProfile profile;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &profile));
    absl::StatusOr<CostModel> result = CostModel::fromProfile(profile);
    EXPECT_FALSE(result.ok());
    return std::string(result.status().message());
  };
  std::string device = R"pb(
    name: "p"
    device { peak_flops { key: "f32" value: 1 } memory_bandwidth: 1 memory_bytes: 1 }
  )pb";
  EXPECT_EQ(error(device), "device profile 'p': no links: a profile needs at "
                           "least one joining every device");
  EXPECT_EQ(
      error(device +
            R"pb(links { name: "l" devices: 8 latency: 0 bandwidth: 1 })pb"),
      "device profile 'p': the last link, 'l', must join every device "
      "(devices: 0)");
  EXPECT_EQ(
      error(device + R"pb(links { name: "a" devices: 8 latency: 0 bandwidth: 1 }
                                links { name: "b" devices: 4 latency: 0 bandwidth: 1 })pb"),
      "device profile 'p': link 'b' must join more devices than the one "
      "before it (links go from the closest to the farthest)");
  EXPECT_EQ(
      error(R"pb(name: "q" device { memory_bandwidth: 1 memory_bytes: 1 })pb"),
      "device profile 'q': device.peak_flops lists no element type");
  std::string link =
      R"pb(links { name: "l" devices: 0 latency: 0 bandwidth: 1 })pb";
  auto withDevice = [&](const std::string &extra) {
    return absl::StrCat(R"pb(name: "p"
                             device {
                               peak_flops { key: "f32" value: 1 }
                               memory_bandwidth: 1
                               memory_bytes: 1 )pb",
                        extra, "}", link);
  };
  EXPECT_EQ(error(withDevice("runtime_bytes: -1")),
            "device profile 'p': device.runtime_bytes must be >= 0");
  EXPECT_EQ(error(withDevice(
                R"pb(collective_workspace { key: "all_sum" value: 1 })pb")),
            "device profile 'p': device.collective_workspace[\"all_sum\"] is "
            "not a collective kind");
  EXPECT_EQ(error(withDevice(
                R"pb(collective_workspace { key: "all_gather" value: -2 })pb")),
            "device profile 'p': device.collective_workspace[\"all_gather\"] "
            "must be a finite multiple >= 0");
}

TEST(CostModelTest, ShippedProfilesLoad) {
  for (const char *name : {"h100_sxm", "a100_sxm", "host"}) {
    absl::StatusOr<CostModel> m = CostModel::load(
        std::string("compiler/cost/profiles/") + name + ".textproto");
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    EXPECT_GT(m->memoryBytes(), 0);
    // Built in by name too, the same profile.
    absl::StatusOr<CostModel> builtin = CostModel::named(name);
    ASSERT_TRUE(builtin.ok()) << name << ": " << builtin.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        builtin->profile(), m->profile()))
        << name;
  }
  EXPECT_EQ(CostModel::builtinProfiles(),
            (std::vector<std::string>{"a100_sxm", "h100_sxm", "host"}));
  absl::StatusOr<CostModel> missing = CostModel::named("h200");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "'h200' is neither a built-in device profile (a100_sxm, h100_sxm, "
            "host) nor a readable profile file");
  // An H100 node's NVLink all-reduce of 1 GiB beats InfiniBand's by the
  // bandwidth ratio, 9x.
  CostModel h100 =
      *CostModel::load("compiler/cost/profiles/h100_sxm.textproto");
  double inside = h100.collectiveSeconds(Collective::AllReduce, 1 << 30,
                                         {0, 1, 2, 3, 4, 5, 6, 7});
  double across = h100.collectiveSeconds(Collective::AllReduce, 1 << 30,
                                         {0, 8, 16, 24, 32, 40, 48, 56});
  EXPECT_NEAR(across / inside, 9.0, 0.1);
}

} // namespace
} // namespace tessel::cost
