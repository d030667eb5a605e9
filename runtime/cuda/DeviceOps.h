//===- DeviceOps.h - The CUDA backend's kernels, one element at a time -*- C++
//-*-===//
//
// Every CUDA kernel of the backend except the GEMMs (cuBLAS) and the
// collectives (NCCL) is a function of one thread index written here, for
// nvcc (`__host__ __device__`) and for the host compiler alike:
// runtime/cuda/Kernels.cu launches them over a grid, and the host emulation
// (runtime/cuda/HostEmulation.h) runs the very same functions in a loop, so
// that the plans and kernels are tested on machines without a GPU.
//
// Parameters are plain structs holding device pointers; the plan builds
// them once at load (runtime/cuda/LaunchPlan.h). Numerics follow the host
// kernels: values compute as float (f32, f16, bf16) or int64 (i32, i64, i1)
// and are rounded to their type after each fused step; reductions
// accumulate in double or int64; NaN wins max and min.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_DEVICEOPS_H
#define TESSEL_RUNTIME_CUDA_DEVICEOPS_H

#include <cstdint>

#include "runtime/kernels/FusionSteps.h"
#include "runtime/kernels/HalfFloat.h"
#include "runtime/kernels/ReduceOps.h"
#include "runtime/kernels/WindowOps.h"

