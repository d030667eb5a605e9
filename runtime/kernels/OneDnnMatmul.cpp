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
};

bool prepare(MatmulState &state, ThreadPool &pool, const MatmulShape &shape,
             const KernelEpilogue *epilogue) {
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
    dnnl::memory::desc source({rows, shape.k}, kF32, Tag::ab);
    dnnl::memory::desc destination({rows, shape.n}, kF32, Tag::ab);
    dnnl::memory::desc weights(weightDims, kF32, Tag::any);
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
    piece.scratch = dnnl::memory(primitive.scratchpad_desc(), state.engine);
    for (auto &[packed, reorder] : state.packs)
      if (packed.get_desc() == primitive.weights_desc())
        piece.weights = packed;
    if (!piece.weights) {
      piece.weights = dnnl::memory(primitive.weights_desc(), state.engine);
      state.packs.emplace_back(
          piece.weights, dnnl::reorder(state.plainWeights, piece.weights));
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
      result.type != proto::F32 || rhs.rank() != 2 || !rhs.readOnly ||
      lhs.rank() < 1)
    return std::nullopt;
  absl::StatusOr<DotDimensions> groups = dotDimensions(context);
  if (!groups.ok() || !groups->lhsBatch.empty() ||
      groups->lhsContracting.size() != 1 ||
      groups->lhsContracting[0] != lhs.rank() - 1 ||
      groups->rhsContracting.size() != 1)
    return std::nullopt;
  MatmulShape shape;
  shape.k = lhs.dims.back();
  shape.m = lhs.numElements() / std::max<int64_t>(shape.k, 1);
  shape.weightsTransposed = groups->rhsContracting[0] == 1;
  shape.n = rhs.dims[shape.weightsTransposed ? 0 : 1];
  if (shape.m == 0 || shape.n == 0 || shape.k == 0 ||
      rhs.dims[shape.weightsTransposed ? 1 : 0] != shape.k ||
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
        return prepare(*fresh, context.pool, *shape, with);
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
    if (state->packedFrom != rhs.data) {
      state->plainWeights.set_data_handle(rhs.data);
      dnnl::stream stream(state->engine);
      for (auto &[packed, reorder] : state->packs)
        reorder.execute(stream, state->plainWeights, packed);
      stream.wait();
      state->packedFrom = rhs.data; // Read-only: the same at every run.
    }
    for (Piece &piece : state->pieces) {
      piece.source.set_data_handle(lhs.as<float>() + piece.firstRow * shape.k);
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
