//===- ShardingRuleInterface.td - How an op admits shardings -*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SHARDINGRULEINTERFACE_TD
#define TESSEL_DIALECTS_SPMD_SHARDINGRULEINTERFACE_TD

include "mlir/IR/OpBase.td"

def ShardingRuleOpInterface : OpInterface<"ShardingRuleOpInterface"> {
  let cppNamespace = "::tessel::spmd";
  let description = [{
    An op that says, as factors, how its operands' and results' dimensions
    relate (`#spmd.rule`). Propagation, auto-sharding and the partitioner
    read only these rules, never an op's kind. The graph dialect's ops get
    their rules from GraphShardingRules.cpp; an `spmd.sharding_rule`
    attribute on an op replaces its rule.
  }];
  let methods = [
    InterfaceMethod<"The op's sharding rule.",
      "::tessel::spmd::OpShardingRuleAttr", "getShardingRule", (ins)>
  ];
}

#endif // TESSEL_DIALECTS_SPMD_SHARDINGRULEINTERFACE_TD
