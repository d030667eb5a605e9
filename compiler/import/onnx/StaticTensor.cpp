//===- StaticTensor.cpp - Tensors known at import time --------------------===//

#include "compiler/import/onnx/StaticTensor.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/ArrayRef.h"

namespace tessel::onnx_import {
namespace {

using onnx::TensorProto;

const llvm::fltSemantics *floatSemantics(int32_t dataType) {
  switch (dataType) {
  case TensorProto::FLOAT:
    return &llvm::APFloat::IEEEsingle();
  case TensorProto::FLOAT16:
    return &llvm::APFloat::IEEEhalf();
  case TensorProto::BFLOAT16:
    return &llvm::APFloat::BFloat();
  default:
    return nullptr;
  }
}

double bitsToDouble(const llvm::fltSemantics &semantics, uint64_t bits,
                    unsigned width) {
  llvm::APFloat value(semantics, llvm::APInt(width, bits));
  bool losesInfo = false;
  value.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                &losesInfo);
  return value.convertToDouble();
}

uint64_t doubleToBits(const llvm::fltSemantics &semantics, double v) {
  llvm::APFloat value(v);
  bool losesInfo = false;
  value.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return value.bitcastToAPInt().getZExtValue();
}

/// Bytes per element of the types decodeTensor reads from raw data.
int64_t rawElementSize(int32_t dataType) {
  switch (dataType) {
  case TensorProto::FLOAT:
  case TensorProto::INT32:
  case TensorProto::UINT32:
    return 4;
  case TensorProto::DOUBLE:
  case TensorProto::INT64:
  case TensorProto::UINT64:
    return 8;
  case TensorProto::FLOAT16:
  case TensorProto::BFLOAT16:
  case TensorProto::INT16:
  case TensorProto::UINT16:
    return 2;
  case TensorProto::INT8:
  case TensorProto::UINT8:
  case TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

template <typename T> T load(const char *data) {
  T value;
  std::memcpy(&value, data, sizeof(T));
  return value;
}

/// Decodes one little-endian element into `tensor`.
void appendRaw(StaticTensor &tensor, const char *data) {
  switch (tensor.dataType) {
  case TensorProto::FLOAT:
    tensor.floats.push_back(load<float>(data));
    break;
  case TensorProto::DOUBLE:
    tensor.floats.push_back(load<double>(data));
    break;
  case TensorProto::FLOAT16:
  case TensorProto::BFLOAT16:
    tensor.floats.push_back(bitsToDouble(*floatSemantics(tensor.dataType),
                                         load<uint16_t>(data), 16));
    break;
  case TensorProto::INT32:
    tensor.ints.push_back(load<int32_t>(data));
    break;
  case TensorProto::UINT32:
    tensor.ints.push_back(load<uint32_t>(data));
    break;
  case TensorProto::INT64:
  case TensorProto::UINT64:
    tensor.ints.push_back(load<int64_t>(data));
    break;
  case TensorProto::INT16:
    tensor.ints.push_back(load<int16_t>(data));
    break;
  case TensorProto::UINT16:
    tensor.ints.push_back(load<uint16_t>(data));
    break;
  case TensorProto::INT8:
    tensor.ints.push_back(load<int8_t>(data));
    break;
  case TensorProto::UINT8:
    tensor.ints.push_back(load<uint8_t>(data));
    break;
  case TensorProto::BOOL:
    tensor.ints.push_back(load<uint8_t>(data) != 0);
    break;
  }
}

/// The external data of `tensor`, or its first `limit` bytes.
absl::StatusOr<std::string> readExternal(const TensorProto &tensor,
                                         const std::string &baseDirectory,
                                         int64_t limit = -1) {
  std::string location;
  uint64_t offset = 0;
  int64_t length = -1;
  for (const onnx::StringStringEntryProto &entry : tensor.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset")
      offset = std::stoull(entry.value());
    else if (entry.key() == "length")
      length = std::stoll(entry.value());
  }
  if (location.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", tensor.name(), "' has external data without a location"));
  std::string path = baseDirectory + "/" + location;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("tensor '", tensor.name(),
                                            "': cannot open external data '",
                                            path, "'"));
  if (length < 0) {
    in.seekg(0, std::ios::end);
    length = static_cast<int64_t>(in.tellg()) - static_cast<int64_t>(offset);
  }
  if (limit >= 0)
    length = std::min(length, limit);
  std::string bytes(length < 0 ? 0 : length, '\0');
  in.seekg(offset);
  in.read(bytes.data(), bytes.size());
  if (!in)
    return absl::DataLossError(absl::StrCat("tensor '", tensor.name(),
                                            "': external data '", path,
                                            "' is shorter than declared"));
  return bytes;
}

} // namespace

bool isFloatType(int32_t dataType) {
  return dataType == TensorProto::FLOAT || dataType == TensorProto::FLOAT16 ||
         dataType == TensorProto::BFLOAT16 || dataType == TensorProto::DOUBLE;
}

bool StaticTensor::isFloat() const { return isFloatType(dataType); }

int64_t StaticTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

double StaticTensor::getDouble(int64_t i) const {
  return isFloat() ? floats[i] : static_cast<double>(ints[i]);
}

int64_t StaticTensor::getInt(int64_t i) const {
  return isFloat() ? static_cast<int64_t>(floats[i]) : ints[i];
}

StaticTensor StaticTensor::ofInts(int32_t dataType, std::vector<int64_t> shape,
                                  std::vector<int64_t> values) {
  StaticTensor tensor;
  tensor.dataType = dataType;
  tensor.shape = std::move(shape);
  for (int64_t &value : values)
    value = wrapInt(dataType, value);
  tensor.ints = std::move(values);
  return tensor;
}

StaticTensor StaticTensor::ofFloats(int32_t dataType,
                                    std::vector<int64_t> shape,
                                    std::vector<double> values) {
  StaticTensor tensor;
  tensor.dataType = dataType;
  tensor.shape = std::move(shape);
  for (double &value : values)
    value = roundFloat(dataType, value);
  tensor.floats = std::move(values);
  return tensor;
}

StaticTensor StaticTensor::vector(std::vector<int64_t> values) {
  int64_t size = values.size();
  return ofInts(TensorProto::INT64, {size}, std::move(values));
}

double roundFloat(int32_t dataType, double value) {
  if (dataType == TensorProto::FLOAT)
    return static_cast<float>(value);
  if (const llvm::fltSemantics *semantics = floatSemantics(dataType))
    return bitsToDouble(*semantics, doubleToBits(*semantics, value), 16);
  return value;
}

int64_t wrapInt(int32_t dataType, int64_t value) {
  switch (dataType) {
  case TensorProto::INT32:
    return static_cast<int32_t>(value);
  case TensorProto::UINT32:
    return static_cast<uint32_t>(value);
  case TensorProto::INT16:
    return static_cast<int16_t>(value);
  case TensorProto::UINT16:
    return static_cast<uint16_t>(value);
  case TensorProto::INT8:
    return static_cast<int8_t>(value);
  case TensorProto::UINT8:
    return static_cast<uint8_t>(value);
  case TensorProto::BOOL:
    return value != 0;
  default:
    return value;
  }
}

std::optional<proto::ElementType> runtimeElementType(int32_t dataType) {
  switch (dataType) {
  case TensorProto::FLOAT:
    return proto::F32;
  case TensorProto::DOUBLE:
    return proto::F64;
  case TensorProto::FLOAT16:
    return proto::F16;
  case TensorProto::BFLOAT16:
    return proto::BF16;
  case TensorProto::INT32:
    return proto::I32;
  case TensorProto::INT64:
    return proto::I64;
  case TensorProto::BOOL:
    return proto::I1;
  case TensorProto::INT8:
    return proto::I8;
  case TensorProto::UINT8:
    return proto::U8;
  case TensorProto::INT16:
    return proto::I16;
  case TensorProto::UINT16:
    return proto::U16;
  case TensorProto::UINT32:
    return proto::U32;
  case TensorProto::UINT64:
    return proto::U64;
  default:
    return std::nullopt;
  }
}

const char *supportedDataTypes() {
  return "(float, double, float16, bfloat16, int8, uint8, int16, uint16, "
         "int32, uint32, int64, uint64, bool)";
}

std::string dataTypeName(int32_t dataType) {
  if (TensorProto::DataType_IsValid(dataType))
    return TensorProto::DataType_Name(
        static_cast<TensorProto::DataType>(dataType));
  return absl::StrCat("<invalid type ", dataType, ">");
}

absl::StatusOr<StaticTensor> decodeTensor(const TensorProto &proto,
                                          const std::string &baseDirectory) {
  StaticTensor tensor;
  tensor.dataType = proto.data_type();
  int64_t elementSize = rawElementSize(tensor.dataType);
  if (elementSize == 0)
    return absl::UnimplementedError(absl::StrCat(
        "tensor '", proto.name(), "' has element type ",
        dataTypeName(tensor.dataType), ", which Tessel does not support"));
  for (int64_t dim : proto.dims()) {
    if (dim < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", proto.name(), "' has negative dimension ", dim));
    tensor.shape.push_back(dim);
  }
  int64_t count = tensor.numElements();

  std::string external;
  const std::string *raw = nullptr;
  if (proto.data_location() == TensorProto::EXTERNAL) {
    absl::StatusOr<std::string> bytes = readExternal(proto, baseDirectory);
    if (!bytes.ok())
      return bytes.status();
    external = std::move(*bytes);
    raw = &external;
  } else if (proto.has_raw_data()) {
    raw = &proto.raw_data();
  }
  if (raw) {
    if (static_cast<int64_t>(raw->size()) != count * elementSize)
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", proto.name(), "' has ", raw->size(),
          " bytes of data, its shape needs ", count * elementSize));
    for (int64_t i = 0; i < count; ++i)
      appendRaw(tensor, raw->data() + i * elementSize);
    return tensor;
  }

  // Typed fields, as the ONNX spec assigns them to element types.
  int64_t available = 0;
  switch (tensor.dataType) {
  case TensorProto::FLOAT:
    available = proto.float_data_size();
    tensor.floats.assign(proto.float_data().begin(), proto.float_data().end());
    break;
  case TensorProto::DOUBLE:
    available = proto.double_data_size();
    tensor.floats.assign(proto.double_data().begin(),
                         proto.double_data().end());
    break;
  case TensorProto::INT64:
    available = proto.int64_data_size();
    tensor.ints.assign(proto.int64_data().begin(), proto.int64_data().end());
    break;
  case TensorProto::UINT32:
  case TensorProto::UINT64:
    available = proto.uint64_data_size();
    tensor.ints.assign(proto.uint64_data().begin(), proto.uint64_data().end());
    break;
  case TensorProto::FLOAT16:
  case TensorProto::BFLOAT16:
    available = proto.int32_data_size();
    for (int32_t bits : proto.int32_data())
      tensor.floats.push_back(
          bitsToDouble(*floatSemantics(tensor.dataType), bits & 0xffff, 16));
    break;
  default:
    available = proto.int32_data_size();
    for (int32_t value : proto.int32_data())
      tensor.ints.push_back(wrapInt(tensor.dataType, value));
    break;
  }
  if (available != count)
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", proto.name(), "' has ", available,
                     " elements of data, its shape needs ", count));
  return tensor;
}

