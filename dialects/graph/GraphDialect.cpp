//===- GraphDialect.cpp - The graph dialect -------------------------------===//

#include "dialects/graph/GraphDialect.h"

#include "dialects/graph/GraphOps.h"

#include "dialects/graph/GraphDialect.cpp.inc"

namespace tessel::graph {

void GraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/graph/GraphOps.cpp.inc"
      >();
}

} // namespace tessel::graph