namespace tessel::cuda {

using kernels::compareValues;
using kernels::integerPower;
using kernels::ReduceKind;
using kernels::saturatingInt;
using kernels::StepOp;

constexpr int kMaxRank = 8;
constexpr int kMaxFusionOperands = 16;
constexpr int kMaxFusionSteps = 96;
constexpr int kMaxFusionOutputs = 4;

/// Element types as kernels see them.
enum class DType : int32_t { F32, F16, BF16, I32, I64, I1 };

TESSEL_HD int32_t dtypeBytes(DType type) {
  return type == DType::F32 || type == DType::I32    ? 4
         : type == DType::F16 || type == DType::BF16 ? 2
         : type == DType::I64                        ? 8
                                                     : 1;
}
TESSEL_HD bool isFloat(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16;
}

TESSEL_HD bool isNan(float x) { return x != x; }
TESSEL_HD bool isNan(double x) { return x != x; }

TESSEL_HD float loadFloat(const void *data, DType type, int64_t i) {
  switch (type) {
  case DType::F32:
    return static_cast<const float *>(data)[i];
  case DType::F16:
    return halfToFloat(static_cast<const uint16_t *>(data)[i]);
  case DType::BF16:
    return bfloatToFloat(static_cast<const uint16_t *>(data)[i]);
  case DType::I32:
    return static_cast<float>(static_cast<const int32_t *>(data)[i]);
  case DType::I64:
    return static_cast<float>(static_cast<const int64_t *>(data)[i]);
  default:
    return static_cast<const uint8_t *>(data)[i];
  }
}
TESSEL_HD void storeFloat(void *data, DType type, int64_t i, float value) {
  if (type == DType::F32)
    static_cast<float *>(data)[i] = value;
  else if (type == DType::F16)
    static_cast<uint16_t *>(data)[i] = floatToHalf(value);
  else if (type == DType::BF16)
    static_cast<uint16_t *>(data)[i] = floatToBfloat(value);
}
TESSEL_HD int64_t loadInt(const void *data, DType type, int64_t i) {
  if (type == DType::I32)
    return static_cast<const int32_t *>(data)[i];
  if (type == DType::I64)
    return static_cast<const int64_t *>(data)[i];
  return static_cast<const uint8_t *>(data)[i] != 0;
}
TESSEL_HD void storeInt(void *data, DType type, int64_t i, int64_t value) {
  if (type == DType::I32)
    static_cast<int32_t *>(data)[i] = static_cast<int32_t>(value);
  else if (type == DType::I64)
    static_cast<int64_t *>(data)[i] = value;
  else
    static_cast<uint8_t *>(data)[i] = value != 0;
}

/// Copies `bytes` (1, 2, 4 or 8) from `src` to `dst`.
TESSEL_HD void copyElementBytes(char *dst, const char *src, int32_t bytes) {
  switch (bytes) {
  case 8:
    *reinterpret_cast<uint64_t *>(dst) =
        *reinterpret_cast<const uint64_t *>(src);
    return;
  case 4:
    *reinterpret_cast<uint32_t *>(dst) =
        *reinterpret_cast<const uint32_t *>(src);
    return;
  case 2:
    *reinterpret_cast<uint16_t *>(dst) =
        *reinterpret_cast<const uint16_t *>(src);
    return;
  default:
    *dst = *src;
  }
}

/// Coordinates of row-major element `index` of `dims`.
TESSEL_HD void unravelIndex(int64_t index, int32_t rank, const int64_t *dims,
                            int64_t *coordinates) {
  for (int32_t d = rank - 1; d >= 0; --d) {
    coordinates[d] = dims[d] ? index % dims[d] : 0;
    index = dims[d] ? index / dims[d] : 0;
  }
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

enum class KernelKind : int32_t {
  Copy,
  Fill,
  Pad,
  Fusion,
  Reduce,
  Softmax,
  LayerNorm,
  BatchNormPrepare,
  BatchNorm,
  Gather,
  Iota,
  Pool,
  Resize,
  Im2col,
  IntegerDot,
  TopK,
};

/// Element i of the block `dims` (row-major) moves from
/// src + srcBase + sum(c_d * srcStrides_d) to dst + dstBase + sum(c_d *
/// dstStrides_d); strides in elements, bases in elements.
struct CopyParams {
  int32_t rank = 0, elementBytes = 4;
  int64_t dims[kMaxRank] = {}, srcStrides[kMaxRank] = {},
          dstStrides[kMaxRank] = {};
  int64_t srcBase = 0, dstBase = 0;
  const char *src = nullptr;
  char *dst = nullptr;
};
TESSEL_HD void copyElement(const CopyParams &p, int64_t i) {
  int64_t src = p.srcBase, dst = p.dstBase;
  for (int32_t d = p.rank - 1; d >= 0; --d) {
    int64_t c = i % p.dims[d];
    i /= p.dims[d];
    src += c * p.srcStrides[d];
    dst += c * p.dstStrides[d];
  }
  copyElementBytes(p.dst + dst * p.elementBytes, p.src + src * p.elementBytes,
                   p.elementBytes);
}

/// dst[i] = the element `value` (its bytes), for i < count.
struct FillParams {
  int32_t elementBytes = 4;
  char value[8] = {};
  char *dst = nullptr;
};
TESSEL_HD void fillElement(const FillParams &p, int64_t i) {
  copyElementBytes(p.dst + i * p.elementBytes, p.value, p.elementBytes);
}

/// The pad op: out[o] = in[(o - low) / period] where that lands on an
/// operand element below `limits`, else the padding value.
struct PadParams {
  int32_t rank = 0, elementBytes = 4;
  int64_t outDims[kMaxRank] = {}, inStrides[kMaxRank] = {}, low[kMaxRank] = {},
          period[kMaxRank] = {}, limits[kMaxRank] = {};
  char value[8] = {};
  const char *src = nullptr;
  char *dst = nullptr;
};
TESSEL_HD void padElement(const PadParams &p, int64_t i) {
  int64_t rest = i, offset = 0;
  bool inside = true;
  for (int32_t d = p.rank - 1; d >= 0; --d) {
    int64_t c = rest % p.outDims[d];
    rest /= p.outDims[d];
    int64_t shifted = c - p.low[d];
    inside = inside && shifted >= 0 && shifted % p.period[d] == 0 &&
             shifted / p.period[d] < p.limits[d];
    offset += (shifted >= 0 ? shifted / p.period[d] : 0) * p.inStrides[d];
  }
  copyElementBytes(p.dst + i * p.elementBytes,
                   inside ? p.src + offset * p.elementBytes : p.value,
                   p.elementBytes);
}

/// Fused elementwise steps (the host's "fusion" kernel, one element per
/// thread). Operand k is read at sum(c_d * operandStrides[k][d]) (0 where
/// it broadcasts).
struct FusionStepCode {
  StepOp op = StepOp::Load;
  DType type = DType::F32;
  int32_t args[3] = {0, 0, 0};
  int32_t direction = 0; // Compare: eq, ne, lt, le, gt, ge.
  int32_t hasMin = 0, hasMax = 0;
  // Pow whose exponent is a constant step: multiplications or sqrt for the
  // exponents the host special-cases (2, 3, 1, 0.5, -1).
  int32_t hasConstantExponent = 0;
  double value = 0, min = 0, max = 0, exponent = 0;
};
struct FusionParams {
  int32_t rank = 0, numOperands = 0, numSteps = 0, numOutputs = 0;
  int64_t dims[kMaxRank] = {};
  int64_t operandStrides[kMaxFusionOperands][kMaxRank] = {};
  DType operandTypes[kMaxFusionOperands] = {};
  const void *operands[kMaxFusionOperands] = {};
  FusionStepCode steps[kMaxFusionSteps];
  int32_t outputs[kMaxFusionOutputs] = {};
  DType outputTypes[kMaxFusionOutputs] = {};
  void *results[kMaxFusionOutputs] = {};
};

TESSEL_HD float roundTo(DType type, float x) {
  if (type == DType::F16)
    return halfToFloat(floatToHalf(x));
  if (type == DType::BF16)
    return bfloatToFloat(floatToBfloat(x));
  return x;
}
TESSEL_HD int64_t wrapTo(DType type, int64_t x) {
  if (type == DType::I32)
    return static_cast<int32_t>(x);
  if (type == DType::I1)
    return x != 0;
  return x;
}

/// One float step of a fusion on earlier values f (floats) and v (ints).
TESSEL_HD float floatStep(const FusionStepCode &s, const float *f,
                          const int64_t *v) {
  if (s.op == StepOp::Constant)
    return static_cast<float>(s.value);
  if (s.op == StepOp::Select)
    return v[s.args[0]] ? f[s.args[1]] : f[s.args[2]];
  float x = f[s.args[0]];
  switch (s.op) {
  case StepOp::Add:
    return x + f[s.args[1]];
  case StepOp::Sub:
    return x - f[s.args[1]];
  case StepOp::Mul:
    return x * f[s.args[1]];
  case StepOp::Div:
    return x / f[s.args[1]];
  case StepOp::Rem:
    return fmodf(x, f[s.args[1]]);
  case StepOp::Max: {
    float y = f[s.args[1]];
    return (x > y || isNan(x)) ? x : y;
  }
  case StepOp::Min: {
    float y = f[s.args[1]];
    return (x < y || isNan(x)) ? x : y;
  }
  case StepOp::Pow:
    if (s.hasConstantExponent) {
      if (s.exponent == 2)
        return x * x;
      if (s.exponent == 3)
        return x * x * x;
      if (s.exponent == 1)
        return x;
      if (s.exponent == 0.5)
        return sqrtf(x);
      if (s.exponent == -1)
        return 1.0f / x;
    }
    return powf(x, f[s.args[1]]);
  case StepOp::Neg:
    return -x;
  case StepOp::Abs:
    return fabsf(x);
  case StepOp::Sign:
    return isNan(x) ? x : static_cast<float>((x > 0) - (x < 0));
  case StepOp::Relu:
    return x < 0 ? 0.0f : x;
  case StepOp::Exp:
    return expf(x);
  case StepOp::Log:
    return logf(x);
  case StepOp::Tanh:
    return tanhf(x);
  case StepOp::Erf:
    return erff(x);
  case StepOp::Sqrt:
    return sqrtf(x);
  case StepOp::Rsqrt:
    return 1.0f / sqrtf(x);
  case StepOp::Reciprocal:
    return 1.0f / x;
  case StepOp::Sigmoid:
    return 1.0f / (1.0f + expf(-x));
  case StepOp::Sin:
    return sinf(x);
  case StepOp::Cos:
    return cosf(x);
  case StepOp::Floor:
    return floorf(x);
  case StepOp::Ceil:
    return ceilf(x);
  case StepOp::Round:
    return rintf(x);
  case StepOp::Convert:
    return x; // From a float step; from an int step, see fusionElement.
  case StepOp::Clamp: {
    if (isNan(x))
      return x;
    float low = s.hasMin ? static_cast<float>(s.min) : -INFINITY;
    float high = s.hasMax ? static_cast<float>(s.max) : INFINITY;
    return x < low ? low : x > high ? high : x;
  }
  default:
    return 0;
  }
}

/// One integer step.
TESSEL_HD int64_t intStep(const FusionStepCode &s, const int64_t *v) {
  if (s.op == StepOp::Constant)
    return static_cast<int64_t>(s.value);
  bool binary =
      s.op == StepOp::Add || s.op == StepOp::Sub || s.op == StepOp::Mul ||
      s.op == StepOp::Div || s.op == StepOp::Rem || s.op == StepOp::Max ||
      s.op == StepOp::Min || s.op == StepOp::Pow || s.op == StepOp::And ||
      s.op == StepOp::Or || s.op == StepOp::Xor ||
      s.op == StepOp::ShiftLeft || s.op == StepOp::ShiftRight;
  int64_t a = v[s.args[0]], b = binary ? v[s.args[1]] : 0;
  switch (s.op) {
  case StepOp::Add:
    return kernels::wrapAdd(a, b);
  case StepOp::Sub:
    return kernels::wrapSub(a, b);
  case StepOp::Mul:
    return kernels::wrapMul(a, b);
  case StepOp::Div:
    return kernels::wrapDiv(a, b);
  case StepOp::Rem:
    return kernels::wrapRem(a, b);
  case StepOp::ShiftLeft:
    return kernels::shiftLeft(a, b);
  case StepOp::ShiftRight:
    return kernels::shiftRight(a, b);
  case StepOp::Max:
    return a > b ? a : b;
  case StepOp::Min:
    return a < b ? a : b;
  case StepOp::Pow:
    return integerPower(a, b);
  case StepOp::And:
    return a && b;
  case StepOp::Or:
    return a || b;
  case StepOp::Xor:
    return (a != 0) != (b != 0);
  case StepOp::Not:
    return !a;
  case StepOp::Neg:
    return kernels::wrapNeg(a);
  case StepOp::Abs:
    return kernels::wrapAbs(a);
  case StepOp::Sign:
    return (a > 0) - (a < 0);
  case StepOp::Relu:
    return a < 0 ? 0 : a;
  case StepOp::Select:
    return v[s.args[0]] ? v[s.args[1]] : v[s.args[2]];
  case StepOp::Convert:
    return a;
  case StepOp::Clamp: {
    int64_t low = s.hasMin ? static_cast<int64_t>(ceil(s.min)) : INT64_MIN;
    int64_t high = s.hasMax ? static_cast<int64_t>(floor(s.max)) : INT64_MAX;
    return a < low ? low : a > high ? high : a;
  }
  default:
    return 0;
  }
}

TESSEL_HD void fusionElement(const FusionParams &p, int64_t i) {
  // A step's value is in f (float types) or v (integer types); the other
  // slot holds a copy converted (for steps that read across domains).
  float f[kMaxFusionSteps];
  int64_t v[kMaxFusionSteps];
  int64_t coordinates[kMaxRank];
  unravelIndex(i, p.rank, p.dims, coordinates);
  for (int32_t k = 0; k < p.numSteps; ++k) {
    const FusionStepCode &s = p.steps[k];
    bool floatStepType = isFloat(s.type);
    if (s.op == StepOp::Load) {
      int32_t operand = s.args[0];
      int64_t offset = 0;
      for (int32_t d = 0; d < p.rank; ++d)
        offset += coordinates[d] * p.operandStrides[operand][d];
      DType type = p.operandTypes[operand];
      if (floatStepType)
        f[k] = loadFloat(p.operands[operand], type, offset);
      else
        v[k] = loadInt(p.operands[operand], type, offset);
      continue;
    }
    bool floatArgs =
        s.op != StepOp::Constant && isFloat(p.steps[s.args[0]].type);
    if (s.op == StepOp::Compare) {
      bool floats = floatArgs && isFloat(p.steps[s.args[1]].type);
      v[k] = floats ? compareValues(s.direction, f[s.args[0]], f[s.args[1]])
                    : compareValues(s.direction, v[s.args[0]], v[s.args[1]]);
    } else if (s.op == StepOp::Convert && floatStepType && !floatArgs) {
      f[k] = static_cast<float>(v[s.args[0]]);
    } else if (s.op == StepOp::Convert && !floatStepType && floatArgs) {
      v[k] =
          s.type == DType::I1 ? f[s.args[0]] != 0 : saturatingInt(f[s.args[0]]);
    } else if (floatStepType) {
      f[k] = floatStep(s, f, v);
    } else {
      v[k] = intStep(s, v);
    }
    if (floatStepType)
      f[k] = roundTo(s.type, f[k]);
    else
      v[k] = wrapTo(s.type, v[k]);
  }
  for (int32_t r = 0; r < p.numOutputs; ++r) {
    int32_t step = p.outputs[r];
    if (isFloat(p.outputTypes[r]))
      storeFloat(p.results[r], p.outputTypes[r], i, f[step]);
    else
      storeInt(p.results[r], p.outputTypes[r], i, v[step]);
  }
}

/// reduce: output element o combines the input at base(o) + the offsets of
/// the reduced sub-space (dims `reducedDims`, strides `reducedStrides`).
struct ReduceParams {
  ReduceKind kind = ReduceKind::Sum;
  DType inType = DType::F32, outType = DType::F32;
  int32_t keptRank = 0, reducedRank = 0;
  int64_t keptDims[kMaxRank] = {}, keptStrides[kMaxRank] = {};
  int64_t reducedDims[kMaxRank] = {}, reducedStrides[kMaxRank] = {};
  int64_t reducedCount = 1;
  const void *in = nullptr;
  void *out = nullptr;
};
TESSEL_HD void reduceElement(const ReduceParams &p, int64_t o) {
  int64_t base = 0, rest = o;
  for (int32_t d = p.keptRank - 1; d >= 0; --d) {
    base += (rest % p.keptDims[d]) * p.keptStrides[d];
    rest /= p.keptDims[d];
  }
  auto offsetOf = [&](int64_t r) {
    int64_t offset = base;
    for (int32_t d = p.reducedRank - 1; d >= 0; --d) {
      offset += (r % p.reducedDims[d]) * p.reducedStrides[d];
      r /= p.reducedDims[d];
    }
    return offset;
  };
  if (isFloat(p.inType)) {
    double acc = kernels::reduceStart<double>(p.kind);
    for (int64_t r = 0; r < p.reducedCount; ++r)
      acc = kernels::reduceStep<double>(p.kind, acc,
                                        loadFloat(p.in, p.inType, offsetOf(r)));
    storeFloat(
        p.out, p.outType, o,
        static_cast<float>(kernels::reduceFinish(p.kind, acc, p.reducedCount)));
    return;
  }
  int64_t acc = kernels::reduceStart<int64_t>(p.kind);
  for (int64_t r = 0; r < p.reducedCount; ++r)
    acc = kernels::reduceStep<int64_t>(p.kind, acc,
                                       loadInt(p.in, p.inType, offsetOf(r)));
  storeInt(p.out, p.outType, o,
           kernels::reduceFinish(p.kind, acc, p.reducedCount));
}

/// Rows of `length` elements `stride` apart: row r starts at
/// (r / stride) * length * stride + r % stride. One thread per row.
struct RowParams {
  DType inType = DType::F32, outType = DType::F32;
  int64_t length = 0, stride = 1;
  double epsilon = 0;
  const void *in = nullptr;
  DType scaleType = DType::F32, biasType = DType::F32;
  const void *scale = nullptr, *bias = nullptr; // layer_norm
  void *out = nullptr;
};
TESSEL_HD int64_t rowStart(const RowParams &p, int64_t row) {
  return (row / p.stride) * p.length * p.stride + row % p.stride;
}
TESSEL_HD void softmaxElement(const RowParams &p, int64_t row) {
  int64_t start = rowStart(p, row);
  float maximum = -INFINITY;
  for (int64_t j = 0; j < p.length; ++j) {
    float x = loadFloat(p.in, p.inType, start + j * p.stride);
    maximum = (x > maximum || isNan(x)) ? x : maximum;
  }
  if (maximum == -INFINITY)
    maximum = 0; // A row of -inf: 0 / 0, NaN, as on the host.
  float sum = 0;
  for (int64_t j = 0; j < p.length; ++j)
    sum += expf(loadFloat(p.in, p.inType, start + j * p.stride) - maximum);
  float inverse = 1.0f / sum;
  // Read everything before writing: the result may be the operand's buffer.
  for (int64_t j = 0; j < p.length; ++j) {
    int64_t at = start + j * p.stride;
    storeFloat(p.out, p.outType, at,
               expf(loadFloat(p.in, p.inType, at) - maximum) * inverse);
  }
}
/// layer_norm over rows of `length` contiguous elements (stride 1).
TESSEL_HD void layerNormElement(const RowParams &p, int64_t row) {
  int64_t start = row * p.length;
  double sum = 0;
  for (int64_t j = 0; j < p.length; ++j)
    sum += loadFloat(p.in, p.inType, start + j);
  double mean = sum / p.length;
  float center = static_cast<float>(mean);
  double squares = 0;
  for (int64_t j = 0; j < p.length; ++j) {
    float d = loadFloat(p.in, p.inType, start + j) - center;
    squares += static_cast<double>(d) * d;
  }
  float inverse =
      static_cast<float>(1.0 / sqrt(squares / p.length + p.epsilon));
  for (int64_t j = 0; j < p.length; ++j) {
    float x = loadFloat(p.in, p.inType, start + j);
    storeFloat(p.out, p.outType, start + j,
               (x - center) * inverse * loadFloat(p.scale, p.scaleType, j) +
                   loadFloat(p.bias, p.biasType, j));
  }
}

/// The per-channel factors of batch_norm_inference from scale, offset,
/// mean and variance (in double, as the host): one thread per channel.
struct BatchNormPrepareParams {
  double epsilon = 0;
  DType types[4] = {};
  const void *values[4] = {};
  float *multiplier = nullptr, *shift = nullptr;
};
TESSEL_HD void batchNormPrepareElement(const BatchNormPrepareParams &p,
                                       int64_t c) {
  float scale = loadFloat(p.values[0], p.types[0], c);
  float offset = loadFloat(p.values[1], p.types[1], c);
  float mean = loadFloat(p.values[2], p.types[2], c);
  float variance = loadFloat(p.values[3], p.types[3], c);
  double inverse = 1.0 / sqrt(static_cast<double>(variance) + p.epsilon);
  p.multiplier[c] = static_cast<float>(scale * inverse);
  p.shift[c] = static_cast<float>(offset - mean * scale * inverse);
}

/// batch_norm_inference: out = in * multiplier[c] + shift[c], c the feature
/// of element i (i / inner % channels); multiplier and shift are f32.
struct BatchNormParams {
  DType inType = DType::F32, outType = DType::F32;
  int64_t inner = 1, channels = 1;
  const void *in = nullptr;
  const float *multiplier = nullptr, *shift = nullptr;
  void *out = nullptr;
};
TESSEL_HD void batchNormElement(const BatchNormParams &p, int64_t i) {
  int64_t c = (i / p.inner) % p.channels;
  storeFloat(p.out, p.outType, i,
             loadFloat(p.in, p.inType, i) * p.multiplier[c] + p.shift[c]);
}

/// gather along an axis: out[o, which, j] = data[o, indices[which], j].
/// An index out of range stores nothing and sets *error (to be reported).
struct GatherParams {
  int32_t elementBytes = 4;
  DType indexType = DType::I64;
  int64_t count = 0, axisSize = 0, inner = 1;
  const char *data = nullptr;
  const void *indices = nullptr;
  char *out = nullptr;
  int32_t *error = nullptr;
};
TESSEL_HD void gatherElement(const GatherParams &p, int64_t i) {
  int64_t j = i % p.inner, row = i / p.inner;
  int64_t which = row % p.count, o = row / p.count;
  int64_t index = loadInt(p.indices, p.indexType, which);
  if (index < -p.axisSize || index >= p.axisSize) {
    *p.error = 1;
    return;
  }
  if (index < 0)
    index += p.axisSize;
  copyElementBytes(p.out + i * p.elementBytes,
                   p.data + ((o * p.axisSize + index) * p.inner + j) *
                                p.elementBytes,
                   p.elementBytes);
}

/// iota: out[i] = (i / stride) % size, converted to the type.
struct IotaParams {
  DType type = DType::I64;
  int64_t stride = 1, size = 1;
  void *out = nullptr;
};
TESSEL_HD void iotaElement(const IotaParams &p, int64_t i) {
  int64_t value = (i / p.stride) % p.size;
  if (isFloat(p.type))
    storeFloat(p.out, p.type, i, static_cast<float>(value));
  else
    storeInt(p.out, p.type, i, value);
}

/// max_pool / avg_pool over the spatial dims of [N, C, spatial...].
struct PoolParams {
  int32_t isMax = 1, countPadding = 0, spatial = 0;
  DType inType = DType::F32, outType = DType::F32;
  int64_t inSize[kMaxRank] = {}, outSize[kMaxRank] = {}, window[kMaxRank] = {},
          strides[kMaxRank] = {}, dilations[kMaxRank] = {},
          padLow[kMaxRank] = {}, padHigh[kMaxRank] = {};
  int64_t inPixels = 1, outPixels = 1, windowSize = 1;
  const void *in = nullptr;
  void *out = nullptr;
};
TESSEL_HD void poolElement(const PoolParams &p, int64_t index) {
  int64_t plane = index / p.outPixels;
  int64_t o[kMaxRank], k[kMaxRank];
  unravelIndex(index % p.outPixels, p.spatial, p.outSize, o);
  float best = -INFINITY;
  double sum = 0;
  int64_t counted = 0;
  for (int64_t w = 0; w < p.windowSize; ++w) {
    unravelIndex(w, p.spatial, p.window, k);
    int64_t offset = 0;
    bool inside = true, inPadding = true;
    for (int32_t d = 0; d < p.spatial; ++d) {
      int64_t position =
          o[d] * p.strides[d] + k[d] * p.dilations[d] - p.padLow[d];
      inside = inside && position >= 0 && position < p.inSize[d];
      inPadding = inPadding && position >= -p.padLow[d] &&
                  position < p.inSize[d] + p.padHigh[d];
      offset = offset * p.inSize[d] + position;
    }
    if (inside) {
      float x = loadFloat(p.in, p.inType, plane * p.inPixels + offset);
      if (p.isMax)
        best = (x > best || isNan(x)) ? x : best;
      else
        sum += x;
    }
    counted += p.countPadding ? inPadding : inside;
  }
  float value =
      p.isMax ? best : static_cast<float>(counted ? sum / counted : 0.0);
  storeFloat(p.out, p.outType, index, value);
}

/// resize: output element i from the taps of each dimension (tables in the
/// plan's parameter block).
struct ResizeParams {
  int32_t rank = 0;
  DType inType = DType::F32, outType = DType::F32;
  int64_t outDims[kMaxRank] = {}, inStrides[kMaxRank] = {};
  const kernels::ResizeTap *taps[kMaxRank] = {};
  const void *in = nullptr;
  void *out = nullptr;
};
TESSEL_HD void resizeElement(const ResizeParams &p, int64_t i) {
  int64_t o[kMaxRank];
  unravelIndex(i, p.rank, p.outDims, o);
  double value =
      kernels::resizeAt(p.rank, o, p.taps, p.inStrides, [&](int64_t offset) {
        return static_cast<double>(loadFloat(p.in, p.inType, offset));
      });
  storeFloat(p.out, p.outType, i, static_cast<float>(value));
}

/// The columns of a convolution for every image and group:
/// columns[g][c * windowSize + w][n * outPixels + q] = the input element
/// (image n, channel g * groupChannels + c) under window position w of
/// output position q, or 0; one element per thread, in the input's type.
struct Im2colParams {
  int32_t spatial = 0, elementBytes = 4;
  int64_t inSize[kMaxRank] = {}, outSize[kMaxRank] = {}, window[kMaxRank] = {},
          strides[kMaxRank] = {}, padLow[kMaxRank] = {},
          lhsDilation[kMaxRank] = {}, rhsDilation[kMaxRank] = {};
  int64_t images = 1, channels = 1, groupChannels = 1;
  int64_t inPixels = 1, outPixels = 1, windowSize = 1;
  const char *in = nullptr;
  char *columns = nullptr;
};
TESSEL_HD void im2colElement(const Im2colParams &p, int64_t i) {
  int64_t width = p.images * p.outPixels;
  int64_t column = i % width, row = i / width;
  int64_t rows = p.groupChannels * p.windowSize;
  int64_t group = row / rows, r = row % rows;
  int64_t c = r / p.windowSize, w = r % p.windowSize;
  int64_t image = column / p.outPixels, q = column % p.outPixels;
  int64_t k[kMaxRank], o[kMaxRank];
  unravelIndex(w, p.spatial, p.window, k);
  unravelIndex(q, p.spatial, p.outSize, o);
  int64_t index = 0;
  bool inside = true;
  for (int32_t d = 0; d < p.spatial; ++d) {
    int64_t dilated =
        o[d] * p.strides[d] + k[d] * p.rhsDilation[d] - p.padLow[d];
    int64_t step = p.lhsDilation[d];
    inside = inside && dilated >= 0 && dilated % step == 0 &&
             dilated / step < p.inSize[d];
    index = index * p.inSize[d] + (dilated >= 0 ? dilated / step : 0);
  }
  char *target = p.columns + i * p.elementBytes;
  if (!inside) {
    for (int32_t b = 0; b < p.elementBytes; ++b)
      target[b] = 0;
    return;
  }
  int64_t channel = group * p.groupChannels + c;
  copyElementBytes(target,
                   p.in +
                       ((image * p.channels + channel) * p.inPixels + index) *
                           p.elementBytes,
                   p.elementBytes);
}

/// dot_general of integer operands viewed as [batch, m, k] x [batch, k, n]
/// through strides (cuBLAS has no int64 GEMM): one output per thread.
struct IntegerDotParams {
  DType type = DType::I64;
  int64_t m = 0, n = 0, k = 0;
  // Element strides of (batch, row, column) of each matrix.
  int64_t a[3] = {}, b[3] = {};
  const void *lhs = nullptr, *rhs = nullptr;
  void *out = nullptr;
};
TESSEL_HD void integerDotElement(const IntegerDotParams &p, int64_t i) {
  int64_t j = i % p.n, row = (i / p.n) % p.m, batch = i / (p.n * p.m);
  int64_t sum = 0;
  for (int64_t q = 0; q < p.k; ++q) // Wraps, as the host's integer dot.
    sum = kernels::wrapAdd(
        sum, kernels::wrapMul(
                 loadInt(p.lhs, p.type,
                         batch * p.a[0] + row * p.a[1] + q * p.a[2]),
                 loadInt(p.rhs, p.type,
                         batch * p.b[0] + q * p.b[1] + j * p.b[2])));
  storeInt(p.out, p.type, i, sum);
}

/// One row of top_k per element: k selection passes over the row's n
/// elements, each taking the first in order after the previous one (order:
/// larger key first, or smaller with !largest; equal keys by position), so
/// no scratch and O(k n) per row; values are copied as bytes.
struct TopKParams {
  DType type = DType::F32;
  int32_t elementBytes = 4;
  bool largest = true;
  int64_t n = 1, k = 1, inner = 1;
  const char *in = nullptr;
  char *values = nullptr;
  int64_t *indices = nullptr;
};
TESSEL_HD void topKElement(const TopKParams &p, int64_t row) {
  int64_t outer = row / p.inner, inner = row % p.inner;
  int64_t base = outer * p.n * p.inner + inner;
  bool floating = isFloat(p.type);
  auto keyOf = [&](int64_t q, double &f, int64_t &v) {
    int64_t at = base + q * p.inner;
    if (floating)
      f = loadFloat(p.in, p.type, at);
    else
      v = loadInt(p.in, p.type, at);
  };
  // Whether element (fa, va, a) comes before (fb, vb, b).
  auto before = [&](double fa, int64_t va, int64_t a, double fb, int64_t vb,
                    int64_t b) {
    if (floating ? fa != fb : va != vb) {
      bool larger = floating ? fa > fb : va > vb;
      return p.largest ? larger : !larger;
    }
    return a < b;
  };
  double prevF = 0;
  int64_t prevV = 0, prev = -1;
  for (int64_t j = 0; j < p.k; ++j) {
    double bestF = 0;
    int64_t bestV = 0, best = -1;
    for (int64_t q = 0; q < p.n; ++q) {
      double f = 0;
      int64_t v = 0;
      keyOf(q, f, v);
      if (prev >= 0 && !before(prevF, prevV, prev, f, v, q))
        continue;
      if (best < 0 || before(f, v, q, bestF, bestV, best)) {
        bestF = f;
        bestV = v;
        best = q;
      }
    }
    int64_t at = (outer * p.k + j) * p.inner + inner;
    copyElementBytes(p.values + at * p.elementBytes,
                     p.in + (base + best * p.inner) * p.elementBytes,
                     p.elementBytes);
    p.indices[at] = best;
    prevF = bestF;
    prevV = bestV;
    prev = best;
  }
}

/// Element `i` of a launch of `kind` whose parameters are at `params`.
TESSEL_HD void runElement(KernelKind kind, const void *params, int64_t i) {
  switch (kind) {
  case KernelKind::Copy:
    return copyElement(*static_cast<const CopyParams *>(params), i);
  case KernelKind::Fill:
    return fillElement(*static_cast<const FillParams *>(params), i);
  case KernelKind::Pad:
    return padElement(*static_cast<const PadParams *>(params), i);
  case KernelKind::Fusion:
    return fusionElement(*static_cast<const FusionParams *>(params), i);
  case KernelKind::Reduce:
    return reduceElement(*static_cast<const ReduceParams *>(params), i);
  case KernelKind::Softmax:
    return softmaxElement(*static_cast<const RowParams *>(params), i);
  case KernelKind::LayerNorm:
    return layerNormElement(*static_cast<const RowParams *>(params), i);
  case KernelKind::BatchNormPrepare:
    return batchNormPrepareElement(
        *static_cast<const BatchNormPrepareParams *>(params), i);
  case KernelKind::BatchNorm:
    return batchNormElement(*static_cast<const BatchNormParams *>(params), i);
  case KernelKind::Gather:
    return gatherElement(*static_cast<const GatherParams *>(params), i);
  case KernelKind::Iota:
    return iotaElement(*static_cast<const IotaParams *>(params), i);
  case KernelKind::Pool:
    return poolElement(*static_cast<const PoolParams *>(params), i);
  case KernelKind::Resize:
    return resizeElement(*static_cast<const ResizeParams *>(params), i);
  case KernelKind::Im2col:
    return im2colElement(*static_cast<const Im2colParams *>(params), i);
  case KernelKind::IntegerDot:
    return integerDotElement(*static_cast<const IntegerDotParams *>(params), i);
  case KernelKind::TopK:
    return topKElement(*static_cast<const TopKParams *>(params), i);
  }
}

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_DEVICEOPS_H