namespace {

/// The band of the matrix whose element i (row-major, `shape`) `at` gives,
/// std::nullopt where it cannot read one.
template <typename At>
std::optional<DiagonalBand> diagonalBand(llvm::ArrayRef<int64_t> shape, At at) {
  int64_t rank = shape.size();
  if (rank < 2)
    return std::nullopt;
  for (int64_t d = 0; d + 2 < rank; ++d)
    if (shape[d] != 1)
      return std::nullopt;
  int64_t rows = shape[rank - 2], columns = shape[rank - 1];
  if (rows * columns < 2)
    return std::nullopt;
  // Pass 1: 0s and 1s only, and the diagonals the 1s span.
  std::optional<DiagonalBand> band;
  bool zero = false;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < columns; ++j) {
      std::optional<double> value = at(i * columns + j);
      if (!value || (*value != 0.0 && *value != 1.0))
        return std::nullopt;
      if (*value == 0.0) {
        zero = true;
        continue;
      }
      if (!band)
        band = DiagonalBand{j - i, j - i};
      band->low = std::min(band->low, j - i);
      band->high = std::max(band->high, j - i);
    }
  if (!band || !zero)
    return std::nullopt;
  // Pass 2: 1 on every diagonal between.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = std::max<int64_t>(0, i + band->low);
         j <= std::min(columns - 1, i + band->high); ++j)
      if (*at(i * columns + j) != 1.0)
        return std::nullopt;
  return band;
}

} // namespace

