//===- SpmdAttrs.td - Meshes, shardings and sharding rules -*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SPMDATTRS_TD
#define TESSEL_DIALECTS_SPMD_SPMDATTRS_TD

include "dialects/spmd/SpmdDialect.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

def Spmd_MeshAxisAttr : Spmd_Attr<"MeshAxis", "mesh_axis"> {
  let summary = "A named axis of a mesh";
  let parameters = (ins StringRefParameter<"name">:$name, "int64_t":$size);
  let assemblyFormat = "`<` $name `=` $size `>`";
}

def Spmd_MeshAttr : Spmd_Attr<"Mesh", "mesh"> {
  let summary = "A mesh: named axes, and optionally the device order";
  let description = [{
    `<["x"=2, "y"=4]>`: 8 devices; device `(i, j)` is `i * 4 + j`, or
    `device_ids[i * 4 + j]` when `device_ids` is given (a permutation of
    0..n-1).
  }];
  let parameters = (ins
    ArrayRefParameter<"MeshAxisAttr">:$axes,
    OptionalArrayRefParameter<"int64_t">:$device_ids
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The size of axis `name`, or nullopt if there is none.
    std::optional<int64_t> axisSize(::llvm::StringRef name) const;
    int64_t numDevices() const;
  }];
}

def Spmd_AxisRefAttr : Spmd_Attr<"AxisRef", "axis_ref"> {
  let summary = "A mesh axis, or a sub-axis of it";
  let description = [{
    `"x"` is the whole axis; `"x":(2)4` is the sub-axis of size 4 that
    follows a part of size 2 (`pre_size`), so that a reshape can split a
    sharded dimension between two dimensions.
  }];
  let parameters = (ins
    StringRefParameter<"name">:$name,
    DefaultValuedParameter<"int64_t", "0">:$pre_size,
    DefaultValuedParameter<"int64_t", "0">:$sub_size
  );
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    bool isSubAxis() const { return getSubSize() != 0; }
    /// The devices this axis splits a dimension into.
    int64_t size(MeshAttr mesh) const;
    /// Whether the two refer to overlapping parts of one axis.
    bool overlaps(AxisRefAttr other) const;
  }];
}

def Spmd_DimensionShardingAttr : Spmd_Attr<"DimensionSharding", "dim"> {
  let summary = "How one dimension is split: axes major to minor";
  let description = [{
    `{"x", "y"}`: split by x, then each part by y. A closed dimension
    (`{"x"}`) keeps exactly these axes; an open one (`{"x", ?}`) may be
    split further by propagation. `p<n>` sets the priority of a user
    annotation (0 is highest).
  }];
  let parameters = (ins
    ArrayRefParameter<"AxisRefAttr">:$axes,
    "bool":$is_closed,
    DefaultValuedParameter<"int64_t", "-1">:$priority
  );
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    /// The number of parts the axes split the dimension into.
    int64_t numParts(MeshAttr mesh) const;
  }];
}

def Spmd_PartialAxisAttr : Spmd_Attr<"PartialAxis", "partial"> {
  let summary = "An axis over which a tensor holds unreduced partial values";
  let parameters = (ins "AxisRefAttr":$axis, StringRefParameter<"reduction">:$reduction);
  let assemblyFormat = "`<` $axis `,` $reduction `>`";
}

def Spmd_ShardingAttr : Spmd_Attr<"Sharding", "sharding"> {
  let summary = "How a tensor is laid out over a mesh";
  let description = [{
    ```mlir
    #spmd.sharding<@m, [{"x"}, {"y", ?} ], replicated={"z"}, partial={"w": sum}>
    ```
    One dimension sharding per tensor dimension. Axes named nowhere are
    implicitly replicated; `replicated` makes that explicit (propagation will
    not use them); `partial` axes hold values still to be reduced with the
    given reduction (sum, max, min).
  }];
  let parameters = (ins
    "::mlir::FlatSymbolRefAttr":$mesh,
    ArrayRefParameter<"DimensionShardingAttr">:$dims,
    OptionalArrayRefParameter<"AxisRefAttr">:$replicated,
    OptionalArrayRefParameter<"PartialAxisAttr">:$partial
  );
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    /// Checks the sharding against a tensor of `rank` on `mesh`; errors go
    /// to `emitError`.
    ::mlir::LogicalResult verifyFor(
        int64_t rank, MeshAttr mesh,
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
    /// A fully open, unsharded sharding of `rank` dimensions.
    static ShardingAttr getOpen(::mlir::MLIRContext *context,
                                ::mlir::FlatSymbolRefAttr mesh, int64_t rank);
  }];
}

def Spmd_OpShardingRuleAttr : Spmd_Attr<"OpShardingRule", "rule"> {
  let summary = "How an op's dimensions relate: factors";
  let description = [{
    ```mlir
    #spmd.rule<([i, k], [k, j])->([i, j]) {i=8, j=16, k=32} reduction={k}>
    ```
    Each dimension of each operand and result is a product of factors
    (`[ij]` for a dimension made of two, major first; `[]` for a size-1
    dimension with none). Sharding a factor shards every dimension it
    appears in. Kinds: pass-through (the default: a result dimension
    follows operand dimensions), reduction (summed over: sharding it makes
    results partial), need-replication (cannot be sharded), permutation
    (data moves along it, as in a slice: sharding it needs communication).
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$factor_sizes,
    "::mlir::ArrayAttr":$operand_mappings,
    "::mlir::ArrayAttr":$result_mappings,
    OptionalArrayRefParameter<"int64_t">:$reduction_factors,
    OptionalArrayRefParameter<"int64_t">:$need_replication_factors,
    OptionalArrayRefParameter<"int64_t">:$permutation_factors
  );
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    /// The factors of dimension `dim` of operand (or result) `index`.
    ::llvm::SmallVector<int64_t> factorsOf(bool isResult, int64_t index,
                                           int64_t dim) const;
    int64_t numOperands() const { return getOperandMappings().size(); }
    int64_t numResults() const { return getResultMappings().size(); }
    bool isReduction(int64_t factor) const;
    bool isNeedReplication(int64_t factor) const;
    bool isPermutation(int64_t factor) const;
  }];
}

#endif // TESSEL_DIALECTS_SPMD_SPMDATTRS_TD
