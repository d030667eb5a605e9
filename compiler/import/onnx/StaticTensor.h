//===- StaticTensor.h - Tensors known at import time ------------*- C++ -*-===//
//
// ONNX models compute shapes at run time (Shape -> Gather -> Concat ->
// Reshape). Once the user pins the dynamic dimensions, all of that is known
// at import time: the importer evaluates such nodes on StaticTensors and only
// the real computation becomes graph ops. Values are kept widened (int64 or
// double) with their ONNX element type; float results are rounded to the
// precision of that type after every operation, as a run would.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_STATICTENSOR_H
#define TESSEL_COMPILER_IMPORT_ONNX_STATICTENSOR_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <optional>

#include "onnx/onnx_pb.h"
#include "runtime/proto/types.pb.h"

namespace tessel::onnx_import {

struct StaticTensor {
  /// onnx::TensorProto::DataType.
  int32_t dataType = onnx::TensorProto::INT64;
  std::vector<int64_t> shape;
  /// Elements in row-major order: `ints` for integer and bool types,
  /// `floats` for floating-point types.
  std::vector<int64_t> ints;
  std::vector<double> floats;

  bool isFloat() const;
  int64_t numElements() const;
  double getDouble(int64_t i) const;
  int64_t getInt(int64_t i) const;

  static StaticTensor ofInts(int32_t dataType, std::vector<int64_t> shape,
                             std::vector<int64_t> values);
  static StaticTensor ofFloats(int32_t dataType, std::vector<int64_t> shape,
                               std::vector<double> values);
  /// A 1-D int64 tensor, as shape computations produce.
  static StaticTensor vector(std::vector<int64_t> values);
};

/// Whether `dataType` is a floating-point ONNX type.
bool isFloatType(int32_t dataType);

/// `value` rounded to what `dataType` can hold (float32, float16, bfloat16
/// rounding; integer wrap-around; bool as 0/1).
double roundFloat(int32_t dataType, double value);
int64_t wrapInt(int32_t dataType, int64_t value);

/// The runtime element type of an ONNX element type, if Tessel has it.
std::optional<proto::ElementType> runtimeElementType(int32_t dataType);

/// The name of an ONNX element type, for diagnostics ("FLOAT", "INT64", ...).
std::string dataTypeName(int32_t dataType);
/// The ONNX element types Tessel supports, for messages: "(float, ...)".
const char *supportedDataTypes();

/// Decodes a TensorProto (raw or typed fields; external data is read from
/// `baseDirectory`). Element types other than the float, integer and bool
/// types Tessel supports are an error.
absl::StatusOr<StaticTensor> decodeTensor(const onnx::TensorProto &tensor,
                                          const std::string &baseDirectory);

/// Diagonals `low <= column - row <= high` of a matrix (the last two
/// dimensions of a tensor whose other dimensions are 1).
struct DiagonalBand {
  int64_t low = 0, high = 0;
};

/// The band of a tensor that is 1 exactly on a band of diagonals and 0 off
/// it (torch.tril / torch.triu of ones, a sliding window: the causal masks
/// models keep as buffers), holding both values; std::nullopt for any other
/// tensor. Reads elements in place, stopping at the first that is neither
/// 0 nor 1, so a weight costs a few reads (of data in an external file
/// under `baseDirectory`, a prefix).
std::optional<DiagonalBand> diagonalBandOf(const onnx::TensorProto &tensor,
                                           const std::string &baseDirectory);
std::optional<DiagonalBand> diagonalBandOf(const StaticTensor &tensor);

/// The little-endian bytes of `tensor` in its element type (bool: 1 byte).
std::string encodeBytes(const StaticTensor &tensor);

} // namespace tessel::onnx_import

#endif // TESSEL_COMPILER_IMPORT_ONNX_STATICTENSOR_H