std::optional<DiagonalBand> diagonalBandOf(const TensorProto &proto,
                                           const std::string &baseDirectory) {
  std::vector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  int64_t size = rawElementSize(proto.data_type());
  StaticTensor element;
  element.dataType = proto.data_type();
  auto inRaw = [&](const std::string &raw) {
    return [&](int64_t i) -> std::optional<double> {
      element.ints.clear();
      element.floats.clear();
      appendRaw(element, raw.data() + i * size);
      return element.isFloat() ? element.floats[0] : double(element.ints[0]);
    };
  };
  if (proto.data_location() == TensorProto::EXTERNAL) {
    if (size == 0 || shape.size() < 2)
      return std::nullopt;
    // A weight shows itself in its first elements: only a prefix of 0s
    // and 1s has the whole tensor read.
    int64_t prefix = std::min<int64_t>(count, 64);
    absl::StatusOr<std::string> head =
        readExternal(proto, baseDirectory, prefix * size);
    if (!head.ok() || int64_t(head->size()) != prefix * size)
      return std::nullopt;
    auto at = inRaw(*head);
    for (int64_t i = 0; i < prefix; ++i)
      if (double x = *at(i); x != 0.0 && x != 1.0)
        return std::nullopt;
    absl::StatusOr<std::string> bytes = readExternal(proto, baseDirectory);
    if (!bytes.ok() || int64_t(bytes->size()) != count * size)
      return std::nullopt;
    return diagonalBand(shape, inRaw(*bytes));
  }
  if (proto.has_raw_data()) {
    if (size == 0 || int64_t(proto.raw_data().size()) != count * size)
      return std::nullopt;
    return diagonalBand(shape, inRaw(proto.raw_data()));
  }
  // Typed fields (small tensors, by the ONNX spec's own advice): decoded
  // as decodeTensor reads them, every element type alike.
  absl::StatusOr<StaticTensor> decoded = decodeTensor(proto, baseDirectory);
  if (!decoded.ok())
    return std::nullopt;
  return diagonalBandOf(*decoded);
}

