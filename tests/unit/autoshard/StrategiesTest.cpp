//===- StrategiesTest.cpp - Auto-sharding's candidates and their prices ---===//

#include "passes/autoshard/StrategyCosts.h"
#include "passes/autoshard/Strategies.h"

#include "dialects/RegisterDialects.h"
#include "dialects/spmd/ShardingRules.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

namespace tessel::autoshard {
namespace {

/// A module with `mesh` and a function `f` whose first op is `body`'s.
class StrategiesTest : public ::testing::Test {
protected:
  void parse(const std::string &text) {
    loadTesselDialects(context);
    module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(module);
    mesh = (*module->getOps<spmd::MeshOp>().begin()).getMesh();
    function = *module->getOps<mlir::func::FuncOp>().begin();
  }
  mlir::Operation *firstOp() { return &function.getBody().front().front(); }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  spmd::MeshAttr mesh;
  mlir::func::FuncOp function;
};

constexpr const char *kMatmul = R"(
spmd.mesh @m = <["x"=2, "y"=2]>
func.func @f(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<8x4xf32> {
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x6xf32>, tensor<6x4xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}
)";

std::string axesOf(const Dims &dims) {
  std::string text;
  for (const AxisList &dim : dims) {
    text += "[";
    for (spmd::AxisRefAttr axis : dim)
      text += spmd::axisName(axis);
    text += "]";
  }
  return text;
}

TEST_F(StrategiesTest, EachAxisSplitsOneFactorThatItDivides) {
  parse(kMatmul);
  StrategyEnumerator enumerator(mesh);
  mlir::Operation *dot = firstOp();
  StrategyNode node = enumerator.forOp(dot, spmd::getShardingRule(dot));
  // Factors i=8, j=4, k=6: each of x and y goes to none, i, j or k, and
  // both on k would split 6 in 4 (uneven): 16 - 1.
  EXPECT_EQ(node.size(), 15u);
  ASSERT_EQ(node.factors.size(), node.size());
  ASSERT_EQ(node.operands.size(), node.size());
  // Every strategy's layouts follow from its factors: a split contraction
  // splits both operands' contracted dimension and not the result.
  bool sawContraction = false;
  for (size_t s = 0; s < node.size(); ++s) {
    EXPECT_EQ(node.result[s].size(), 2u);
    // x on the contraction k, y on nothing or on a free factor.
    std::string a = axesOf(node.operands[s][0]);
    if (a != "[][x]" && a != "[y][x]")
      continue;
    std::string b = axesOf(node.operands[s][1]);
    EXPECT_TRUE(b == "[x][]" || b == "[x][y]" || a == "[y][x]") << b;
    if (a == "[][x]" && b == "[x][]") {
      EXPECT_EQ(axesOf(node.result[s]), "[][]");
      sawContraction = true;
    }
  }
  EXPECT_TRUE(sawContraction);
  // Uneven splits are candidates only when asked for.
  EXPECT_EQ(enumerator.forOp(dot, spmd::getShardingRule(dot), false).size(),
            16u);
}

TEST_F(StrategiesTest, ArgumentsSplitDimensionsTheAxesDivide) {
  parse(kMatmul);
  StrategyEnumerator enumerator(mesh);
  // 8x6: x and y each on none, d0 or d1; both on d1 would split 6 in 4.
  EXPECT_EQ(enumerator.forArgument(function.getArgument(0)).size(), 8u);
}

TEST_F(StrategiesTest, ConstrainKeepsTheAnnotatedLayoutOrNothing) {
  parse(kMatmul);
  StrategyEnumerator enumerator(mesh);
  mlir::Operation *dot = firstOp();
  StrategyNode node = enumerator.forOp(dot, spmd::getShardingRule(dot));
  auto rowsOnX = mlir::cast<spmd::ShardingAttr>(mlir::parseAttribute(
      R"(#spmd.sharding<@m, [{"x"}, {}]>)", &context));
  ASSERT_TRUE(enumerator.constrain(node, rowsOnX));
  ASSERT_GT(node.size(), 0u);
  for (const Dims &result : node.result)
    EXPECT_EQ(axesOf(result), "[x][]");
  // A layout no strategy has leaves the node as it was.
  size_t before = node.size();
  auto impossible = mlir::cast<spmd::ShardingAttr>(mlir::parseAttribute(
      R"(#spmd.sharding<@m, [{"y"}, {"x"}]>)", &context));
  EXPECT_FALSE(enumerator.constrain(node, impossible));
  EXPECT_EQ(node.size(), before);
}

TEST_F(StrategiesTest, CostsPriceWorkReshardsAndPartialSums) {
  parse(kMatmul);
  absl::StatusOr<cost::CostModel> model = cost::CostModel::named("host");
  ASSERT_TRUE(model.ok()) << model.status();
  StrategyEnumerator enumerator(mesh);
  StrategyCosts costs(mesh, *model);
  mlir::Operation *dot = firstOp();
  StrategyNode node = enumerator.forOp(dot, spmd::getShardingRule(dot));
  EXPECT_DOUBLE_EQ(flopsOf(dot), 2.0 * 8 * 4 * 6);

  auto find = [&](const std::string &a, const std::string &b) {
    for (size_t s = 0; s < node.size(); ++s)
      if (axesOf(node.operands[s][0]) == a && axesOf(node.operands[s][1]) == b)
        return s;
    ADD_FAILURE() << "no strategy " << a << " " << b;
    return size_t{0};
  };
  size_t replicated = find("[][]", "[][]");
  size_t rows = find("[x][]", "[][]");
  size_t contraction = find("[][x]", "[x][]");
  auto [wholeCompute, wholeReduce] = costs.strategySeconds(node, replicated);
  auto [rowsCompute, rowsReduce] = costs.strategySeconds(node, rows);
  auto [sumCompute, sumReduce] = costs.strategySeconds(node, contraction);
  EXPECT_LT(rowsCompute, wholeCompute); // Half the rows on each device.
  EXPECT_EQ(wholeReduce, 0);
  EXPECT_EQ(rowsReduce, 0);
  EXPECT_GT(sumReduce, 0); // A split contraction all-reduces its result.

  auto type = mlir::cast<mlir::RankedTensorType>(dot->getResult(0).getType());
  EXPECT_EQ(costs.localBytes(type, node.result[replicated]), 8 * 4 * 4);
  EXPECT_EQ(costs.localBytes(type, node.result[rows]), 4 * 4 * 4);
  EXPECT_EQ(costs.reshardSeconds(type, node.result[rows], node.result[rows]),
            0);
  double gather =
      costs.reshardSeconds(type, node.result[rows], node.result[replicated]);
  EXPECT_GT(gather, 0);
  // Cached: the same question, the same answer.
  EXPECT_EQ(
      costs.reshardSeconds(type, node.result[rows], node.result[replicated]),
      gather);
}

} // namespace
} // namespace tessel::autoshard
