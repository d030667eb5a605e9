//===- GraphOpsTest.cpp - Building and verifying graph ops ----------------===//

#include <string>

#include "dialects/RegisterDialects.h"
#include "dialects/graph/GraphOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

namespace tessel::graph {
namespace {

class GraphOpsTest : public ::testing::Test {
protected:
  GraphOpsTest() {
    mlir::DialectRegistry registry;
    registerTesselDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// A function `@f(tensor<lhsShape x f32>, tensor<rhsShape x f32>)` whose
  /// body the test fills in.
  mlir::func::FuncOp makeFunction(mlir::ModuleOp module,
                                  mlir::RankedTensorType lhs,
                                  mlir::RankedTensorType rhs) {
    mlir::OpBuilder builder(module.getBodyRegion());
    auto function =
        mlir::func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                   builder.getFunctionType({lhs, rhs}, {}));
    function.addEntryBlock();
    return function;
  }

  mlir::MLIRContext context;
};

TEST_F(GraphOpsTest, BinaryOpInfersResultTypeAndVerifies) {
  mlir::OpBuilder builder(&context);
  auto module = mlir::ModuleOp::create(builder.getUnknownLoc());
  auto type = mlir::RankedTensorType::get({4, 8}, builder.getF32Type());
  mlir::func::FuncOp function = makeFunction(module, type, type);
  builder.setInsertionPointToStart(&function.getBody().front());
  auto add = AddOp::create(builder, builder.getUnknownLoc(),
                           function.getArgument(0), function.getArgument(1));
  mlir::func::ReturnOp::create(builder, builder.getUnknownLoc());

  EXPECT_EQ(add.getResult().getType(), type);
  EXPECT_TRUE(mlir::succeeded(mlir::verify(module)));
  module->erase();
}

TEST_F(GraphOpsTest, MismatchedOperandShapesAreRejected) {
  mlir::OpBuilder builder(&context);
  auto module = mlir::ModuleOp::create(builder.getUnknownLoc());
  auto lhs = mlir::RankedTensorType::get({4, 8}, builder.getF32Type());
  auto rhs = mlir::RankedTensorType::get({8, 4}, builder.getF32Type());
  mlir::func::FuncOp function = makeFunction(module, lhs, rhs);
  builder.setInsertionPointToStart(&function.getBody().front());
  MulOp::create(builder, builder.getUnknownLoc(), lhs, function.getArgument(0),
                function.getArgument(1));
  mlir::func::ReturnOp::create(builder, builder.getUnknownLoc());

  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str();
    return mlir::success();
  });
  EXPECT_TRUE(mlir::failed(mlir::verify(module)));
  EXPECT_NE(diagnostics.find("'graph.mul' op"), std::string::npos)
      << diagnostics;
  EXPECT_NE(diagnostics.find("same shape"), std::string::npos) << diagnostics;
  module->erase();
}

TEST_F(GraphOpsTest, ParsedProgramRoundTrips) {
  constexpr const char *kProgram = R"mlir(
func.func @f(%a: tensor<2x3xf16>) -> tensor<2x3xf16> {
  %0 = graph.exp %a : tensor<2x3xf16>
  %1 = graph.max %0, %a : tensor<2x3xf16>
  return %1 : tensor<2x3xf16>
}
)mlir";
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kProgram, &context);
  ASSERT_TRUE(module);
  std::string printed;
  llvm::raw_string_ostream os(printed);
  module->print(os);
  EXPECT_NE(printed.find("graph.exp %arg0 : tensor<2x3xf16>"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("graph.max %0, %arg0 : tensor<2x3xf16>"),
            std::string::npos)
      << printed;
}

} // namespace
} // namespace tessel::graph
