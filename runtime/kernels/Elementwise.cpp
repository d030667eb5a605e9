//===- Elementwise.cpp - Fused elementwise chains -------------------------===//
//
// Every elementwise op, every broadcast, and chains of them run here, as the
// "fusion" kernel: one pass over the result's elements in blocks of kBlock.
// For each block, "load" steps gather their operand through its broadcast
// (walking runs along the innermost dimension), compute steps run on whole
// blocks (vectorised by Eigen for the transcendental functions), and results
// are stored. Values compute as float (f32, f16, bf16) or int64 (the
// integers and i1); a step of type f16, bf16 or a narrow integer is rounded
// to its type, so a fused chain gives the same numbers as the ops one by
// one. A chain that touches f64 computes its float steps in double (each
// f32, f16 or bf16 step still rounded to its type). u64 values are held as
// their int64 bits; the steps where signedness matters (division,
// remainder, max, min, comparisons, conversions, relu, abs, sign, clamp,
// pow's exponent) treat them as unsigned.
//
// A result may share its buffer with an operand read without broadcast: a
// block is fully loaded before it is stored.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <limits>
#include <optional>

#include "Eigen/Core"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "runtime/kernels/FusionSteps.h"
#include "runtime/kernels/KernelContext.h"
#include "unsupported/Eigen/SpecialFunctions"

namespace tessel::kernels {
namespace {

constexpr int64_t kBlock = 512;

using Op = StepOp;

struct Step {
  Op op;
  std::vector<int64_t> args;
  proto::ElementType type;
  bool isFloat;
  double value = 0;      // Constant
  int64_t direction = 0; // Compare: eq, ne, lt, le, gt, ge
  // Pow whose exponent is a constant step: its value (small integers and
  // 0.5 take multiplications or sqrt instead of std::pow).
  std::optional<double> constantExponent;
  bool hasMin = false, hasMax = false;
  double min = 0, max = 0;
  // The step's operands (the first; pow: the exponent) are u64.
  bool unsignedOperand = false, unsignedExponent = false;
};

uint64_t asUnsigned(int64_t v) { return static_cast<uint64_t>(v); }
int64_t fromUnsigned(uint64_t v) { return static_cast<int64_t>(v); }

/// How one operand is read: its element strides in the result's index space.
/// How an operand is read at each position of the result: the result's
/// index space with adjacent dimensions merged where this operand steps
/// through them as through one (contiguous, or broadcast along both), so
/// that runs are as long as the operand allows (a per-channel vector over
/// [N, C, H, W] is read in runs of H * W, a contiguous operand in whole
/// blocks).
struct Access {
  const void *data;
  proto::ElementType type;
  std::vector<int64_t> dims, strides;
};

Access collapsedAccess(const void *data, proto::ElementType type,
                       const std::vector<int64_t> &dims,
                       const std::vector<int64_t> &strides) {
  Access access{data, type, {}, {}};
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) // Position 0 only: the stride never counts.
      continue;
    if (!access.dims.empty() && access.strides.back() == strides[d] * dims[d]) {
      access.dims.back() *= dims[d];
      access.strides.back() = strides[d];
      continue;
    }
    access.dims.push_back(dims[d]);
    access.strides.push_back(strides[d]);
  }
  return access;
}

template <typename T, typename Out, typename Convert>
void gatherRuns(const Access &access, int64_t start, int64_t length, Out *out,
                Convert convert) {
  const T *data = static_cast<const T *>(access.data);
  const std::vector<int64_t> &dims = access.dims;
  int64_t rank = dims.size();
  if (rank == 0) {
    out[0] = convert(data[0]);
    return;
  }
  absl::InlinedVector<int64_t, 8> coordinates(rank);
  for (int64_t d = rank - 1, rest = start; d >= 0; --d) {
    coordinates[d] = dims[d] ? rest % dims[d] : 0;
    rest = dims[d] ? rest / dims[d] : 0;
  }
  int64_t innerStride = access.strides[rank - 1];
  for (int64_t position = 0; position < length;) {
    int64_t run =
        std::min(dims[rank - 1] - coordinates[rank - 1], length - position);
    int64_t base = 0;
    for (int64_t d = 0; d < rank; ++d)
      base += coordinates[d] * access.strides[d];
    const T *source = data + base;
    Out *target = out + position;
    if (innerStride == 1)
      for (int64_t j = 0; j < run; ++j)
        target[j] = convert(source[j]);
    else if (innerStride == 0)
      std::fill(target, target + run, convert(source[0]));
    else
      for (int64_t j = 0; j < run; ++j)
        target[j] = convert(source[j * innerStride]);
    position += run;
    coordinates[rank - 1] += run;
    for (int64_t d = rank - 1; d > 0 && coordinates[d] == dims[d]; --d) {
      coordinates[d] = 0;
      ++coordinates[d - 1];
    }
  }
}

