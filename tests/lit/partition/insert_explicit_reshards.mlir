// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-insert-explicit-reshards))' | FileCheck %s
// Each reshard's location says why it is there (--explain-collectives).
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-insert-explicit-reshards))' --mlir-print-debuginfo | FileCheck %s --check-prefix=ORIGIN
// ORIGIN-DAG: fused<{spmd.collective_origin = "output 0 is returned as [{x}, {}] (the plan's layout; whole where none is given); it is computed as [{x}, {}] partial sum over y"}>
// ORIGIN-DAG: fused<{spmd.collective_origin = "sharding constraint: laid out as [{}, {x}], computed as [{x}, {}]"}>
// With origins recorded (--spmd-propagate's origins), a reason names, per
// dimension the two layouts differ in, why each is so; the origins are
// dropped once used. The plan entry that would remove the reshard (the
// layout the consumer needs) is recorded beside the reason.
// ORIGIN-DAG: fused<{spmd.collective_origin = "graph.abs 'y' needs operand 0 ('a') as [{}, {x}] (its sharding rule, for the layouts chosen); it is [{x}, {}]\0Adim 0: wanted {} (as the result is: nothing split it); is {x} (the plan's entry for tensor 'a')\0Adim 1: wanted {x} (as the result is: --auto's choice for 'y'); is {} (nothing split it)", spmd.collective_remedy = ["a", "[null, \22x\22]"]}>

// Megatron's MLP after propagation: the column-parallel product and the
// activation agree with their rules; the row-parallel product's result is
// partial over "y", and the one reshard, before the return, reduces it.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @megatron_mlp
func.func @megatron_mlp(%x: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                        %w1: tensor<16x64xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                        %w2: tensor<64x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>})
    -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) {
  // CHECK-NEXT: graph.dot_general %arg0, %arg1
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {"y", ?}]>]} : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32>
  // CHECK-NEXT: graph.tanh
  %g = graph.tanh %h {spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {"y", ?}]>]} : tensor<8x64xf32>
  // CHECK-NEXT: %[[O:.*]] = graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}], partial={"y": sum}>]
  %o = graph.dot_general %g, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}], partial={"y": sum}>]} : (tensor<8x64xf32>, tensor<64x16xf32>) -> tensor<8x16xf32>
  // CHECK-NEXT: %[[R:.*]] = spmd.reshard %[[O]] <@m, [{"x"}, {}]>
  // CHECK-NEXT: return %[[R]]
  return %o : tensor<8x16xf32>
}

// -----

// Operands that disagree: the op follows its result, and the operand that
// differs is resharded. A partial value is reduced before a bias add,
// which is not linear in it.
spmd.mesh @m = <["x"=2, "y"=2]>
// CHECK-LABEL: func.func @disagreement
func.func @disagreement(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                        %b: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>},
                        %w: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>}) -> tensor<8x8xf32> {
  // CHECK-NEXT: %[[B:.*]] = spmd.reshard %arg1 <@m, [{"x"}, {}]>
  // CHECK-NEXT: %[[S:.*]] = graph.add %arg0, %[[B]] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]}
  %s = graph.add %a, %b {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<8x8xf32>
  // The contraction dimension of %s is whole, so the product is not partial.
  // CHECK-NEXT: %[[W:.*]] = spmd.reshard %arg2 <@m, [{}, {}]>
  // CHECK-NEXT: %[[P:.*]] = graph.dot_general %[[S]], %[[W]]{{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]
  %p = graph.dot_general %s, %w, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  // Propagation made this product partial over "y": its contracting
  // dimension is split by "y" on both sides for it.
  // CHECK-NEXT: %[[A:.*]] = spmd.reshard %arg0 <@m, [{"x"}, {"y"}]>
  // CHECK-NEXT: %[[Q:.*]] = graph.dot_general %[[A]], %arg2{{.*}}partial={"y": sum}
  %q = graph.dot_general %a, %w, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}], partial={"y": sum}>]} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  // CHECK-NEXT: %[[QR:.*]] = spmd.reshard %[[Q]] <@m, [{"x"}, {}]>
  // CHECK-NEXT: graph.add %[[P]], %[[QR]]
  %r = graph.add %p, %q {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<8x8xf32>
  // CHECK-NEXT: %[[RR:.*]] = spmd.reshard %{{.*}} <@m, [{}, {}]>
  // CHECK-NEXT: return %[[RR]]
  return %r : tensor<8x8xf32>
}

