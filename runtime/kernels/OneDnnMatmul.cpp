//===- OneDnnMatmul.cpp - Matrix products on oneDNN's matmul --------------===//

#include "runtime/kernels/OneDnnMatmul.h"

#include <string>
#include <unordered_map>

#include "runtime/kernels/OpenMp.h"

namespace tessel::kernels {
namespace {

using Dims = dnnl::memory::dims;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;

/// Rows [firstRow, lastRow) of the product.
struct Piece {
  int64_t firstRow = 0, lastRow = 0;
  dnnl::matmul primitive;
  dnnl::memory source, weights, destination, scratch;
  std::vector<dnnl::memory> sides; // The post-ops' operands.
  std::unordered_map<int, dnnl::memory> arguments;
  dnnl::stream stream;
};

struct MatmulState : KernelState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  MatmulShape shape;
  std::vector<Piece> pieces;
  // Weights as given, and packed (pieces with the same packed layout share
  // one copy).
  dnnl::memory plainWeights;
  std::vector<std::pair<dnnl::memory, dnnl::reorder>> packs;
  const void *packedFrom = nullptr;
  std::vector<PostOp> postOps;
  bool epilogue = false;
  bool unsupported = false;
  /// Whether the pieces' scratch is the device workspace's (prepared with
  /// one) rather than their own (prepared by a caller without one).
  bool sharedScratch = false;
};

bool prepare(MatmulState &state, ThreadPool &pool, Workspace *workspace,
             const MatmulShape &shape, const KernelEpilogue *epilogue) {
  state.shape = shape;
  state.pieces.clear();
  state.packs.clear();
  state.postOps.clear();
  state.epilogue = false;
  if (epilogue) {
    if (std::optional<std::vector<PostOp>> ops = postOpsOf(*epilogue)) {
      state.epilogue = true;
      state.postOps = std::move(*ops);
    }
  }
  state.sharedScratch = workspace != nullptr;
  Dims weightDims = {shape.k, shape.n};
  dnnl::memory::desc plain(weightDims, kF32,
                           shape.weightsTransposed ? Tag::ba : Tag::ab);
  state.plainWeights = dnnl::memory(plain, state.engine, DNNL_MEMORY_NONE);
  // One piece per thread, of 16 rows at least.
  int64_t pieces =
      std::max<int64_t>(1, std::min<int64_t>(pool.size(), shape.m / 16));
  for (int64_t p = 0; p < pieces; ++p) {
    Piece piece;
    piece.firstRow = shape.m * p / pieces;
    piece.lastRow = shape.m * (p + 1) / pieces;
    int64_t rows = piece.lastRow - piece.firstRow;
    // A transposed left operand's rows are columns of its [k, m] storage.
    dnnl::memory::desc source =
        shape.sourceTransposed
            ? dnnl::memory::desc({rows, shape.k}, kF32, Dims{1, shape.m})
            : dnnl::memory::desc({rows, shape.k}, kF32, Tag::ab);
    dnnl::memory::desc destination({rows, shape.n}, kF32, Tag::ab);
    dnnl::memory::desc weights =
        shape.packWeights ? dnnl::memory::desc(weightDims, kF32, Tag::any)
                          : plain;
    dnnl::primitive_attr attributes;
    attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    std::vector<dnnl::memory::desc> sides;
    if (!state.postOps.empty())
      attributes.set_post_ops(makePostOps(
          state.postOps,
          [&](const PostOp &op) {
            Dims dims = op.kind == PostOp::Side::Whole    ? Dims{rows, shape.n}
                        : op.kind == PostOp::Side::Scalar ? Dims{1, 1}
                                                          : Dims{1, shape.n};
            return dnnl::memory::desc(dims, kF32, Tag::ab);
          },
          sides));
    dnnl::matmul::primitive_desc primitive(
        dnnl::matmul::desc(source, weights, destination), attributes,
        state.engine);
    if (onlyReference(primitive))
      return false;
    piece.primitive = dnnl::matmul(primitive);
    piece.source =
        dnnl::memory(primitive.src_desc(), state.engine, DNNL_MEMORY_NONE);
    piece.destination =
        dnnl::memory(primitive.dst_desc(), state.engine, DNNL_MEMORY_NONE);
    // Scratch from the device's workspace where there is one (its piece
    // p, bound at every run), else the piece's own.
    if (workspace) {
      workspace->reserve(p, primitive.scratchpad_desc().get_size());
      piece.scratch = dnnl::memory(primitive.scratchpad_desc(), state.engine,
                                   DNNL_MEMORY_NONE);
    } else {
      piece.scratch = dnnl::memory(primitive.scratchpad_desc(), state.engine);
    }
    if (!shape.packWeights) {
      piece.weights = dnnl::memory(plain, state.engine, DNNL_MEMORY_NONE);
    } else {
      for (auto &[packed, reorder] : state.packs)
        if (packed.get_desc() == primitive.weights_desc())
          piece.weights = packed;
      if (!piece.weights) {
        piece.weights = dnnl::memory(primitive.weights_desc(), state.engine);
        state.packs.emplace_back(
            piece.weights, dnnl::reorder(state.plainWeights, piece.weights));
      }
    }
    piece.stream = dnnl::stream(state.engine);
    piece.arguments = {{DNNL_ARG_SRC, piece.source},
                       {DNNL_ARG_WEIGHTS, piece.weights},
                       {DNNL_ARG_DST, piece.destination},
                       {DNNL_ARG_SCRATCHPAD, piece.scratch}};
    bindSides(state.postOps, sides, state.engine, piece.sides, piece.arguments);
    state.pieces.push_back(std::move(piece));
  }
  return true;
}

} // namespace

