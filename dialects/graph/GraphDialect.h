//===- GraphDialect.h - The graph dialect -----------------------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_H
#define TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_H

#include <optional>

#include "mlir/IR/Dialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "dialects/graph/GraphDialect.h.inc"

#endif // TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_H
