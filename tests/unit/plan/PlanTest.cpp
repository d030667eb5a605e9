//===- PlanTest.cpp - Plan parsing, applying and extracting ---------------===//

#include "compiler/plan/Plan.h"

#include "dialects/RegisterDialects.h"
#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

TEST(ParseSpec, Forms) {
  absl::StatusOr<std::vector<SpecDimension>> spec =
      parseSpec(R"([ "x" , null, ["y", "z"], "?", []])");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->size(), 5u);
  EXPECT_EQ((*spec)[0].axes, std::vector<std::string>{"x"});
  EXPECT_FALSE((*spec)[0].open);
  EXPECT_TRUE((*spec)[1].axes.empty());
  EXPECT_EQ((*spec)[2].axes, (std::vector<std::string>{"y", "z"}));
  EXPECT_TRUE((*spec)[3].open);
  EXPECT_TRUE((*spec)[3].axes.empty());
  EXPECT_TRUE((*spec)[4].axes.empty());

  absl::StatusOr<std::vector<SpecDimension>> scalar = parseSpec("[]");
  ASSERT_TRUE(scalar.ok());
  EXPECT_TRUE(scalar->empty());
}

TEST(ParseSpec, ErrorsSayWhere) {
  for (const char *bad : {"", "x", "[x]", "[\"x\"", "[\"x\",]", "[\"\"]",
                          "[[\"x\"]", "[null] extra", "[nul]"}) {
    absl::StatusOr<std::vector<SpecDimension>> spec = parseSpec(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_NE(std::string(spec.status().message()).find("at character"),
              std::string::npos)
        << spec.status();
  }
}

TEST(ParseMeshFlag, Axes) {
  absl::StatusOr<proto::PlanMesh> mesh = parseMeshFlag("x=2,y=4");
  ASSERT_TRUE(mesh.ok());
  ASSERT_EQ(mesh->axes_size(), 2);
  EXPECT_EQ(mesh->axes(0).name(), "x");
  EXPECT_EQ(mesh->axes(0).size(), 2);
  EXPECT_EQ(mesh->axes(1).name(), "y");
  EXPECT_EQ(mesh->axes(1).size(), 4);
  for (const char *bad : {"", "x", "x=", "=2", "x=0", "x=-1", "x=two", ","})
    EXPECT_FALSE(parseMeshFlag(bad).ok()) << bad;
}

/// applyPlan then extractPlan on a small program, with diagnostics caught.
class PlanRoundTrip : public ::testing::Test {
protected:
  PlanRoundTrip() {
    mlir::DialectRegistry registry;
    registerTesselDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  mlir::OwningOpRef<mlir::ModuleOp> parse(const char *text) {
    return mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  }

  mlir::MLIRContext context;
};

constexpr char kProgram[] = R"mlir(
func.func @f(%a: tensor<8x6xf32> {graph.name = "a"}) -> (tensor<8x6xf32> {graph.name = "out"}) {
  %0 = graph.exp %a : tensor<8x6xf32> loc("h")
  %1 = graph.neg %0 : tensor<8x6xf32> loc("out")
  return %1 : tensor<8x6xf32>
}
)mlir";

TEST_F(PlanRoundTrip, SubAxesAndResults) {
  mlir::OwningOpRef<mlir::ModuleOp> module = parse(kProgram);
  ASSERT_TRUE(module);
  proto::Plan plan;
  proto::PlanMesh::Axis *axis = plan.mutable_mesh()->add_axes();
  axis->set_name("x");
  axis->set_size(4);
  proto::TensorPlan *tensor = plan.add_tensors();
  tensor->set_name("h");
  tensor->set_spec(R"(["x:(1)2", null])");
  ASSERT_TRUE(mlir::succeeded(applyPlan(*module, plan, proto::PlanMesh())));

  proto::Plan out = extractPlan(*module);
  // Only annotated tensors have shardings before propagation.
  ASSERT_EQ(out.tensors_size(), 1);
  EXPECT_EQ(out.tensors(0).name(), "h");
  EXPECT_EQ(out.tensors(0).spec(), R"(["x:(1)2", null])");
  EXPECT_EQ(out.mesh().axes(0).size(), 4);

  // The function result named "out" got the returned value's sharding.
  auto function = *module->getOps<mlir::func::FuncOp>().begin();
  EXPECT_TRUE(function.getResultAttr(0, spmd::SpmdDialect::kShardingAttr) ==
              nullptr);
  tensor->set_name("out");
  mlir::OwningOpRef<mlir::ModuleOp> again = parse(kProgram);
  ASSERT_TRUE(mlir::succeeded(applyPlan(*again, plan, proto::PlanMesh())));
  function = *again->getOps<mlir::func::FuncOp>().begin();
  EXPECT_TRUE(function.getResultAttr(0, spmd::SpmdDialect::kShardingAttr) !=
              nullptr);
}

TEST_F(PlanRoundTrip, AmbiguousNamesAreErrors) {
  mlir::OwningOpRef<mlir::ModuleOp> module = parse(R"mlir(
func.func @f(%a: tensor<4xf32> {graph.name = "a"}) -> tensor<4xf32> {
  %0 = graph.exp %a : tensor<4xf32> loc("t")
  %1 = graph.neg %0 : tensor<4xf32> loc("t")
  return %1 : tensor<4xf32>
}
)mlir");
  ASSERT_TRUE(module);
  proto::Plan plan;
  proto::TensorPlan *tensor = plan.add_tensors();
  tensor->set_name("t");
  tensor->set_spec("[\"x\"]");
  absl::StatusOr<proto::PlanMesh> mesh = parseMeshFlag("x=2");
  ASSERT_TRUE(mesh.ok());
  std::string message;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    message = d.str();
    return mlir::success();
  });
  EXPECT_TRUE(mlir::failed(applyPlan(*module, plan, *mesh)));
  EXPECT_EQ(message,
            "plan entry for tensor 't': several tensors of the model have "
            "that name");
}

} // namespace
} // namespace tessel