std::optional<MatmulShape> matmulShapeOf(const KernelContext &context) {
  if (context.operands.size() < 2 || context.results.empty())
    return std::nullopt;
  const TensorView &lhs = context.operands[0], &rhs = context.operands[1];
  const TensorView &result = context.results[0];
  if (lhs.type != proto::F32 || rhs.type != proto::F32 ||
      result.type != proto::F32 || rhs.rank() < 1 || lhs.rank() < 1)
    return std::nullopt;
  absl::StatusOr<DotDimensions> groups = dotDimensions(context);
  if (!groups.ok() || !groups->lhsBatch.empty() ||
      groups->lhsContracting.empty() ||
      groups->lhsContracting.size() != groups->rhsContracting.size())
    return std::nullopt;
  // The contracted dimensions must be a run at either end of each operand,
  // in the same order on both: then each operand is a matrix of its
  // flattened free and contracted dimensions (a weight's gradient
  // contracts an activation's leading batch and sequence dimensions).
  int64_t contracted = static_cast<int64_t>(groups->lhsContracting.size());
  auto runFrom = [&](const std::vector<int64_t> &dims, int64_t first) {
    for (int64_t i = 0; i < contracted; ++i)
      if (dims[i] != first + i)
        return false;
    return true;
  };
  auto product = [](const TensorView &view, int64_t begin, int64_t end) {
    int64_t result = 1;
    for (int64_t d = begin; d < end; ++d)
      result *= view.dims[d];
    return result;
  };
  MatmulShape shape;
  shape.packWeights = rhs.readOnly;
  int64_t lhsRank = lhs.rank(), rhsRank = rhs.rank();
  if (runFrom(groups->lhsContracting, lhsRank - contracted)) {
    shape.k = product(lhs, lhsRank - contracted, lhsRank);
    shape.m = product(lhs, 0, lhsRank - contracted);
  } else if (runFrom(groups->lhsContracting, 0)) {
    shape.sourceTransposed = true;
    shape.k = product(lhs, 0, contracted);
    shape.m = product(lhs, contracted, lhsRank);
  } else {
    return std::nullopt;
  }
  if (runFrom(groups->rhsContracting, 0)) {
    shape.n = product(rhs, contracted, rhsRank);
    if (product(rhs, 0, contracted) != shape.k)
      return std::nullopt;
  } else if (runFrom(groups->rhsContracting, rhsRank - contracted)) {
    shape.weightsTransposed = true;
    shape.n = product(rhs, 0, rhsRank - contracted);
    if (product(rhs, rhsRank - contracted, rhsRank) != shape.k)
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (shape.m == 0 || shape.n == 0 || shape.k == 0 ||
      result.numElements() != shape.m * shape.n)
    return std::nullopt;
  return shape;
}

std::optional<absl::Status>
multiplyWithOneDnn(KernelContext &context, std::unique_ptr<KernelState> &slot,
                   const KernelEpilogue *epilogue) {
  SingleOpenMpThread single;
  MatmulState *state = &keptState<MatmulState>(slot, [&] {
    auto fresh = std::make_unique<MatmulState>();
    if (std::optional<MatmulShape> shape = matmulShapeOf(context))
      prepareWithEpilogue(*fresh, epilogue, [&](const KernelEpilogue *with) {
        return prepare(*fresh, context.pool, context.workspace, *shape, with);
      });
    else
      fresh->unsupported = true;
    return fresh;
  });
  if (state->unsupported)
    return std::nullopt;
  const MatmulShape &shape = state->shape;
  const TensorView &lhs = context.operands[0], &rhs = context.operands[1];
  float *out = state->epilogue ? epilogue->result.as<float>()
                               : context.results[0].as<float>();
  try {
    if (shape.packWeights && state->packedFrom != rhs.data) {
      state->plainWeights.set_data_handle(rhs.data);
      dnnl::stream stream(state->engine);
      for (auto &[packed, reorder] : state->packs)
        reorder.execute(stream, state->plainWeights, packed);
      stream.wait();
      state->packedFrom = rhs.data; // Read-only: the same at every run.
    }
    for (size_t p = 0; p < state->pieces.size(); ++p) {
      Piece &piece = state->pieces[p];
      piece.source.set_data_handle(lhs.as<float>() +
                                   piece.firstRow *
                                       (shape.sourceTransposed ? 1 : shape.k));
      if (!shape.packWeights)
        piece.weights.set_data_handle(rhs.data);
      if (state->sharedScratch && context.workspace)
        piece.scratch.set_data_handle(context.workspace->piece(p));
      piece.destination.set_data_handle(out + piece.firstRow * shape.n);
      if (state->epilogue)
        setSideHandles(state->postOps, *epilogue, piece.sides, 0,
                       piece.firstRow * shape.n);
    }
  } catch (const dnnl::error &error) {
    return context.error(std::string("oneDNN matmul failed: ") + error.what());
  }
  if (absl::Status status =
          executePieces(context, state->pieces, "matmul", [](const Piece &) {});
      !status.ok())
    return status;
  if (epilogue)
    epilogue->applied = state->epilogue;
  return absl::OkStatus();
}

} // namespace tessel::kernels