// -----

// A need-replication dimension: the softmax axis is gathered for the op,
// and its result resharded back to the sharding propagation asked for.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @softmax_axis
func.func @softmax_axis(%a: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>})
    -> (tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}) {
  // CHECK-NEXT: %[[A:.*]] = spmd.reshard %arg0 <@m, [{}, {}]>
  // CHECK-NEXT: %[[S:.*]] = graph.softmax %[[A]], dim = 1 {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]}
  // CHECK-NEXT: %[[R:.*]] = spmd.reshard %[[S]] <@m, [{}, {"x"}]>
  // CHECK-NEXT: return %[[R]]
  %s = graph.softmax %a, dim = 1 {spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]} : tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// A sharding constraint becomes a reshard.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @constraint
func.func @constraint(%a: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>})
    -> (tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}) {
  // CHECK-NEXT: %[[C:.*]] = spmd.reshard %arg0 <@m, [{}, {"x"}]>
  // CHECK-NEXT: return %[[C]]
  %c = spmd.sharding_constraint %a <@m, [{}, {"x"}]> : tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}

// -----

// Nothing sharded: nothing changes.
// CHECK-LABEL: func.func @unsharded
func.func @unsharded(%a: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK-NEXT: graph.exp %arg0 : tensor<4xf32>
  %e = graph.exp %a : tensor<4xf32>
  return %e : tensor<4xf32>
}

// -----

// A mean over a split dimension: each device sums its part and scales by
// one over the global count, so that the sum over devices is the mean.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @split_mean
func.func @split_mean(%a: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}) -> tensor<4xf32> {
  // CHECK-NEXT: %[[S:.*]] = graph.reduce sum %arg0, dims = [1] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]}
  // CHECK-NEXT: %[[C:.*]] = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{}]>]} dense<1.250000e-01> : tensor<4xf32>
  // CHECK-NEXT: %[[M:.*]] = graph.mul %[[S]], %[[C]] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]}
  // CHECK-NEXT: %[[R:.*]] = spmd.reshard %[[M]] <@m, [{}]>
  // CHECK-NEXT: return %[[R]]
  %0 = graph.reduce mean %a, dims = [1] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]} : (tensor<4x8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Linear ops carry a partial sum: the transpose, the product's one reader,
// carries it. The transpose has two readers, so neither carries it: each
// would end in its own reduction (the bias add is not linear in it, each
// device would add the bias), where reducing it once serves both (the two
// reshards are one after CSE).
spmd.mesh @m = <["y"=2]>
// CHECK-LABEL: func.func @deferred_reduction
func.func @deferred_reduction(%a: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                              %w: tensor<8x6xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>},
                              %b: tensor<6x4xf32>) -> (tensor<6x4xf32>, tensor<6x4xf32>) {
  // CHECK-NEXT: %[[P:.*]] = graph.dot_general {{.*}}partial={"y": sum}
  %p = graph.dot_general %a, %w, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{}, {}], partial={"y": sum}>]} : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x6xf32>
  // CHECK-NEXT: %[[T:.*]] = graph.transpose %[[P]], perm = [1, 0] {spmd.shardings = [#spmd.sharding<@m, [{}, {}], partial={"y": sum}>]}
  %t = graph.transpose %p, perm = [1, 0] {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]} : (tensor<4x6xf32>) -> tensor<6x4xf32>
  // CHECK-NEXT: %[[R1:.*]] = spmd.reshard %[[T]] <@m, [{}, {}]>
  // CHECK-NEXT: %[[N:.*]] = graph.neg %[[R1]] {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]}
  %n = graph.neg %t {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]} : tensor<6x4xf32>
  // CHECK-NEXT: %[[R2:.*]] = spmd.reshard %[[T]] <@m, [{}, {}]>
  // CHECK-NEXT: %[[B:.*]] = graph.add %[[R2]], %arg2
  %s = graph.add %t, %b {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]} : tensor<6x4xf32>
  // CHECK-NEXT: return %[[N]], %[[B]]
  return %n, %s : tensor<6x4xf32>, tensor<6x4xf32>
}

// -----

