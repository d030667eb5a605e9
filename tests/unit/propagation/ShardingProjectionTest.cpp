//===- ShardingProjectionTest.cpp - Dimensions to factors and back --------===//

#include "passes/propagation/ShardingProjection.h"

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

namespace tessel::propagation {
namespace {

using spmd::AxisRefAttr;

class ShardingProjectionTest : public ::testing::Test {
protected:
  ShardingProjectionTest() {
    context.loadDialect<spmd::SpmdDialect>();
    mesh = spmd::MeshAttr::get(&context,
                               {spmd::MeshAxisAttr::get(&context, "x", 2),
                                spmd::MeshAxisAttr::get(&context, "y", 4),
                                spmd::MeshAxisAttr::get(&context, "z", 2)},
                               {});
  }
  AxisRefAttr axis(const char *name, int64_t pre = 0, int64_t size = 0) {
    return AxisRefAttr::get(&context, name, pre, size);
  }

  mlir::MLIRContext context;
  spmd::MeshAttr mesh;
};

TEST_F(ShardingProjectionTest, WholeAxesFillFactorsInOrder) {
  // 128 = [8, 16], sharded by {x, y, z}: x and y fill 8, z goes to 16.
  bool complete = false;
  llvm::SmallVector<AxisList> factors = projectToFactors(
      {axis("x"), axis("y"), axis("z")}, {8, 16}, mesh, &complete);
  EXPECT_TRUE(complete);
  ASSERT_EQ(factors.size(), 2u);
  EXPECT_EQ(factors[0], (AxisList{axis("x"), axis("y")}));
  EXPECT_EQ(factors[1], (AxisList{axis("z")}));
}

TEST_F(ShardingProjectionTest, AnAxisSplitsIntoSubAxesAcrossFactors) {
  // 128 = [2, 64], sharded by {y}: y:(1)2 on the first factor, y:(2)2 on
  // the second.
  llvm::SmallVector<AxisList> factors =
      projectToFactors({axis("y")}, {2, 64}, mesh);
  EXPECT_EQ(factors[0], (AxisList{axis("y", 1, 2)}));
  EXPECT_EQ(factors[1], (AxisList{axis("y", 2, 2)}));
  // And back, the halves merge into the whole axis.
  EXPECT_EQ(projectToDimension(factors, {2, 64}, mesh), (AxisList{axis("y")}));
}

TEST_F(ShardingProjectionTest, ASoleFactorTakesAxesThatDoNotDivideIt) {
  // A dimension of 3 that is one factor is split by "x" (2) into padded
  // parts of 2; size-1 factors beside it change nothing.
  bool complete = false;
  llvm::SmallVector<AxisList> factors =
      projectToFactors({axis("x")}, {1, 3, 1}, mesh, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(factors[1], (AxisList{axis("x")}));
  EXPECT_EQ(projectToDimension(factors, {1, 3, 1}, mesh),
            (AxisList{axis("x")}));
}

TEST_F(ShardingProjectionTest, AxesThatDoNotDivideAFactorOfSeveralAreLeftOut) {
  // 6 = [2, 3] by {y}: y:(1)2 fits the 2, the rest does not fit the 3.
  bool complete = true;
  llvm::SmallVector<AxisList> factors =
      projectToFactors({axis("y")}, {2, 3}, mesh, &complete);
  EXPECT_FALSE(complete);
  EXPECT_EQ(factors[0], (AxisList{axis("y", 1, 2)}));
  EXPECT_TRUE(factors[1].empty());
  // 9 = [3, 3] by {x}: nothing fits.
  factors = projectToFactors({axis("x")}, {3, 3}, mesh, &complete);
  EXPECT_FALSE(complete);
  EXPECT_TRUE(factors[0].empty() && factors[1].empty());
  // Nor does a factor split unevenly project back onto such a dimension:
  // [3, 4] with x on the 3 would split 12 into halves, not the 3 padded.
  EXPECT_TRUE(projectToDimension({{axis("x")}, {}}, {3, 4}, mesh).empty());
}

TEST_F(ShardingProjectionTest, MinorFactorsFollowOnlyAFullMajorFactor) {
  // [8, 16] with x (2) on the 8 and z on the 16: x does not fill 8, so z
  // cannot follow it on the merged dimension.
  EXPECT_EQ(projectToDimension({{axis("x")}, {axis("z")}}, {8, 16}, mesh),
            (AxisList{axis("x")}));
  // With x, y (8) filling it, z follows.
  EXPECT_EQ(
      projectToDimension({{axis("x"), axis("y")}, {axis("z")}}, {8, 16}, mesh),
      (AxisList{axis("x"), axis("y"), axis("z")}));
}

TEST_F(ShardingProjectionTest, SubAxesOfSubAxesAndSizes) {
  // y:(2)2 projected onto [2]: stays y:(2)2.
  EXPECT_EQ(projectToFactors({axis("y", 2, 2)}, {2}, mesh)[0],
            (AxisList{axis("y", 2, 2)}));
  EXPECT_EQ(totalSize({axis("x"), axis("y", 1, 2)}, mesh), 4);
  EXPECT_TRUE(isPrefix({axis("x")}, {axis("x"), axis("y")}));
  EXPECT_FALSE(isPrefix({axis("y")}, {axis("x"), axis("y")}));
  EXPECT_TRUE(axis("y", 1, 2).overlaps(axis("y")));
  EXPECT_FALSE(axis("y", 1, 2).overlaps(axis("y", 2, 2)));
}

} // namespace
} // namespace tessel::propagation
