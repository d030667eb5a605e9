//===- Passes.td - Sharding propagation passes ------------*- tablegen -*-===//

#ifndef TESSEL_PASSES_PROPAGATION_PASSES_TD
#define TESSEL_PASSES_PROPAGATION_PASSES_TD

include "mlir/Pass/PassBase.td"

def PopulateRulesPass : Pass<"spmd-populate-rules", "::mlir::func::FuncOp"> {
  let summary = "Attach every op's sharding rule as spmd.sharding_rule";
  let description = [{
    Writes each op's rule (from ShardingRuleOpInterface) onto it as an
    `spmd.sharding_rule` attribute, to read or to edit: an op's attribute
    replaces its built-in rule in propagation and partitioning. Ops that
    already carry one keep it.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def PropagatePass : Pass<"spmd-propagate", "::mlir::func::FuncOp"> {
  let summary = "Give every tensor a sharding, from the annotations, by the rules";
  let description = [{
    Starting from user shardings (function arguments and results,
    `spmd.sharding_constraint`, `spmd.shardings` on ops), spreads shardings
    through every op's rule, forwards and backwards, until nothing changes.
    Each op's operand and result shardings are projected onto its factors;
    each factor takes the best proposal (from the highest user priority,
    then the most sharded, then the largest tensor) that does not reuse an
    axis, and the factors are projected back. Closed dimensions never change;
    open ones are only refined (axes appended). Ops run by priority:
    pass-through ops first, then the rest, broadcasts last; user priorities
    p0, p1, ... are honoured in order, unprioritised annotations last.
    Where operands still disagree, both shardings stay, and the partitioner
    inserts a reshard. Results: `spmd.shardings` on every op and
    `spmd.sharding` on the function's arguments and results. An op whose
    operands all shard a reduction factor by the same axes has results
    partial over them (`partial={"y": sum}`, or max/min for such
    reductions); where they are reduced is the partitioner's choice. A function
    with no annotation at all is written out replicated on the module's
    mesh if it has exactly one, and left alone otherwise.

    With `origins=true`, each tensor also records per dimension where its
    sharding came from (`spmd.origins`, as Shardy's debug-sharding-origins
    does): the annotation's own origin where the plan or --auto recorded
    one ("the plan's entry for tensor 'x'"), "the annotation of 'x'" for
    other annotations, and for a propagated dimension the annotation it
    came from and the op that last carried it ("..., through graph.add
    'h'"). --spmd-insert-explicit-reshards cites them in the reasons of
    the collectives it makes.
  }];
  let options = [
    Option<"origins", "origins", "bool", /*default=*/"false",
           "Record where each dimension's sharding came from (spmd.origins)">,
  ];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

#endif // TESSEL_PASSES_PROPAGATION_PASSES_TD
