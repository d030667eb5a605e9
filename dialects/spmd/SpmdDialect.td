//===- SpmdDialect.td - The spmd sharding dialect ----------*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SPMDDIALECT_TD
#define TESSEL_DIALECTS_SPMD_SPMDDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Spmd_Dialect : Dialect {
  let name = "spmd";
  let cppNamespace = "::tessel::spmd";
  let summary = "How tensors are split across a mesh of devices";
  let description = [{
    Meshes of named axes, tensor shardings over them (which axes split
    which dimensions, which are replicated, which hold partial sums), the
    factor rules by which each op relates its operands' and results'
    dimensions, and the ops that change shardings: constraints, reshards,
    and the collectives that implement them.

    Shardings attach to function arguments and results as `spmd.sharding`
    and to op results as `spmd.shardings` (one per result).
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerAttributes();

    /// Function argument/result attribute: the value's sharding.
    static constexpr ::llvm::StringLiteral kShardingAttr = "spmd.sharding";
    /// Function argument/result attribute, set by --spmd-global-to-local:
    /// the value's global shape (its type is then one device's part).
    static constexpr ::llvm::StringLiteral kGlobalShapeAttr = "spmd.global_shape";
    /// Op attribute (unit) on an op that communicates, set by
    /// --spmd-overlap-collectives: the collective starts where the op
    /// stands and finishes at the spmd.collective_done that alone reads
    /// its result.
    static constexpr ::llvm::StringLiteral kAsyncAttr = "spmd.async";
    /// Op attribute: one sharding per result.
    static constexpr ::llvm::StringLiteral kShardingsAttr = "spmd.shardings";
    /// Op attribute: a sharding rule that replaces the op's own.
    static constexpr ::llvm::StringLiteral kShardingRuleAttr = "spmd.sharding_rule";
    /// Op attribute (one array per result) and function argument attribute
    /// (one array): per dimension, where its sharding came from (the plan,
    /// --auto, propagation from a named tensor through a named op); an
    /// empty string where nothing sharded it. Written when origins are
    /// asked for (--spmd-propagate=origins=true), read by
    /// --spmd-insert-explicit-reshards to explain the collectives it makes.
    static constexpr ::llvm::StringLiteral kOriginsAttr = "spmd.origins";
    /// Key of the dictionary a fused location carries as metadata: why the
    /// collectives made at that location exist (see withCollectiveOrigin).
    static constexpr ::llvm::StringLiteral kCollectiveOriginKey = "spmd.collective_origin";
    /// The same for a plan entry that would remove them: a tensor's name
    /// and the spec to give it (see withCollectiveOrigin).
    static constexpr ::llvm::StringLiteral kCollectiveRemedyKey = "spmd.collective_remedy";
  }];
}

class Spmd_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Spmd_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

class Spmd_Op<string mnemonic, list<Trait> traits = []>
    : Op<Spmd_Dialect, mnemonic, traits>;

#endif // TESSEL_DIALECTS_SPMD_SPMDDIALECT_TD