// Conversions on load, as function objects so that the loops inline them.
template <typename F, typename T> struct ToLane {
  F operator()(T v) const { return static_cast<F>(v); }
};
template <typename F> struct ToLane<F, Half> {
  F operator()(Half v) const { return toFloat(v); }
};
template <typename F> struct ToLane<F, BFloat16> {
  F operator()(BFloat16 v) const { return toFloat(v); }
};
constexpr auto int32ToInt = [](int32_t v) { return static_cast<int64_t>(v); };
constexpr auto int64ToInt = [](int64_t v) { return v; };
constexpr auto boolToInt = [](uint8_t v) {
  return static_cast<int64_t>(v != 0);
};
/// An integer of a narrower or unsigned type as int64 (sign- or
/// zero-extended by its type).
template <typename T> using Widen = ToLane<int64_t, T>;

/// Loads into the float lane F (float, or double for chains with f64).
template <typename F>
void loadFloats(const Access &access, int64_t start, int64_t length, F *out) {
  switch (access.type) {
  case proto::F32:
    return gatherRuns<float, F>(access, start, length, out, ToLane<F, float>());
  case proto::F16:
    return gatherRuns<Half, F>(access, start, length, out, ToLane<F, Half>());
  case proto::F64:
    return gatherRuns<double, F>(access, start, length, out,
                                 ToLane<F, double>());
  default:
    return gatherRuns<BFloat16, F>(access, start, length, out,
                                   ToLane<F, BFloat16>());
  }
}

void loadInts(const Access &access, int64_t start, int64_t length,
              int64_t *out) {
  switch (access.type) {
  case proto::I32:
    return gatherRuns<int32_t, int64_t>(access, start, length, out, int32ToInt);
  case proto::I64:
    return gatherRuns<int64_t, int64_t>(access, start, length, out, int64ToInt);
  case proto::I8:
    return gatherRuns<int8_t, int64_t>(access, start, length, out,
                                       Widen<int8_t>());
  case proto::U8:
    return gatherRuns<uint8_t, int64_t>(access, start, length, out,
                                        Widen<uint8_t>());
  case proto::I16:
    return gatherRuns<int16_t, int64_t>(access, start, length, out,
                                        Widen<int16_t>());
  case proto::U16:
    return gatherRuns<uint16_t, int64_t>(access, start, length, out,
                                         Widen<uint16_t>());
  case proto::U32:
    return gatherRuns<uint32_t, int64_t>(access, start, length, out,
                                         Widen<uint32_t>());
  case proto::U64: // Its bits.
    return gatherRuns<int64_t, int64_t>(access, start, length, out, int64ToInt);
  default:
    return gatherRuns<uint8_t, int64_t>(access, start, length, out, boolToInt);
  }
}

/// Rounds a block to what `type` can hold.
template <typename F>
void roundFloats(proto::ElementType type, F *values, int64_t n) {
  if (type == proto::F32 && sizeof(F) > sizeof(float))
    for (int64_t i = 0; i < n; ++i)
      values[i] = static_cast<float>(values[i]);
  else if (type == proto::F16)
    for (int64_t i = 0; i < n; ++i)
      values[i] = toFloat(toHalf(values[i]));
  else if (type == proto::BF16)
    for (int64_t i = 0; i < n; ++i)
      values[i] = toFloat(toBFloat16(values[i]));
}

