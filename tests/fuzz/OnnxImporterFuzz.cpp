//===- OnnxImporterFuzz.cpp - Bytes -> ModelProto -> graph dialect --------===//
//
// Any bytes that parse as an ONNX ModelProto are imported, every dynamic
// input dimension given as 2 (as --input-shape would). Property: an import
// that succeeds yields a module that verifies.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <memory>

#include "compiler/import/onnx/OnnxImporter.h"
#include "mlir/IR/Verifier.h"
#include "onnx/onnx_pb.h"
#include "tests/fuzz/FuzzCommon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto model = std::make_shared<onnx::ModelProto>();
  if (!model->ParseFromArray(data, static_cast<int>(size)))
    return 0;
  tessel::OnnxImportOptions options;
  for (const onnx::ValueInfoProto &input : model->graph().input()) {
    if (!input.type().has_tensor_type() ||
        !input.type().tensor_type().has_shape())
      continue;
    std::vector<int64_t> dims;
    for (const onnx::TensorShapeProto::Dimension &dim :
         input.type().tensor_type().shape().dim())
      dims.push_back(
          dim.has_dim_value() && dim.dim_value() > 0 ? dim.dim_value() : 2);
    options.inputShapes[input.name()] = dims;
  }
  std::unique_ptr<mlir::MLIRContext> context = tessel::fuzz::makeContext();
  mlir::FailureOr<tessel::ImportedModel> imported = tessel::importOnnxModel(
      model, "/nonexistent", "fuzz.onnx", *context, options);
  if (mlir::failed(imported))
    return 0;
  if (mlir::failed(mlir::verify(*imported->module)))
    tessel::fuzz::fuzzTrap("an imported module does not verify");
  return 0;
}
