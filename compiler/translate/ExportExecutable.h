//===- ExportExecutable.h - graph IR to a Tessel executable -----*- C++ -*-===//
//
// Translates a module whose function went through the lowering passes
// (--graph-fuse-elementwise, --graph-assign-buffers) into the executable
// protobuf: buffers (arena ranges, inputs, parameters, constants; reshapes
// as views), one instruction per remaining op, and the fused chains as
// programs of steps.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TRANSLATE_EXPORTEXECUTABLE_H
#define TESSEL_COMPILER_TRANSLATE_EXPORTEXECUTABLE_H

#include <string>

#include "mlir/IR/BuiltinOps.h"
#include "runtime/proto/executable.pb.h"

namespace tessel::translate {

/// Exports the module's single function. `parameterFile` is recorded as the
/// parameter file's name, relative to the executable. Errors are diagnostics
/// on the offending op.
mlir::FailureOr<proto::Executable>
exportExecutable(mlir::ModuleOp module, const std::string &parameterFile);

} // namespace tessel::translate

#endif // TESSEL_COMPILER_TRANSLATE_EXPORTEXECUTABLE_H