void wrapInts(proto::ElementType type, int64_t *values, int64_t n) {
  if (type == proto::I64 || type == proto::U64)
    return;
  for (int64_t i = 0; i < n; ++i)
    values[i] = wrapInt(type, values[i]);
}

/// The steps whose u64 operands differ from int64 ones; false for the
/// others (the same bits either way: add, sub, mul, neg, shifts, bitwise).
template <typename F>
bool evaluateUnsigned(const Step &step, int64_t n, F *f, int64_t *v,
                      const int64_t *a, const int64_t *b) {
  switch (step.op) {
  case Op::Div:
    for (int64_t i = 0; i < n; ++i)
      v[i] = b[i] ? fromUnsigned(asUnsigned(a[i]) / asUnsigned(b[i])) : 0;
    return true;
  case Op::Rem:
    for (int64_t i = 0; i < n; ++i)
      v[i] = b[i] ? fromUnsigned(asUnsigned(a[i]) % asUnsigned(b[i])) : 0;
    return true;
  case Op::Max:
    for (int64_t i = 0; i < n; ++i)
      v[i] = asUnsigned(a[i]) > asUnsigned(b[i]) ? a[i] : b[i];
    return true;
  case Op::Min:
    for (int64_t i = 0; i < n; ++i)
      v[i] = asUnsigned(a[i]) < asUnsigned(b[i]) ? a[i] : b[i];
    return true;
  case Op::Compare:
    for (int64_t i = 0; i < n; ++i)
      v[i] = compareValues(step.direction, asUnsigned(a[i]), asUnsigned(b[i]));
    return true;
  case Op::Relu:
  case Op::Abs:
    std::copy(a, a + n, v);
    return true;
  case Op::Sign:
    for (int64_t i = 0; i < n; ++i)
      v[i] = a[i] != 0;
    return true;
  case Op::Convert:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = static_cast<F>(asUnsigned(a[i]));
    else if (step.type == proto::I1)
      for (int64_t i = 0; i < n; ++i)
        v[i] = a[i] != 0;
    else
      std::copy(a, a + n, v);
    return true;
  case Op::Clamp: {
    uint64_t low = 0, high = UINT64_MAX;
    if (step.hasMin && step.min > 0)
      low = asUnsigned(saturatingUnsigned(std::ceil(step.min)));
    if (step.hasMax)
      high = step.max < 0
                 ? 0
                 : asUnsigned(saturatingUnsigned(std::floor(step.max)));
    for (int64_t i = 0; i < n; ++i)
      v[i] = fromUnsigned(std::min(std::max(asUnsigned(a[i]), low), high));
    return true;
  }
  default:
    return false;
  }
}

