//===- LayoutTest.cpp - Which device holds which block --------------------===//

#include "compiler/report/Layout.h"

#include "dialects/RegisterDialects.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

namespace tessel::report {
namespace {

ModuleLayouts layoutsOf(mlir::MLIRContext &context, const char *source) {
  loadTesselDialects(context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  EXPECT_TRUE(module);
  return module ? moduleLayouts(*module) : ModuleLayouts();
}

// Rows over x, columns over y: the devices of a 2x4 mesh in their blocks.
TEST(Layout, TwoSplitDimensions) {
  mlir::MLIRContext context;
  ModuleLayouts layouts = layoutsOf(context, R"(
    spmd.mesh @m = <["x"=2, "y"=4]>
    func.func @f(%w: tensor<4x8xf32> {graph.name = "w", graph.parameter, spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>}) -> tensor<4x8xf32> {
      return %w : tensor<4x8xf32>
    })");
  ASSERT_EQ(layouts.tensors.size(), 1u);
  const TensorLayout &w = layouts.tensors[0];
  EXPECT_EQ(w.kind, TensorLayout::Kind::Parameter);
  EXPECT_EQ(w.spec(), "[\"x\", \"y\"]");
  EXPECT_EQ(layouts.mesh.devices(), 8);
  LayoutGrid grid = layoutGrid(w);
  EXPECT_EQ(grid.rows, (std::vector<std::string>{"0:2", "2:4"}));
  EXPECT_EQ(grid.columns,
            (std::vector<std::string>{"0:2", "2:4", "4:6", "6:8"}));
  EXPECT_EQ(grid.cells[1][2], (std::vector<int64_t>{6}));
  EXPECT_EQ(grid.cells[0][3], (std::vector<int64_t>{3}));
}

// Two axes on one dimension (x major), replicas of the other, and an
// uneven split whose last block no device holds data in.
TEST(Layout, AxesOnOneDimensionAndUnevenParts) {
  mlir::MLIRContext context;
  ModuleLayouts layouts = layoutsOf(context, R"(
    spmd.mesh @m = <["x"=2, "y"=2]>
    func.func @f(%a: tensor<8xf32> {graph.name = "a", spmd.sharding = #spmd.sharding<@m, [{"y", "x"}]>},
                 %b: tensor<3x2xf32> {graph.name = "b", spmd.sharding = #spmd.sharding<@m, [{"x", "y"}, {}]>}) -> tensor<8xf32> {
      return %a : tensor<8xf32>
    })");
  ASSERT_EQ(layouts.tensors.size(), 2u);
  LayoutGrid a = layoutGrid(layouts.tensors[0]);
  ASSERT_EQ(a.rows.size(), 1u);
  EXPECT_EQ(a.columns, (std::vector<std::string>{"0:2", "2:4", "4:6", "6:8"}));
  // y major: devices (x, y) = (0, 1) = 1 holds part 2.
  EXPECT_EQ(a.cells[0][2], (std::vector<int64_t>{1}));
  EXPECT_EQ(a.cells[0][1], (std::vector<int64_t>{2}));
  // 3 rows over 4 devices: parts of 1, the last empty.
  LayoutGrid b = layoutGrid(layouts.tensors[1]);
  EXPECT_EQ(b.rows, (std::vector<std::string>{"0:1", "1:2", "2:3", "3:3"}));
  EXPECT_EQ(b.cells[3][0], (std::vector<int64_t>{3}));
  std::string drawn = drawLayout(layouts.tensors[1]);
  EXPECT_NE(drawn.find("'b' 3x2 f32, [[\"x\", \"y\"], null]"),
            std::string::npos)
      << drawn;
}

// A replicated tensor: one block every device holds.
TEST(Layout, Replicated) {
  mlir::MLIRContext context;
  ModuleLayouts layouts = layoutsOf(context, R"(
    spmd.mesh @m = <["x"=2]>
    func.func @f(%a: tensor<2x3xf32> {graph.name = "a", spmd.sharding = #spmd.sharding<@m, [{}, {}]>}) -> tensor<2x3xf32> {
      return %a : tensor<2x3xf32>
    })");
  ASSERT_EQ(layouts.tensors.size(), 1u);
  LayoutGrid grid = layoutGrid(layouts.tensors[0]);
  ASSERT_EQ(grid.cells.size(), 1u);
  ASSERT_EQ(grid.cells[0].size(), 1u);
  EXPECT_EQ(grid.cells[0][0], (std::vector<int64_t>{0, 1}));
}

} // namespace
} // namespace tessel::report
