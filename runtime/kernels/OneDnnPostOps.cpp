//===- OneDnnPostOps.cpp - Fusions computed inside oneDNN kernels ---------===//

#include "runtime/kernels/OneDnnPostOps.h"

#include <cmath>
#include <limits>
#include <set>

#include "runtime/kernels/FusionSteps.h"

namespace tessel::kernels {
namespace {

/// An open side of a clip: infinities pass through as the fusion's clamp
/// lets them (FLT_MAX would clip them).
constexpr float kInfinity = std::numeric_limits<float>::infinity();

/// The steps of a GELU written out over the value of step `x`: which steps
/// (all after x), the last, and its post-op.
struct GeluMatch {
  std::set<int> members;
  int end = -1;
  dnnl::algorithm algorithm = dnnl::algorithm::undef;
};

/// Recognises 0.5 * x * (1 + tanh(0.79788 * (x + 0.044715 * x^3))) and
/// 0.5 * x * (1 + erf(x / sqrt 2)) in any order of their products and sums,
/// ending at some step after `first` that reads x.
class GeluMatcher {
public:
  GeluMatcher(const proto::Fusion &fusion, int x) : fusion(fusion), x(x) {}

  std::optional<GeluMatch> at(int end) {
    members.clear();
    std::vector<int> factors;
    if (!flatten(end, StepOp::Mul, factors) || factors.size() != 3)
      return std::nullopt;
    // x, 0.5 and (1 + tanh(...)) or (1 + erf(...)).
    int half = -1, self = -1, sum = -1;
    for (int f : factors) {
      if (f == x && self < 0)
        self = f;
      else if (isConstant(f, 0.5) && half < 0)
        half = f;
      else
        sum = f;
    }
    if (half < 0 || self < 0 || sum < 0)
      return std::nullopt;
    std::vector<int> terms;
    if (!flatten(sum, StepOp::Add, terms) || terms.size() != 2)
      return std::nullopt;
    int one = isConstant(terms[0], 1) ? 0 : isConstant(terms[1], 1) ? 1 : -1;
    if (one < 0)
      return std::nullopt;
    int inner = terms[1 - one];
    GeluMatch match;
    if (is(inner, StepOp::Tanh) && tanhArgument(argument(inner, 0)))
      match.algorithm = dnnl::algorithm::eltwise_gelu_tanh;
    else if (is(inner, StepOp::Erf) && erfArgument(argument(inner, 0)))
      match.algorithm = dnnl::algorithm::eltwise_gelu_erf;
    else
      return std::nullopt;
    members.insert(inner);
    match.members = members;
    match.end = end;
    return match;
  }

private:
  bool is(int s, StepOp op) const {
    StepOp actual;
    return s >= 0 && s < fusion.steps_size() &&
           stepOpNamed(fusion.steps(s).op(), actual) && actual == op &&
           fusion.steps(s).element_type() == proto::F32;
  }
  /// Argument i of step s, if it names an earlier step (else -1: the walk
  /// never loops, whatever the executable says).
  int argument(int s, int i) const {
    const proto::FusionStep &step = fusion.steps(s);
    if (i >= step.args_size() || step.args(i) < 0 || step.args(i) >= s)
      return -1;
    return static_cast<int>(step.args(i));
  }
  bool isConstant(int s, double value) const {
    if (!is(s, StepOp::Constant))
      return false;
    double c = stepAttributes(fusion.steps(s)).value;
    return std::fabs(c - value) <= 1e-4 * std::fabs(value);
  }
  /// The leaves of a tree of `op` (a binary op) under step `s`, x one of
  /// them whatever computed it.
  bool flatten(int s, StepOp op, std::vector<int> &leaves) {
    if (s < 0 || s >= fusion.steps_size())
      return false;
    if (s != x && is(s, op) && fusion.steps(s).args_size() == 2) {
      members.insert(s);
      return flatten(argument(s, 0), op, leaves) &&
             flatten(argument(s, 1), op, leaves);
    }
    leaves.push_back(s);
    return true;
  }
  /// x^3: pow(x, 3), or x * x * x.
  bool cube(const std::vector<int> &factors, size_t skip) {
    std::vector<int> rest;
    for (size_t i = 0; i < factors.size(); ++i)
      if (i != skip)
        rest.push_back(factors[i]);
    if (rest.size() == 1 && is(rest[0], StepOp::Pow) &&
        argument(rest[0], 0) == x && isConstant(argument(rest[0], 1), 3)) {
      members.insert(rest[0]);
      return true;
    }
    return rest.size() == 3 &&
           std::all_of(rest.begin(), rest.end(), [&](int f) { return f == x; });
  }
  /// 0.79788 * (x + 0.044715 * x^3).
  bool tanhArgument(int s) {
    std::vector<int> factors;
    if (!flatten(s, StepOp::Mul, factors) || factors.size() != 2)
      return false;
    int scale = isConstant(factors[0], 0.7978845608)   ? 0
                : isConstant(factors[1], 0.7978845608) ? 1
                                                       : -1;
    if (scale < 0)
      return false;
    std::vector<int> terms;
    if (!flatten(factors[1 - scale], StepOp::Add, terms) || terms.size() != 2)
      return false;
    int self = terms[0] == x ? 0 : terms[1] == x ? 1 : -1;
    if (self < 0)
      return false;
    std::vector<int> cubic;
    if (!flatten(terms[1 - self], StepOp::Mul, cubic))
      return false;
    for (size_t i = 0; i < cubic.size(); ++i)
      if (isConstant(cubic[i], 0.044715) && cube(cubic, i))
        return true;
    return false;
  }
  /// x / sqrt 2, or x * (1 / sqrt 2).
  bool erfArgument(int s) {
    if (is(s, StepOp::Div) && argument(s, 0) == x &&
        isConstant(argument(s, 1), 1.4142135623730951)) {
      members.insert(s);
      return true;
    }
    std::vector<int> factors;
    return flatten(s, StepOp::Mul, factors) && factors.size() == 2 &&
           ((factors[0] == x && isConstant(factors[1], 0.7071067811865476)) ||
            (factors[1] == x && isConstant(factors[0], 0.7071067811865476)));
  }