/// Evaluates one non-load step over a block of n elements, float steps in
/// the lane F.
template <typename F>
void evaluate(const Step &step, int64_t n, F *f, int64_t *v, F *const *fr,
              int64_t *const *ir) {
  using ArrayMap = Eigen::Map<Eigen::Array<F, Eigen::Dynamic, 1>>;
  auto fa = [&](int k) { return ArrayMap(fr[step.args[k]], n); };
  const F *x = step.args.empty() ? nullptr : fr[step.args[0]];
  const F *y = step.args.size() > 1 ? fr[step.args[1]] : nullptr;
  const int64_t *a = step.args.empty() ? nullptr : ir[step.args[0]];
  const int64_t *b = step.args.size() > 1 ? ir[step.args[1]] : nullptr;
  ArrayMap out(f, n);
  if (step.unsignedOperand && evaluateUnsigned(step, n, f, v, a, b))
    return;
  switch (step.op) {
  case Op::Load:
    return;
  case Op::Constant:
    if (step.isFloat)
      std::fill(f, f + n, static_cast<F>(step.value));
    else
      std::fill(v, v + n, static_cast<int64_t>(step.value));
    return;
  case Op::Add:
    if (step.isFloat)
      out = fa(0) + fa(1);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapAdd(a[i], b[i]);
    return;
  case Op::Sub:
    if (step.isFloat)
      out = fa(0) - fa(1);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapSub(a[i], b[i]);
    return;
  case Op::Mul:
    if (step.isFloat)
      out = fa(0) * fa(1);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapMul(a[i], b[i]);
    return;
  case Op::Div:
    // Integers: wrapDiv (by 0 gives 0; ONNX leaves it undefined).
    if (step.isFloat)
      out = fa(0) / fa(1);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapDiv(a[i], b[i]);
    return;
  case Op::Rem:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = std::fmod(x[i], y[i]);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapRem(a[i], b[i]);
    return;
  case Op::ShiftLeft: // Unsigned integers only (the graph op's types).
    for (int64_t i = 0; i < n; ++i)
      v[i] = shiftLeft(a[i], b[i]);
    return;
  case Op::ShiftRight:
    for (int64_t i = 0; i < n; ++i)
      v[i] = shiftRight(a[i], b[i]);
    return;
  case Op::Max:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = (x[i] > y[i] || std::isnan(x[i])) ? x[i] : y[i];
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = std::max(a[i], b[i]);
    return;
  case Op::Min:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = (x[i] < y[i] || std::isnan(x[i])) ? x[i] : y[i];
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = std::min(a[i], b[i]);
    return;
  case Op::Pow:
    if (step.isFloat && step.constantExponent) {
      double e = *step.constantExponent;
      if (e == 2)
        out = fa(0).square();
      else if (e == 3)
        out = fa(0).cube();
      else if (e == 1)
        out = fa(0);
      else if (e == 0.5)
        out = fa(0).sqrt();
      else if (e == -1)
        out = fa(0).inverse();
      else
        for (int64_t i = 0; i < n; ++i)
          f[i] = std::pow(x[i], static_cast<F>(e));
    } else if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = std::pow(x[i], y[i]);
    else if (step.unsignedExponent)
      for (int64_t i = 0; i < n; ++i)
        v[i] = unsignedPower(a[i], asUnsigned(b[i]));
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = integerPower(a[i], b[i]);
    return;
  case Op::And:
    for (int64_t i = 0; i < n; ++i)
      v[i] = a[i] && b[i];
    return;
  case Op::Or:
    for (int64_t i = 0; i < n; ++i)
      v[i] = a[i] || b[i];
    return;
  case Op::Xor:
    for (int64_t i = 0; i < n; ++i)
      v[i] = (a[i] != 0) != (b[i] != 0);
    return;
  case Op::Not:
    for (int64_t i = 0; i < n; ++i)
      v[i] = !a[i];
    return;
  case Op::Neg:
    if (step.isFloat)
      out = -fa(0);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapNeg(a[i]);
    return;
  case Op::Abs:
    if (step.isFloat)
      out = fa(0).abs();
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = wrapAbs(a[i]);
    return;
  case Op::Sign:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0) - (x[i] < 0);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = (a[i] > 0) - (a[i] < 0);
    return;
  case Op::Relu:
    if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = x[i] < 0 ? F(0) : x[i];
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = a[i] < 0 ? 0 : a[i];
    return;
  case Op::Exp:
    out = fa(0).exp();
    return;
  case Op::Log:
    out = fa(0).log();
    return;
  case Op::Tanh:
    out = fa(0).tanh();
    return;
  case Op::Erf:
    out = fa(0).erf();
    return;
  case Op::Sqrt:
    out = fa(0).sqrt();
    return;
  case Op::Rsqrt:
    out = fa(0).rsqrt();
    return;
  case Op::Reciprocal:
    out = fa(0).inverse();
    return;
  case Op::Sigmoid:
    out = fa(0).logistic();
    return;
  case Op::Sin:
    out = fa(0).sin();
    return;
  case Op::Cos:
    out = fa(0).cos();
    return;
  case Op::Floor:
    out = fa(0).floor();
    return;
  case Op::Ceil:
    out = fa(0).ceil();
    return;
  case Op::Round:
    for (int64_t i = 0; i < n; ++i)
      f[i] = std::nearbyint(x[i]);
    return;
  case Op::Compare: {
    // The operands' domain decides, not the (bool) result's.
    bool floatOperands = fr[step.args[0]] != nullptr && step.args.size() == 2 &&
                         fr[step.args[1]] != nullptr;
    if (floatOperands)
      for (int64_t i = 0; i < n; ++i)
        v[i] = compareValues(step.direction, x[i], y[i]);
    else
      for (int64_t i = 0; i < n; ++i)
        v[i] = compareValues(step.direction, a[i], b[i]);
    return;
  }
  case Op::Select: {
    const int64_t *p = ir[step.args[0]];
    if (step.isFloat) {
      const F *t = fr[step.args[1]], *e = fr[step.args[2]];
      for (int64_t i = 0; i < n; ++i)
        f[i] = p[i] ? t[i] : e[i];
    } else {
      const int64_t *t = ir[step.args[1]], *e = ir[step.args[2]];
      for (int64_t i = 0; i < n; ++i)
        v[i] = p[i] ? t[i] : e[i];
    }
    return;
  }
  case Op::Convert: {
    bool fromFloat = fr[step.args[0]] != nullptr;
    if (step.isFloat && fromFloat)
      out = fa(0);
    else if (step.isFloat)
      for (int64_t i = 0; i < n; ++i)
        f[i] = static_cast<F>(a[i]);
    else if (fromFloat && step.type == proto::I1)
      for (int64_t i = 0; i < n; ++i)
        v[i] = x[i] != 0;
    else if (fromFloat && step.type == proto::U64)
      for (int64_t i = 0; i < n; ++i)
        v[i] = saturatingUnsigned(x[i]);
    else if (fromFloat)
      for (int64_t i = 0; i < n; ++i)
        v[i] = saturatingInt(x[i]);
    else
      std::copy(a, a + n, v);
    return;
  }
  case Op::Clamp:
    if (step.isFloat) {
      F low = step.hasMin ? static_cast<F>(step.min) : -INFINITY;
      F high = step.hasMax ? static_cast<F>(step.max) : INFINITY;
      for (int64_t i = 0; i < n; ++i)
        f[i] = std::isnan(x[i]) ? x[i] : std::min(std::max(x[i], low), high);
    } else {
      int64_t low = step.hasMin ? static_cast<int64_t>(std::ceil(step.min))
                                : std::numeric_limits<int64_t>::min();
      int64_t high = step.hasMax ? static_cast<int64_t>(std::floor(step.max))
                                 : std::numeric_limits<int64_t>::max();
      for (int64_t i = 0; i < n; ++i)
        v[i] = std::min(std::max(a[i], low), high);
    }
    return;
  }
}

