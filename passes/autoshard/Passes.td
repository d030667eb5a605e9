//===- Passes.td - Cost-driven auto-sharding --------------*- tablegen -*-===//

#ifndef TESSEL_PASSES_AUTOSHARD_PASSES_TD
#define TESSEL_PASSES_AUTOSHARD_PASSES_TD

include "mlir/Pass/PassBase.td"

def AutoShardPass : Pass<"spmd-auto-shard", "::mlir::ModuleOp"> {
  let summary = "Choose shardings by the cost model";
  let description = [{
    For a module with one `spmd.mesh`: every function argument and every op
    with a sharding rule becomes a node of a ShardingProblem (see
    docs/design/autoshard-solver.md). An op's strategies assign each mesh
    axis to one of its factors, or to none (need-replication and
    permutation factors take none; an axis must divide its factor, and a
    factor of a merged dimension must stay expressible); an argument's are
    its layouts. A strategy costs its compute (roofline, its FLOPs and bytes
    divided among the devices that share the work) plus the all-reduce of a
    result its split reduction factors leave partial; an edge from a
    producer to a consumer costs the reshard between the producer's result
    layout and the consumer's operand layout, priced by the chain of
    collectives the partitioner would emit (planReshard). Each node holds
    its result's bytes per device from its definition to its last use,
    within the memory budget. Shardings already on arguments and results
    are hard constraints. The chosen layouts are written as closed
    shardings; propagation and partitioning then run as usual.
  }];
  let options = [
    Option<"profilePath", "profile", "std::string", "\"host\"",
           "Device profile: a built-in one (host, h100_sxm, a100_sxm) or a file (text proto)">,
    Option<"memoryBudget", "memory-budget", "int64_t", "0",
           "Bytes per device (0: the profile's memory)">,
    Option<"seconds", "seconds", "double", "10.0",
           "Time limit of the search">,
  ];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

#endif // TESSEL_PASSES_AUTOSHARD_PASSES_TD