std::optional<DiagonalBand> diagonalBandOf(const StaticTensor &tensor) {
  return diagonalBand(tensor.shape, [&](int64_t i) -> std::optional<double> {
    return tensor.getDouble(i);
  });
}

std::string encodeBytes(const StaticTensor &tensor) {
  int64_t count = tensor.numElements();
  int64_t size = rawElementSize(tensor.dataType);
  std::string bytes(count * size, '\0');
  char *out = bytes.data();
  for (int64_t i = 0; i < count; ++i, out += size) {
    switch (tensor.dataType) {
    case TensorProto::FLOAT: {
      float value = static_cast<float>(tensor.floats[i]);
      std::memcpy(out, &value, 4);
      break;
    }
    case TensorProto::DOUBLE:
      std::memcpy(out, &tensor.floats[i], 8);
      break;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: {
      uint16_t bits = static_cast<uint16_t>(
          doubleToBits(*floatSemantics(tensor.dataType), tensor.floats[i]));
      std::memcpy(out, &bits, 2);
      break;
    }
    default: {
      // Little-endian: the low `size` bytes of the widened value.
      int64_t value = tensor.ints[i];
      std::memcpy(out, &value, size);
      break;
    }
    }
  }
  return bytes;
}

} // namespace tessel::onnx_import