template <typename T, typename In, typename Convert>
void scatter(void *data, int64_t start, const In *values, int64_t n,
             Convert convert) {
  T *out = static_cast<T *>(data) + start;
  for (int64_t i = 0; i < n; ++i)
    out[i] = convert(values[i]);
}

template <typename F> float makeFloat(F v) { return static_cast<float>(v); }
template <typename F> double makeDouble(F v) { return v; }
template <typename F> Half makeHalf(F v) {
  return toHalf(static_cast<float>(v));
}
template <typename F> BFloat16 makeBFloat16(F v) {
  return toBFloat16(static_cast<float>(v));
}
constexpr auto makeInt32 = [](int64_t v) { return static_cast<int32_t>(v); };
constexpr auto keepInt = [](int64_t v) { return v; };
constexpr auto makeBool = [](int64_t v) {
  return static_cast<uint8_t>(v != 0);
};

template <typename F>
void store(const TensorView &result, int64_t start, const F *f,
           const int64_t *v, int64_t n) {
  switch (result.type) {
  case proto::F32:
    return scatter<float>(result.data, start, f, n, makeFloat<F>);
  case proto::F64:
    return scatter<double>(result.data, start, f, n, makeDouble<F>);
  case proto::F16:
    return scatter<Half>(result.data, start, f, n, makeHalf<F>);
  case proto::BF16:
    return scatter<BFloat16>(result.data, start, f, n, makeBFloat16<F>);
  case proto::I32:
    return scatter<int32_t>(result.data, start, v, n, makeInt32);
  case proto::I64:
    return scatter<int64_t>(result.data, start, v, n, keepInt);
  case proto::I1:
    return scatter<uint8_t>(result.data, start, v, n, makeBool);
  default: // Narrow and unsigned integers.
    for (int64_t i = 0; i < n; ++i)
      storeInt(result.data, result.type, start + i, v[i]);
    return;
  }
}

