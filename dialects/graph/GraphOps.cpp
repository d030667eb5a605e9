//===- GraphOps.cpp - Ops of the graph dialect ----------------------------===//

#include "dialects/graph/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#define GET_OP_CLASSES
#include "dialects/graph/GraphOps.cpp.inc"
