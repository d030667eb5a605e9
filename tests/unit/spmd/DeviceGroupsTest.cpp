//===- DeviceGroupsTest.cpp - Collectives' device groups ------------------===//

#include "dialects/spmd/DeviceGroups.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

namespace tessel::spmd {
namespace {

using Groups = std::vector<std::vector<int64_t>>;

class DeviceGroupsTest : public ::testing::Test {
protected:
  DeviceGroupsTest() { context.loadDialect<SpmdDialect>(); }

  MeshAttr mesh(std::vector<std::pair<const char *, int64_t>> axes,
                std::vector<int64_t> deviceIds = {}) {
    llvm::SmallVector<MeshAxisAttr> attrs;
    for (auto [name, size] : axes)
      attrs.push_back(MeshAxisAttr::get(&context, name, size));
    return MeshAttr::get(&context, attrs, deviceIds);
  }

  mlir::MLIRContext context;
};

TEST_F(DeviceGroupsTest, GroupsAlongEachAxisOfA2x4Mesh) {
  MeshAttr m = mesh({{"x", 2}, {"y", 4}});
  EXPECT_EQ(deviceGroups(m, {"y"}), (Groups{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(deviceGroups(m, {"x"}), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(deviceGroups(m, {"x", "y"}), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}}));
  // Minor-major order changes the ranks, not the members.
  EXPECT_EQ(deviceGroups(m, {"y", "x"}), (Groups{{0, 4, 1, 5, 2, 6, 3, 7}}));
  EXPECT_EQ(deviceGroups(m, {}),
            (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
}

TEST_F(DeviceGroupsTest, DeviceIdsReorderDevices) {
  MeshAttr m = mesh({{"r", 4}}, {3, 2, 1, 0});
  EXPECT_EQ(deviceGroups(m, {"r"}), (Groups{{3, 2, 1, 0}}));
  EXPECT_EQ(partIndices(m, {"r"}), (std::vector<int64_t>{3, 2, 1, 0}));
}

TEST_F(DeviceGroupsTest, PartIndicesFollowAxesMajorFirst) {
  MeshAttr m = mesh({{"x", 2}, {"y", 2}});
  // Devices (0,0) (0,1) (1,0) (1,1).
  EXPECT_EQ(partIndices(m, {"x"}), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(partIndices(m, {"y"}), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(partIndices(m, {"y", "x"}), (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_EQ(partIndices(m, {}), (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST_F(DeviceGroupsTest, PartIndicesOfSubAxes) {
  MeshAttr m = mesh({{"x", 4}});
  auto sub = [&](int64_t pre, int64_t size) {
    return AxisRefAttr::get(&context, "x", pre, size);
  };
  // "x":(1)2 is the major half of x, "x":(2)2 the minor.
  EXPECT_EQ(partIndicesOf(m, llvm::ArrayRef<AxisRefAttr>{sub(1, 2)}),
            (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(partIndicesOf(m, llvm::ArrayRef<AxisRefAttr>{sub(2, 2)}),
            (std::vector<int64_t>{0, 1, 0, 1}));
  // Both, major first, number the devices as the whole axis does; minor
  // first, they interleave.
  EXPECT_EQ(partIndicesOf(m, llvm::ArrayRef<AxisRefAttr>{sub(1, 2), sub(2, 2)}),
            (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(partIndicesOf(m, llvm::ArrayRef<AxisRefAttr>{sub(2, 2), sub(1, 2)}),
            (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_EQ(partIndicesOf(m, llvm::ArrayRef<AxisRefAttr>{AxisRefAttr::get(
                                 &context, "x", 0, 0)}),
            (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST_F(DeviceGroupsTest, GroupsOverSubAxes) {
  // x=4, y=2: device (x, y) = 2x + y. The minor half of x pairs x = 0 with
  // 1 and 2 with 3; the major half pairs 0 with 2 and 1 with 3.
  MeshAttr m = mesh({{"x", 4}, {"y", 2}});
  EXPECT_EQ(deviceGroups(m, {"x:(2)2"}),
            (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(deviceGroups(m, {"x:(1)2"}),
            (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(deviceGroups(m, {"x:(1)2", "y"}),
            (Groups{{0, 1, 4, 5}, {2, 3, 6, 7}}));
  // Both halves, major first, are the whole axis.
  EXPECT_EQ(deviceGroups(m, {"x:(1)2", "x:(2)2"}), deviceGroups(m, {"x"}));
  EXPECT_EQ(partIndices(m, {"x:(2)2"}),
            (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1}));
  // Names round-trip.
  AxisRefAttr minor = AxisRefAttr::get(&context, "x", 2, 2);
  EXPECT_EQ(axisName(minor), "x:(2)2");
  EXPECT_EQ(parseAxisName(&context, "x:(2)2"), minor);
  EXPECT_EQ(parseAxisName(&context, "y"),
            AxisRefAttr::get(&context, "y", 0, 0));
  EXPECT_FALSE(parseAxisName(&context, "x:(2"));
  EXPECT_FALSE(parseAxisName(&context, ":(1)2"));
}

TEST_F(DeviceGroupsTest, PermuteSourcesSwapAxesOfEqualSize) {
  MeshAttr m = mesh({{"x", 2}, {"y", 2}});
  // [{"x"}] -> [{"y"}]: device (i, j) needs part j, held by (j, *); the
  // one sharing a coordinate with it is (j, j).
  std::vector<int64_t> sources = permuteSources(m, {{"x"}}, {{"y"}});
  EXPECT_EQ(sources, (std::vector<int64_t>{0, 3, 0, 3}));
  // Every device finds its own part where the layouts agree.
  EXPECT_EQ(permuteSources(m, {{"x"}}, {{"x"}}),
            (std::vector<int64_t>{0, 1, 2, 3}));
  // Reordering axes within a dimension.
  EXPECT_EQ(permuteSources(m, {{"x", "y"}}, {{"y", "x"}}),
            (std::vector<int64_t>{0, 2, 1, 3}));
  // Different part counts have no permutation.
  EXPECT_TRUE(permuteSources(m, {{"x"}}, {{"x", "y"}}).empty());
}

} // namespace
} // namespace tessel::spmd