/// Runs the steps over the result in blocks, float steps in the lane F.
template <typename F>
void runBlocks(KernelContext &context, const std::vector<Step> &steps,
               const std::vector<Access> &accesses,
               const std::vector<int64_t> &outputs) {
  int64_t total = context.results[0].numElements();
  int64_t blocks = (total + kBlock - 1) / kBlock;
  size_t stepCount = steps.size();
  context.pool.parallelFor(
      blocks, std::max<int64_t>(1, 8192 / kBlock),
      [&](int64_t firstBlock, int64_t lastBlock) {
        thread_local std::vector<F> floats;
        thread_local std::vector<int64_t> ints;
        floats.resize(stepCount * kBlock);
        ints.resize(stepCount * kBlock);
        absl::InlinedVector<F *, 32> fr(stepCount, nullptr);
        absl::InlinedVector<int64_t *, 32> ir(stepCount, nullptr);
        for (size_t s = 0; s < stepCount; ++s) {
          if (steps[s].isFloat)
            fr[s] = floats.data() + s * kBlock;
          else
            ir[s] = ints.data() + s * kBlock;
        }
        for (int64_t block = firstBlock; block < lastBlock; ++block) {
          int64_t start = block * kBlock;
          int64_t n = std::min(kBlock, total - start);
          for (size_t s = 0; s < stepCount; ++s) {
            const Step &step = steps[s];
            if (step.op == Op::Load) {
              const Access &access = accesses[step.args[0]];
              if (step.isFloat)
                loadFloats(access, start, n, fr[s]);
              else
                loadInts(access, start, n, ir[s]);
              continue;
            }
            evaluate(step, n, fr[s], ir[s], fr.data(), ir.data());
            if (step.isFloat)
              roundFloats(step.type, fr[s], n);
            else
              wrapInts(step.type, ir[s], n);
          }
          for (size_t r = 0; r < outputs.size(); ++r)
            store(context.results[r], start, fr[outputs[r]], ir[outputs[r]], n);
        }
      });
}

/// A fusion ready to run: its steps parsed and its operands' accesses
/// built, kept in the instruction's state across runs (for the operands'
/// bytes it was built for).
struct FusionPlan : KernelState {
  std::vector<const void *> data;
  std::vector<Access> accesses;
  std::vector<Step> steps;
  std::vector<int64_t> outputs;
  bool f64 = false;

  bool builtFor(const KernelContext &context) const {
    if (data.size() != context.operands.size())
      return false;
    for (size_t k = 0; k < data.size(); ++k)
      if (data[k] != context.operands[k].data)
        return false;
    return true;
  }
};

