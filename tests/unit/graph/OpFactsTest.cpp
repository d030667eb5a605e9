//===- OpFactsTest.cpp - Every graph op carries what the passes need ------===//
//
// Adding an op means: its ODS definition (with traits), its sharding rule,
// its importer lowering, and its host kernel. This test walks every op of
// the graph dialect (the ODS op list) and fails when one lacks a sharding
// rule, a cost, or a way to run on the host (a kernel named after it, or a
// fusion step for the ops that run fused), and when an op with a host
// kernel has no CUDA planner unless it is listed as host-only.
//
//===----------------------------------------------------------------------===//

#include <set>
#include <string>

#include "dialects/RegisterDialects.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/kernels/FusionSteps.h"
#include "runtime/kernels/KernelContext.h"
#include "gtest/gtest.h"

namespace tessel::graph {
namespace {

/// Structure, not computation: a fusion's body and its terminator, made by
/// the lowering after sharding; they run as the ops inside them.
const std::set<std::string> kStructural = {"graph.fusion", "graph.yield"};
/// Ops the executable holds as buffers, not instructions: a reshape is a
/// view of its operand's buffer, a non-splat constant a buffer of data
/// (compiler/translate/ExportExecutable.cpp).
const std::set<std::string> kBuffers = {"graph.reshape", "graph.constant"};
/// Ops with a host kernel that the cuda backend does not plan (it rejects
/// them at load, naming the op). An op added without CUDA planning goes
/// here, knowingly.
const std::set<std::string> kHostOnly = {};

TEST(OpFactsTest, EveryGraphOpHasARuleACostAndAHostKernel) {
  mlir::MLIRContext context;
  loadTesselDialects(context);
  int ops = 0;
  for (mlir::RegisteredOperationName name : context.getRegisteredOperations()) {
    if (name.getDialectNamespace() != GraphDialect::getDialectNamespace())
      continue;
    ++ops;
    std::string op = name.getStringRef().str();
    EXPECT_TRUE(name.hasInterface<CostOpInterface>()) << op << " has no cost";
    EXPECT_TRUE(name.hasInterface<KernelOpInterface>())
        << op << " does not say what its kernel reads";
    if (kStructural.count(op))
      continue;
    EXPECT_TRUE(name.hasInterface<spmd::ShardingRuleOpInterface>())
        << op << " has no sharding rule (dialects/spmd/GraphShardingRules.cpp)";
    std::string kernel = name.stripDialect().str();
    if (name.hasTrait<OpTrait::HostKernel>()) {
      EXPECT_NE(kernels::findKernel(kernel), nullptr)
          << op << " is marked HostKernel but runtime/kernels has no kernel '"
          << kernel << "'";
      if (!kHostOnly.count(op)) {
        EXPECT_TRUE(cuda::hasOpPlanner(kernel))
            << op
            << " has no planner in runtime/cuda (registerOpPlanner); "
               "list it in kHostOnly if the cuda backend should not "
               "run it";
      }
    } else {
      // Run fused: a fusion step of that name, or a broadcast (folded into
      // the steps' indexing); or held as a buffer.
      kernels::StepOp step;
      bool fused = kernels::stepOpNamed(kernel, step) ||
                   op == "graph.broadcast_in_dim" || kBuffers.count(op);
      EXPECT_TRUE(fused) << op
                         << " has neither a host kernel (the HostKernel "
                            "trait and a kernel in runtime/kernels) nor a "
                            "fusion step";
    }
  }
  EXPECT_GT(ops, 50);
}

TEST(OpFactsTest, CostsFollowTheOps) {
  mlir::MLIRContext context;
  loadTesselDialects(context);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(R"mlir(
    func.func @f(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
      %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
      %1 = graph.transpose %0, perm = [1, 0] : (tensor<4x16xf32>) -> tensor<16x4xf32>
      %2 = graph.relu %1 : tensor<16x4xf32>
      %3 = graph.iota dim = 0 : tensor<4x16xi64>
      return %0 : tensor<4x16xf32>
    }
  )mlir",
                                                        &context);
  ASSERT_TRUE(module);
  std::vector<double> flops;
  // Computed whole when split along dimension 0, then along dimension 1:
  // none (an iota counts from where its part starts).
  std::vector<bool> alongFirst, alongSecond;
  module->walk([&](CostOpInterface op) {
    flops.push_back(op.getFlops());
    alongFirst.push_back(op.isComputedWhole({true, false}));
    alongSecond.push_back(op.isComputedWhole({false, true}));
  });
  EXPECT_EQ(flops, (std::vector<double>{2.0 * 4 * 16 * 8, 0, 64, 0}));
  EXPECT_EQ(alongFirst, (std::vector<bool>{false, false, false, false}));
  EXPECT_EQ(alongSecond, (std::vector<bool>{false, false, false, false}));
}

} // namespace
} // namespace tessel::graph
