//===- PopulateRules.cpp - Attach every op's sharding rule ----------------===//

#include "dialects/spmd/ShardingRules.h"
#include "passes/propagation/Passes.h"

namespace tessel::propagation {

#define GEN_PASS_DEF_POPULATERULESPASS
#include "passes/propagation/Passes.h.inc"

namespace {
struct PopulateRulesPass : impl::PopulateRulesPassBase<PopulateRulesPass> {
  void runOnOperation() override {
    getOperation().walk([](mlir::Operation *op) {
      if (op->hasAttr(spmd::SpmdDialect::kShardingRuleAttr))
        return;
      if (spmd::OpShardingRuleAttr rule = spmd::getShardingRule(op))
        op->setAttr(spmd::SpmdDialect::kShardingRuleAttr, rule);
    });
  }
};
} // namespace
} // namespace tessel::propagation