absl::Status planFusion(const KernelContext &context, FusionPlan &plan) {
  const proto::Fusion &fusion = context.instruction.fusion();
  if (context.results.empty())
    return context.error("a fusion needs a result");
  const std::vector<int64_t> &dims = context.results[0].dims;
  int64_t rank = dims.size();
  for (const TensorView &result : context.results)
    if (result.dims != dims)
      return context.error("the results of a fusion must have one shape");
  if (fusion.operand_dims_size() != static_cast<int>(context.operands.size()))
    return context.error("operand_dims must have one entry per operand");

  std::vector<Access> &accesses = plan.accesses;
  for (size_t k = 0; k < context.operands.size(); ++k) {
    const TensorView &operand = context.operands[k];
    plan.data.push_back(operand.data);
    const proto::Ints &mapping = fusion.operand_dims(k);
    if (mapping.values_size() != operand.rank())
      return context.error(absl::StrCat("operand ", k, " has rank ",
                                        operand.rank(), " but ",
                                        mapping.values_size(), " dims"));
    std::vector<int64_t> resultStrides(rank, 0);
    std::vector<int64_t> strides = operand.strides();
    for (int64_t i = 0; i < operand.rank(); ++i) {
      int64_t d = mapping.values(i);
      if (d < 0 || d >= rank ||
          (operand.dims[i] != 1 && operand.dims[i] != dims[d]))
        return context.error(absl::StrCat("operand ", k, " dimension ", i,
                                          " does not broadcast"));
      if (operand.dims[i] != 1)
        resultStrides[d] = strides[i];
    }
    accesses.push_back(
        collapsedAccess(operand.data, operand.type, dims, resultStrides));
  }

  std::vector<Step> &steps = plan.steps;
  for (const proto::FusionStep &source : fusion.steps()) {
    Op op;
    if (!stepOpNamed(source.op(), op))
      return context.error(
          absl::StrCat("unknown fusion step '", source.op(), "'"));
    Step step{op,
              {source.args().begin(), source.args().end()},
              source.element_type(),
              isFloatType(source.element_type())};
    for (int64_t arg : step.args)
      if (step.op != Op::Load &&
          (arg < 0 || arg >= static_cast<int64_t>(steps.size())))
        return context.error("a fusion step reads a later step");
    if (step.op == Op::Load &&
        (step.args.size() != 1 || step.args[0] < 0 ||
         step.args[0] >= static_cast<int64_t>(accesses.size())))
      return context.error("a load step names no operand");
    StepAttributes attributes = stepAttributes(source);
    step.value = attributes.value;
    step.direction = attributes.direction;
    step.hasMin = attributes.hasMin;
    step.min = attributes.min;
    step.hasMax = attributes.hasMax;
    step.max = attributes.max;
    if (step.op == Op::Pow && steps[step.args[1]].op == Op::Constant)
      step.constantExponent = steps[step.args[1]].value;
    if (step.op != Op::Load && step.op != Op::Constant && !step.args.empty())
      step.unsignedOperand = steps[step.args[0]].type == proto::U64;
    if (step.op == Op::Pow)
      step.unsignedExponent = steps[step.args[1]].type == proto::U64;
    steps.push_back(std::move(step));
  }
  std::vector<int64_t> &outputs = plan.outputs;
  outputs.assign(fusion.outputs().begin(), fusion.outputs().end());
  if (outputs.size() != context.results.size())
    return context.error("a fusion needs one output step per result");
  for (int64_t output : outputs)
    if (output < 0 || output >= static_cast<int64_t>(steps.size()))
      return context.error("an output names no step");

  plan.f64 = std::any_of(steps.begin(), steps.end(), [](const Step &step) {
    return step.type == proto::F64;
  });
  return absl::OkStatus();
}

absl::Status fusionKernel(KernelContext &context) {
  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState> &slot = context.state ? *context.state : local;
  auto *plan = dynamic_cast<FusionPlan *>(slot.get());
  if (!plan || !plan->builtFor(context)) {
    auto fresh = std::make_unique<FusionPlan>();
    if (absl::Status status = planFusion(context, *fresh); !status.ok())
      return status;
    plan = fresh.get();
    slot = std::move(fresh);
  }
  if (plan->f64)
    runBlocks<double>(context, plan->steps, plan->accesses, plan->outputs);
  else
    runBlocks<float>(context, plan->steps, plan->accesses, plan->outputs);
  return absl::OkStatus();
}

} // namespace

StepAttributes stepAttributes(const proto::FusionStep &step) {
  StepAttributes attributes;
  auto find = [&](const char *name) -> const proto::Attribute * {
    auto it = step.attributes().find(name);
    return it == step.attributes().end() ? nullptr : &it->second;
  };
  if (const proto::Attribute *value = find("value"))
    attributes.value = value->f();
  if (const proto::Attribute *direction = find("direction"))
    attributes.direction = direction->i();
  if (const proto::Attribute *min = find("min")) {
    attributes.hasMin = true;
    attributes.min = min->f();
  }
  if (const proto::Attribute *max = find("max")) {
    attributes.hasMax = true;
    attributes.max = max->f();
  }
  return attributes;
}