// A window split over devices takes its halo from the neighbours: a 3-wide
// window padded by 1 keeps the split of 8 rows in 4 parts of 2; a 7-wide
// one padded by 3 would need 3 rows from beyond the neighbour, so that
// dimension is computed whole.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @halo_width
func.func @halo_width(%a: tensor<1x1x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}, {"x"}]>})
    -> (tensor<1x1x8xf32>, tensor<1x1x8xf32>) {
  // CHECK-NEXT: graph.max_pool %arg0 {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}, {}, {"x"}]>]
  %narrow = graph.max_pool %a {window_dimensions = array<i64: 3>, window_strides = array<i64: 1>, window_dilations = array<i64: 1>, padding_low = array<i64: 1>, padding_high = array<i64: 1>, spmd.shardings = [#spmd.sharding<@m, [{}, {}, {"x", ?}]>]} : (tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  // CHECK-NEXT: %[[W:.*]] = spmd.reshard %arg0 <@m, [{}, {}, {}]>
  // CHECK-NEXT: graph.max_pool %[[W]] {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}, {}, {}]>]
  %wide = graph.max_pool %a {window_dimensions = array<i64: 7>, window_strides = array<i64: 1>, window_dilations = array<i64: 1>, padding_low = array<i64: 3>, padding_high = array<i64: 3>, spmd.shardings = [#spmd.sharding<@m, [{}, {}, {"x", ?}]>]} : (tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %narrow, %wide : tensor<1x1x8xf32>, tensor<1x1x8xf32>
}

// -----

// Reversing a split dimension moves data between parts: it is computed
// whole, and split again after.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @reverse_split
func.func @reverse_split(%a: tensor<4x2xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> (tensor<4x2xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) {
  // CHECK-NEXT: %[[W:.*]] = spmd.reshard %arg0 <@m, [{}, {}]>
  // CHECK-NEXT: %[[R:.*]] = graph.reverse %[[W]], dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{}, {}]>]}
  // CHECK-NEXT: spmd.reshard %[[R]] <@m, [{"x", ?}, {?}]>
  %r = graph.reverse %a, dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}]>]} : tensor<4x2xf32>
  return %r : tensor<4x2xf32>
}

// -----

// A splat constant laid out otherwise than its user needs is made again in
// the layout needed (a copy of the constant), never moved by a collective;
// a result that updates an argument (named as it) is laid out as the
// argument.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @constant_and_update
func.func @constant_and_update(%p: tensor<8xf32> {graph.name = "p", spmd.sharding = #spmd.sharding<@m, [{}]>})
    -> (tensor<8xf32> {graph.name = "p", spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) {
  // CHECK: %[[C:.*]] = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{}]>]} dense<1.000000e-01>
  // CHECK-NOT: spmd.reshard
  // CHECK: graph.mul %arg0, %[[C]] {spmd.shardings = [#spmd.sharding<@m, [{}]>]}
  %c = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} dense<0.1> : tensor<8xf32>
  %q = graph.mul %p, %c {spmd.shardings = [#spmd.sharding<@m, [{}]>]} : tensor<8xf32>
  // CHECK-NOT: spmd.reshard
  // CHECK: return
  return %q : tensor<8xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @origins
// CHECK-NOT: spmd.origins
// CHECK: return
func.func @origins(%a: tensor<4x4xf32> {graph.name = "a", spmd.origins = ["the plan's entry for tensor 'a'", ""], spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> tensor<4x4xf32> {
  %0 = graph.abs %a {spmd.origins = [["", "--auto's choice for 'y'"]], spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]} : tensor<4x4xf32> loc("y")
  return %0 : tensor<4x4xf32>
}

// -----

// An iota is computed at its local size whichever dimension is split
// (along its own, --spmd-global-to-local adds where the part starts); a
// non-splat constant split anywhere is computed whole and sliced.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @computed_whole
func.func @computed_whole() -> (tensor<8x4xi64>, tensor<8x4xi64>, tensor<8xf32>) {
  // CHECK-NEXT: graph.iota dim = 1 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]}
  %other = graph.iota dim = 1 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<8x4xi64>
  // CHECK-NEXT: graph.iota dim = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]}
  %along = graph.iota dim = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<8x4xi64>
  // CHECK-NEXT: %[[C:.*]] = graph.constant {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}]>]
  // CHECK-NEXT: spmd.reshard %[[C]] <@m, [{"x"}]>
  %c = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>
  return %other, %along, %c : tensor<8x4xi64>, tensor<8x4xi64>, tensor<8xf32>
}
