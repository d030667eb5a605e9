//===- PlanFuzz.cpp - Plan text -> applied to a model -> propagated -------===//
//
// Any bytes are read as a plan (protobuf text), applied to a small MLP whose
// tensors have the names plans use (arguments by graph.name, activations by
// location), and shardings are propagated. Property: a plan that applies
// leaves a module that verifies, and so does propagation when it succeeds.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <string>

#include "compiler/driver/Compiler.h"
#include "compiler/plan/Plan.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "tests/fuzz/FuzzCommon.h"

namespace {

constexpr const char *kModel = R"mlir(
func.func @main(%x: tensor<4x64xf32> {graph.name = "x"},
                %w1: tensor<128x64xf32> {graph.name = "fc1.weight", graph.parameter},
                %b1: tensor<128xf32> {graph.name = "fc1.bias", graph.parameter},
                %w2: tensor<10x128xf32> {graph.name = "fc2.weight", graph.parameter})
    -> (tensor<4x10xf32> {graph.name = "output"}) {
  %0 = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x64xf32>, tensor<128x64xf32>) -> tensor<4x128xf32> loc("h0")
  %1 = graph.broadcast_in_dim %b1, dims = [1] : (tensor<128xf32>) -> tensor<4x128xf32> loc("bias")
  %2 = graph.add %0, %1 : tensor<4x128xf32> loc("h1")
  %3 = graph.relu %2 : tensor<4x128xf32> loc("h2")
  %4 = graph.reduce sum %3, dims = [1] : (tensor<4x128xf32>) -> tensor<4xf32> loc("total")
  %5 = graph.dot_general %3, %w2, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x128xf32>, tensor<10x128xf32>) -> tensor<4x10xf32> loc("logits")
  %6 = graph.broadcast_in_dim %4, dims = [0] : (tensor<4xf32>) -> tensor<4x10xf32> loc("spread")
  %7 = graph.div %5, %6 : tensor<4x10xf32> loc("scaled")
  return %7 : tensor<4x10xf32>
}
)mlir";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  absl::StatusOr<tessel::proto::Plan> plan =
      tessel::parsePlan(std::string(reinterpret_cast<const char *>(data), size),
                        "fuzz.textproto");
  if (!plan.ok())
    return 0;
  std::unique_ptr<mlir::MLIRContext> context = tessel::fuzz::makeContext();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kModel, context.get());
  if (!module)
    tessel::fuzz::fuzzTrap("the fuzz target's own model does not parse");
  if (mlir::failed(
          tessel::applyPlan(*module, *plan, tessel::proto::PlanMesh())))
    return 0;
  if (mlir::failed(mlir::verify(*module)))
    tessel::fuzz::fuzzTrap("a module with a plan applied does not verify");
  if (mlir::failed(tessel::propagateShardings(*module)))
    return 0;
  if (mlir::failed(mlir::verify(*module)))
    tessel::fuzz::fuzzTrap("a module after propagation does not verify");
  return 0;
}