bool stepOpNamed(const std::string &name, StepOp &op) {
  static const std::unordered_map<std::string, StepOp> names = {
      {"load", StepOp::Load},
      {"constant", StepOp::Constant},
      {"add", StepOp::Add},
      {"sub", StepOp::Sub},
      {"mul", StepOp::Mul},
      {"div", StepOp::Div},
      {"rem", StepOp::Rem},
      {"shift_left", StepOp::ShiftLeft},
      {"shift_right", StepOp::ShiftRight},
      {"max", StepOp::Max},
      {"min", StepOp::Min},
      {"pow", StepOp::Pow},
      {"and", StepOp::And},
      {"or", StepOp::Or},
      {"xor", StepOp::Xor},
      {"not", StepOp::Not},
      {"neg", StepOp::Neg},
      {"abs", StepOp::Abs},
      {"sign", StepOp::Sign},
      {"relu", StepOp::Relu},
      {"exp", StepOp::Exp},
      {"log", StepOp::Log},
      {"tanh", StepOp::Tanh},
      {"erf", StepOp::Erf},
      {"sqrt", StepOp::Sqrt},
      {"rsqrt", StepOp::Rsqrt},
      {"reciprocal", StepOp::Reciprocal},
      {"sigmoid", StepOp::Sigmoid},
      {"sin", StepOp::Sin},
      {"cos", StepOp::Cos},
      {"floor", StepOp::Floor},
      {"ceil", StepOp::Ceil},
      {"round", StepOp::Round},
      {"compare", StepOp::Compare},
      {"select", StepOp::Select},
      {"convert", StepOp::Convert},
      {"clamp", StepOp::Clamp}};
  auto it = names.find(name);
  if (it == names.end())
    return false;
  op = it->second;
  return true;
}

int stepArity(StepOp op) {
  switch (op) {
  case StepOp::Constant:
    return 0;
  case StepOp::Select:
    return 3;
  case StepOp::Add:
  case StepOp::Sub:
  case StepOp::Mul:
  case StepOp::Div:
  case StepOp::Rem:
  case StepOp::ShiftLeft:
  case StepOp::ShiftRight:
  case StepOp::Max:
  case StepOp::Min:
  case StepOp::Pow:
  case StepOp::And:
  case StepOp::Or:
  case StepOp::Xor:
  case StepOp::Compare:
    return 2;
  default:
    return 1;
  }
}

/// A fusion reads its operands through any dimension mapping, so each
/// operand and its results may be channels-last (its results together: they
/// share one index space).
static void fusionChannelsLastSlots(const KernelContext &logical,
                                    std::vector<bool> &operands,
                                    std::vector<bool> &results) {
  for (size_t k = 0; k < operands.size(); ++k)
    operands[k] = logical.operands[k].rank() >= 3;
  bool all = !results.empty() && logical.results[0].rank() >= 3;
  std::fill(results.begin(), results.end(), all);
}

/// The fusion over its results' memory order: operand k's memory dimension
/// j is its logical dimension order[j], which reads result dimension
/// operand_dims[k][order[j]], found in memory at position inverse[...].
static void fusionChannelsLastRewrite(const KernelContext &logical,
                                      const std::vector<bool> &operands,
                                      const std::vector<bool> &results,
                                      proto::Instruction &instruction) {
  int64_t rank = logical.results[0].rank();
  std::vector<int64_t> resultOrder(rank), inverse(rank);
  for (int64_t d = 0; d < rank; ++d)
    resultOrder[d] = d;
  if (!results.empty() && results[0])
    resultOrder = channelsLastOrder(rank);
  for (int64_t p = 0; p < rank; ++p)
    inverse[resultOrder[p]] = p;
  proto::Fusion &fusion = *instruction.mutable_fusion();
  for (size_t k = 0; k < operands.size(); ++k) {
    proto::Ints &mapping = *fusion.mutable_operand_dims(k);
    std::vector<int64_t> logicalMap(mapping.values().begin(),
                                    mapping.values().end());
    int64_t operandRank = logicalMap.size();
    std::vector<int64_t> order(operandRank);
    for (int64_t j = 0; j < operandRank; ++j)
      order[j] = j;
    if (operands[k])
      order = channelsLastOrder(operandRank);
    for (int64_t j = 0; j < operandRank; ++j) {
      int64_t d = logicalMap[order[j]];
      mapping.set_values(j, d >= 0 && d < rank ? inverse[d] : d);
    }
  }
}

void registerElementwiseKernels() {
  registerChannelsLast("fusion",
                       {fusionChannelsLastSlots, fusionChannelsLastRewrite});
  registerKernel("fusion", fusionKernel, Wide::Taken);
}

} // namespace tessel::kernels