  const proto::Fusion &fusion;
  int x;
  std::set<int> members;
};

/// A GELU over step `x` whose first step reading x is `first`: the match
/// ending at the latest step that completes one.
std::optional<GeluMatch> matchGelu(const proto::Fusion &fusion, int x,
                                   int first) {
  GeluMatcher matcher(fusion, x);
  for (int end = fusion.steps_size() - 1; end >= first; --end)
    if (std::optional<GeluMatch> match = matcher.at(end))
      if (*match->members.begin() >= first)
        return match;
  return std::nullopt;
}

} // namespace

std::optional<std::vector<PostOp>> postOpsOf(const KernelEpilogue &e) {
  const proto::Fusion &fusion = *e.fusion;
  const TensorView &result = e.result;
  if (result.type != proto::F32 || result.rank() < 1 ||
      fusion.outputs_size() != 1 ||
      fusion.operand_dims_size() != static_cast<int>(e.operands.size()))
    return std::nullopt;
  int64_t rank = result.rank(), channels = result.dims[rank - 1];
  // What each step holds: the chain's value (from the convolution's result
  // through post-ops), an operand, a constant, or something else.
  // A sum of operands (a residual plus the bias of its own folded batch
  // norm) is added to the chain one operand after the other.
  enum class Kind { Chain, Operand, Sum, Constant, Other };
  struct Value {
    Kind kind = Kind::Other;
    PostOp::Side side = PostOp::Side::None;
    int operand = -1;
    double constant = 0;
    std::vector<std::pair<PostOp::Side, int>> terms; // Of a Sum.
  };
  auto termsOf = [](const Value &v) {
    return v.kind == Kind::Sum
               ? v.terms
               : std::vector<std::pair<PostOp::Side, int>>{{v.side, v.operand}};
  };
  std::vector<Value> values;
  std::vector<PostOp> ops;
  int chain = -1;
  auto eltwise = [&](dnnl::algorithm algorithm, float alpha, float beta) {
    PostOp op;
    op.algorithm = algorithm;
    op.alpha = alpha;
    op.beta = beta;
    ops.push_back(op);
  };
  // Steps of a GELU written out, computed by one post-op: skipped, their
  // values unavailable to other steps; its last step continues the chain.
  std::vector<bool> inGelu(fusion.steps_size(), false);
  int geluEnd = -1;
  for (int s = 0; s < fusion.steps_size(); ++s) {
    const proto::FusionStep &step = fusion.steps(s);
    StepOp op;
    if (!stepOpNamed(step.op(), op))
      return std::nullopt;
    Value value;
    if (s == geluEnd) {
      value.kind = Kind::Chain;
      chain = s;
    } else if (inGelu[s]) {
      value.kind = Kind::Other;
    } else if (op == StepOp::Load) {
      if (step.args_size() != 1 || step.args(0) < 0 ||
          step.args(0) >= static_cast<int64_t>(e.operands.size()))
        return std::nullopt;
      int k = static_cast<int>(step.args(0));
      if (k == e.operand) {
        if (chain >= 0 || step.element_type() != proto::F32)
          return std::nullopt; // Read twice: not one chain.
        value.kind = Kind::Chain;
        chain = s;
      } else {
        const TensorView &operand = e.operands[k];
        const proto::Ints &mapping = fusion.operand_dims(k);
        bool identity = operand.rank() == rank && mapping.values_size() == rank;
        for (int64_t i = 0; i < rank && identity; ++i)
          identity = mapping.values(i) == i;
        // Per channel: every dimension but one of 1, read along the
        // result's channels (its last memory dimension).
        int wide = 0;
        bool perChannel = mapping.values_size() == operand.rank();
        for (int64_t i = 0; i < operand.rank() && perChannel; ++i) {
          if (operand.dims[i] == 1)
            continue;
          ++wide;
          perChannel =
              mapping.values(i) == rank - 1 && operand.dims[i] == channels;
        }
        if (operand.type != proto::F32)
          value.kind = Kind::Other;
        else if (identity && operand.dims == result.dims)
          value = {Kind::Operand, PostOp::Side::Whole, k, 0};
        else if (perChannel)
          value = {Kind::Operand,
                   wide ? PostOp::Side::PerChannel : PostOp::Side::Scalar, k,
                   0};
      }
    } else if (op == StepOp::Constant) {
      value.kind = Kind::Constant;
      value.constant = stepAttributes(step).value;
    } else {
      bool readsChain = false;
      for (int64_t arg : step.args()) {
        if (arg < 0 || arg >= s)
          return std::nullopt;
        if (values[arg].kind == Kind::Chain) {
          if (arg != chain)
            return std::nullopt; // The chain branches.
          readsChain = true;
        }
      }
      std::optional<GeluMatch> gelu;
      if (readsChain)
        gelu = matchGelu(fusion, chain, s);
      if (gelu) {
        eltwise(gelu->algorithm, 0, 0);
        for (int member : gelu->members)
          inGelu[member] = true;
        geluEnd = gelu->end;
        value.kind = Kind::Other; // This step is the GELU's.
      } else if (readsChain) {
        if (step.element_type() != proto::F32)
          return std::nullopt;
        StepAttributes attributes = stepAttributes(step);
        if (step.args_size() == 1) {
          switch (op) {
          case StepOp::Relu:
            eltwise(dnnl::algorithm::eltwise_relu, 0, 0);
            break;
          case StepOp::Clamp:
            eltwise(dnnl::algorithm::eltwise_clip,
                    attributes.hasMin ? attributes.min : -kInfinity,
                    attributes.hasMax ? attributes.max : kInfinity);
            break;
          case StepOp::Tanh:
            eltwise(dnnl::algorithm::eltwise_tanh, 0, 0);
            break;
          case StepOp::Sigmoid:
            eltwise(dnnl::algorithm::eltwise_logistic, 0, 0);
            break;
          case StepOp::Exp:
            eltwise(dnnl::algorithm::eltwise_exp, 0, 0);
            break;
          case StepOp::Abs:
            eltwise(dnnl::algorithm::eltwise_abs, 0, 0);
            break;
          case StepOp::Sqrt:
            eltwise(dnnl::algorithm::eltwise_sqrt, 0, 0);
            break;
          case StepOp::Neg:
            eltwise(dnnl::algorithm::eltwise_linear, -1, 0);
            break;
          default:
            return std::nullopt;
          }
        } else if (step.args_size() == 2) {
          bool chainFirst = step.args(0) == chain;
          const Value &other = values[step.args(chainFirst ? 1 : 0)];
          if (other.kind == Kind::Constant) {
            auto c = static_cast<float>(other.constant);
            switch (op) {
            case StepOp::Add:
              eltwise(dnnl::algorithm::eltwise_linear, 1, c);
              break;
            case StepOp::Sub:
              eltwise(dnnl::algorithm::eltwise_linear, chainFirst ? 1 : -1,
                      chainFirst ? -c : c);
              break;
            case StepOp::Mul:
              eltwise(dnnl::algorithm::eltwise_linear, c, 0);
              break;
            case StepOp::Max:
              if (c == 0)
                eltwise(dnnl::algorithm::eltwise_relu, 0, 0);
              else
                eltwise(dnnl::algorithm::eltwise_clip, c, kInfinity);
              break;
            case StepOp::Min:
              eltwise(dnnl::algorithm::eltwise_clip, -kInfinity, c);
              break;
            default:
              return std::nullopt;
            }
          } else if (other.kind == Kind::Sum && op == StepOp::Add) {
            for (auto [side, operand] : other.terms) {
              PostOp post;
              post.kind = side;
              post.side = operand;
              post.algorithm = dnnl::algorithm::binary_add;
              ops.push_back(post);
            }
          } else if (other.kind == Kind::Operand) {
            PostOp post;
            post.kind = other.side;
            post.side = other.operand;
            switch (op) {
            case StepOp::Add:
              post.algorithm = dnnl::algorithm::binary_add;
              break;
            case StepOp::Mul:
              post.algorithm = dnnl::algorithm::binary_mul;
              break;
            case StepOp::Max:
              post.algorithm = dnnl::algorithm::binary_max;
              break;
            case StepOp::Min:
              post.algorithm = dnnl::algorithm::binary_min;
              break;
            case StepOp::Sub:
              post.algorithm = dnnl::algorithm::binary_sub;
              break;
            case StepOp::Div:
              post.algorithm = dnnl::algorithm::binary_div;
              break;
            default:
              return std::nullopt;
            }
            if (!chainFirst && (op == StepOp::Sub || op == StepOp::Div))
              return std::nullopt;
            ops.push_back(post);
          } else {
            return std::nullopt;
          }
        } else {
          return std::nullopt;
        }
        value.kind = Kind::Chain;
        chain = s;
      } else if (op == StepOp::Add && step.args_size() == 2 &&
                 step.element_type() == proto::F32) {
        const Value &x = values[step.args(0)], &y = values[step.args(1)];
        bool terms = (x.kind == Kind::Operand || x.kind == Kind::Sum) &&
                     (y.kind == Kind::Operand || y.kind == Kind::Sum);
        if (terms) {
          value.kind = Kind::Sum;
          value.terms = termsOf(x);
          for (const auto &term : termsOf(y))
            value.terms.push_back(term);
        }
      }
    }
    values.push_back(value);
  }
  if (chain < 0 || fusion.outputs(0) != chain)
    return std::nullopt;
  return ops;
}

bool postOpsTake(const proto::Fusion &fusion, int operand,
                 const std::vector<TensorView> &operands,
                 const TensorView &result) {
  KernelEpilogue epilogue;
  epilogue.fusion = &fusion;
  epilogue.operand = operand;
  epilogue.operands = operands;
  epilogue.result = result;
  return postOpsOf(epilogue).has_value();
}

void bindSides(const std::vector<PostOp> &ops,
               const std::vector<dnnl::memory::desc> &descriptions,
               const dnnl::engine &engine, std::vector<dnnl::memory> &sides,
               std::unordered_map<int, dnnl::memory> &arguments) {
  size_t binary = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind == PostOp::Side::None)
      continue;
    sides.push_back(
        dnnl::memory(descriptions[binary++], engine, DNNL_MEMORY_NONE));
    arguments[DNNL_ARG_ATTR_MULTIPLE_POST_OP(static_cast<int>(i)) |
              DNNL_ARG_SRC_1] = sides.back();
  }
}

void setSideHandles(const std::vector<PostOp> &ops,
                    const KernelEpilogue &epilogue,
                    std::vector<dnnl::memory> &sides, int64_t firstChannel,
                    int64_t wholeOffset) {
  size_t binary = 0;
  for (const PostOp &op : ops) {
    if (op.kind == PostOp::Side::None)
      continue;
    float *side = epilogue.operands[op.side].as<float>();
    if (op.kind == PostOp::Side::PerChannel)
      side += firstChannel;
    else if (op.kind == PostOp::Side::Whole)
      side += wholeOffset;
    sides[binary++].set_data_handle(side);
  }
}

bool onlyReference(const dnnl::primitive_desc &description) {
  return std::string(description.impl_info_str()).rfind("ref", 0) == 0;
}

} // namespace tessel::kernels
