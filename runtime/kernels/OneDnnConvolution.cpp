//===- OneDnnConvolution.cpp - Dense 2-D convolutions on oneDNN -----------===//

#include "runtime/kernels/OneDnnConvolution.h"

#include <algorithm>
#include <vector>

#include <cfloat>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#include "runtime/kernels/CpuClones.h"
#include "runtime/kernels/OneDnnPostOps.h"
#include "runtime/kernels/OpenMp.h"

namespace tessel::kernels {
namespace {

using Tag = dnnl::memory::format_tag;
using Dims = dnnl::memory::dims;

/// Output rows [firstRow, lastRow) of output channels [firstChannel,
/// lastChannel): its primitive, its views into the channels-last input and
/// output, its weights as given and packed.
struct Piece {
  int64_t firstRow = 0, lastRow = 0, firstInputRow = 0;
  int64_t firstChannel = 0, lastChannel = 0;
  dnnl::convolution_forward primitive;
  dnnl::memory source, plainWeights, weights, destination, scratch;
  std::vector<float> ownResult; // Split by channels: this piece's output.
  dnnl::reorder packWeights;
  dnnl::memory packScratch;
  dnnl::stream stream;
  // The epilogue's binary operands, by post-op.
  std::vector<dnnl::memory> sides;
  std::unordered_map<int, dnnl::memory> arguments;
};

struct ConvState : KernelState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  int64_t batch = 0, channels = 0, inH = 0, inW = 0;
  int64_t outChannels = 0, outH = 0, outW = 0;
  // Channels-last copies of one image's input and result, where the
  // buffers themselves are row-major.
  std::vector<float> sourceNhwc, resultNhwc;
  ConvolutionLayouts layouts;
  int64_t weightsPerChannel = 0; // Elements of one output channel's weights.
  // Pieces split the output channels (when the weights outweigh the
  // activations, so that each thread reads only its share of them) or else
  // the output rows.
  bool byChannels = false;
  std::vector<Piece> pieces;
  const void *packedFrom = nullptr; // Weights packed from these bytes.
  bool unsupported = false;         // oneDNN does not take it: do not retry.
  // The epilogue as post-ops (empty when there is none, or oneDNN did not
  // take it: the caller then runs it).
  std::vector<PostOp> postOps;
  bool epilogue = false;
};

/// Columns [first, last) of `out` [cols, kRows] = `in` [kRows, cols]
/// transposed, with the row count known to the compiler (a network's
/// first convolution reads 1 to 4 channels: its loads then vectorise).
template <int64_t kRows>
__attribute__((always_inline)) inline void
transposeFixed(const float *__restrict in, float *__restrict out, int64_t rows,
               int64_t cols, int64_t first, int64_t last) {
  int64_t n = kRows ? kRows : rows;
  for (int64_t c = first; c < last; ++c)
    for (int64_t r = 0; r < n; ++r)
      out[c * n + r] = in[r * cols + c];
}

TESSEL_CPU_CLONES
void transposeColumns(const float *in, float *out, int64_t rows, int64_t cols,
                      int64_t first, int64_t last) {
  switch (rows) {
  case 1:
    return transposeFixed<1>(in, out, rows, cols, first, last);
  case 2:
    return transposeFixed<2>(in, out, rows, cols, first, last);
  case 3:
    return transposeFixed<3>(in, out, rows, cols, first, last);
  case 4:
    return transposeFixed<4>(in, out, rows, cols, first, last);
  default:
    return transposeFixed<0>(in, out, rows, cols, first, last);
  }
}

/// `out` [cols, rows] = `in` [rows, cols] transposed (one image's NCHW <->
/// NHWC), over the pool by output rows. A loop of its own rather than
/// stridedCopy, whose per-run bookkeeping made MobileNet's convolutions
/// 10-90% slower in back-to-back runs (its channel runs are short).
void transpose(ThreadPool &pool, const float *in, float *out, int64_t rows,
               int64_t cols) {
  pool.parallelFor(cols,
                   std::max<int64_t>(1, 4096 / std::max<int64_t>(rows, 1)),
                   [&](int64_t first, int64_t last) {
                     transposeColumns(in, out, rows, cols, first, last);
                   });
}

/// Builds the pieces; false when oneDNN has no implementation for one.
bool prepare(ConvState &state, const KernelContext &context,
             const ConvolutionAttributes &a, ConvolutionLayouts layouts,
             const KernelEpilogue *epilogue) {
  state.layouts = layouts;
  state.pieces.clear();
  state.epilogue = false;
  state.postOps.clear();
  if (epilogue && layouts.resultChannelsLast) {
    if (std::optional<std::vector<PostOp>> ops = postOpsOf(*epilogue)) {
      state.epilogue = true;
      state.postOps = std::move(*ops);
    }
  }
  bool whole = std::any_of(
      state.postOps.begin(), state.postOps.end(),
      [](const PostOp &op) { return op.kind == PostOp::Side::Whole; });
  const TensorView &input = context.operands[0], &kernel = context.operands[1];
  const TensorView &result = context.results[0];
  state.batch = input.dims[0];
  state.channels = input.dims[1];
  state.inH = input.dims[2];
  state.inW = input.dims[3];
  state.outChannels = kernel.dims[0];
  state.outH = result.dims[2];
  state.outW = result.dims[3];
  int64_t kH = kernel.dims[2], kW = kernel.dims[3];
  int64_t padRight = (state.outW - 1) * a.strides[1] +
                     (kW - 1) * a.rhsDilation[1] + 1 - state.inW - a.padLow[1];
  // Windows that stop short of the last columns (a 1x1 stride-2 kernel on
  // an even width): oneDNN rounds the output width down, so no padding
  // gives the same width while the shortfall is under a stride.
  if (padRight < 0 && -padRight < a.strides[1])
    padRight = 0;
  if (padRight < 0)
    return false;
  if (!layouts.inputChannelsLast)
    state.sourceNhwc.resize(state.channels * state.inH * state.inW);
  // Groups: [O, C / g, kH, kW] is [g, O / g, C / g, kH, kW] in goihw.
  int64_t g = a.groups;
  state.weightsPerChannel = state.channels / g * kH * kW;
  int64_t threads = context.pool.size();
  state.byChannels = g == 1 && threads > 1 && state.outChannels >= 32 &&
                     !whole &&
                     state.outChannels * state.weightsPerChannel >=
                         state.channels * state.inH * state.inW +
                             state.outChannels * state.outH * state.outW;
  if (!state.byChannels && !layouts.resultChannelsLast)
    state.resultNhwc.resize(state.outChannels * state.outH * state.outW);
  int64_t pieces = state.byChannels
                       ? std::min<int64_t>(threads, state.outChannels / 16)
                       : std::min<int64_t>(threads, state.outH);
  for (int64_t p = 0; p < pieces; ++p) {
    Piece piece;
    if (state.byChannels) {
      // Multiples of 16 channels: the vector width of the kernels.
      piece.firstChannel = state.outChannels * p / pieces / 16 * 16;
      piece.lastChannel = p + 1 == pieces
                              ? state.outChannels
                              : state.outChannels * (p + 1) / pieces / 16 * 16;
      piece.lastRow = state.outH;
      piece.ownResult.resize((piece.lastChannel - piece.firstChannel) *
                             state.outH * state.outW);
    } else {
      piece.firstRow = state.outH * p / pieces;
      piece.lastRow = state.outH * (p + 1) / pieces;
      piece.lastChannel = state.outChannels;
    }
    int64_t rows = piece.lastRow - piece.firstRow;
    int64_t channels = piece.lastChannel - piece.firstChannel;
    Dims weightDims = g == 1
                          ? Dims{channels, state.channels, kH, kW}
                          : Dims{g, channels / g, state.channels / g, kH, kW};
    piece.plainWeights = dnnl::memory({weightDims, dnnl::memory::data_type::f32,
                                       g == 1 ? Tag::oihw : Tag::goihw},
                                      state.engine, DNNL_MEMORY_NONE);
    // The input rows this piece reads, and its padding above and below.
    int64_t top = piece.firstRow * a.strides[0] - a.padLow[0];
    int64_t bottom = (piece.lastRow - 1) * a.strides[0] +
                     (kH - 1) * a.rhsDilation[0] - a.padLow[0] + 1;
    piece.firstInputRow = std::clamp<int64_t>(top, 0, state.inH);
    int64_t lastInputRow = std::clamp<int64_t>(bottom, 0, state.inH);
    if (lastInputRow <= piece.firstInputRow)
      return false;
    int64_t padTop = piece.firstInputRow - top;
    int64_t padBottom = bottom - lastInputRow;
    dnnl::memory::desc source(
        {1, state.channels, lastInputRow - piece.firstInputRow, state.inW},
        dnnl::memory::data_type::f32, Tag::nhwc);
    dnnl::memory::desc destination({1, channels, rows, state.outW},
                                   dnnl::memory::data_type::f32, Tag::nhwc);
    dnnl::memory::desc weights(weightDims, dnnl::memory::data_type::f32,
                               Tag::any);
    // oneDNN's dilation counts the holes: ONNX's dilation minus one.
    dnnl::convolution_forward::desc description(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        source, weights, dnnl::memory::desc(), destination,
        {a.strides[0], a.strides[1]},
        {a.rhsDilation[0] - 1, a.rhsDilation[1] - 1}, {padTop, a.padLow[1]},
        {padBottom, padRight});
    // Pieces (and other devices' programs) run at once: each primitive gets
    // its own scratch memory, where oneDNN's default is one it shares.
    dnnl::primitive_attr attributes;
    attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    std::vector<dnnl::memory::desc> sideDescriptions;
    for (const PostOp &op : state.postOps) {
      if (op.kind == PostOp::Side::None) {
        ops.append_eltwise(1.0f, op.algorithm, op.alpha, op.beta);
        continue;
      }
      Dims dims = op.kind == PostOp::Side::Whole
                      ? Dims{1, channels, rows, state.outW}
                  : op.kind == PostOp::Side::Scalar ? Dims{1, 1, 1, 1}
                                                    : Dims{1, channels, 1, 1};
      sideDescriptions.emplace_back(dims, dnnl::memory::data_type::f32,
                                    Tag::nhwc);
      ops.append_binary(op.algorithm, sideDescriptions.back());
    }
    if (!state.postOps.empty())
      attributes.set_post_ops(ops);
    dnnl::convolution_forward::primitive_desc primitive(description, attributes,
                                                        state.engine);
    if (onlyReference(primitive))
      return false;
    piece.primitive = dnnl::convolution_forward(primitive);
    // Where source and destination are is set at each run.
    piece.source =
        dnnl::memory(primitive.src_desc(), state.engine, DNNL_MEMORY_NONE);
    piece.destination = dnnl::memory(primitive.dst_desc(), state.engine,
                                     state.byChannels ? piece.ownResult.data()
                                                      : DNNL_MEMORY_NONE);
    piece.weights = dnnl::memory(primitive.weights_desc(), state.engine);
    piece.scratch = dnnl::memory(primitive.scratchpad_desc(), state.engine);
    dnnl::primitive_attr packAttributes;
    packAttributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::reorder::primitive_desc pack(piece.plainWeights, piece.weights,
                                       packAttributes);
    piece.packWeights = dnnl::reorder(pack);
    piece.packScratch = dnnl::memory(pack.scratchpad_desc(), state.engine);
    piece.stream = dnnl::stream(state.engine);
    piece.arguments = {{DNNL_ARG_SRC, piece.source},
                       {DNNL_ARG_WEIGHTS, piece.weights},
                       {DNNL_ARG_DST, piece.destination},
                       {DNNL_ARG_SCRATCHPAD, piece.scratch}};
    bindSides(state.postOps, sideDescriptions, state.engine, piece.sides,
              piece.arguments);
    state.pieces.push_back(std::move(piece));
  }
  return true;
}

} // namespace

std::optional<absl::Status> convolveWithOneDnn(KernelContext &context,
                                               const ConvolutionAttributes *a,
                                               ConvolutionLayouts layouts,
                                               const KernelEpilogue *epilogue) {
  const TensorView &input = context.operands[0], &kernel = context.operands[1];
  const TensorView &result = context.results[0];
  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState> &slot = context.state ? *context.state : local;
  auto *state = dynamic_cast<ConvState *>(slot.get());
  if (!state && (!a || input.type != proto::F32 || input.rank() != 4 ||
                 a->lhsDilation[0] != 1 || a->lhsDilation[1] != 1 ||
                 a->padLow[0] < 0 || a->padLow[1] < 0 ||
                 input.numElements() == 0 || result.numElements() == 0))
    return std::nullopt;
  SingleOpenMpThread single;
  if (!state) {
    auto fresh = std::make_unique<ConvState>();
    prepareWithEpilogue(*fresh, epilogue, [&](const KernelEpilogue *with) {
      return prepare(*fresh, context, *a, layouts, with);
    });
    state = fresh.get();
    slot = std::move(fresh);
  }
  if (state->unsupported)
    return std::nullopt;
  try {
    // Weights: packed once when they cannot change, else every run.
    if (!kernel.readOnly || state->packedFrom != kernel.data) {
      for (Piece &piece : state->pieces) {
        piece.plainWeights.set_data_handle(
            kernel.as<float>() + piece.firstChannel * state->weightsPerChannel);
        const std::pair<int, dnnl::memory> arguments[] = {
            {DNNL_ARG_FROM, piece.plainWeights},
            {DNNL_ARG_TO, piece.weights},
            {DNNL_ARG_SCRATCHPAD, piece.packScratch}};
        execute(piece.packWeights, piece.stream, arguments);
        piece.stream.wait();
      }
      state->packedFrom = kernel.readOnly ? kernel.data : nullptr;
    }
    int64_t inPixels = state->inH * state->inW;
    int64_t outPixels = state->outH * state->outW;
    for (int64_t image = 0; image < state->batch; ++image) {
      float *in = input.as<float>() + image * state->channels * inPixels;
      float *out = result.as<float>() + image * state->outChannels * outPixels;
      float *source = in, *destination = out;
      if (!layouts.inputChannelsLast) {
        transpose(context.pool, in, state->sourceNhwc.data(), state->channels,
                  inPixels);
        source = state->sourceNhwc.data();
      }
      if (state->epilogue)
        destination = epilogue->result.as<float>() +
                      image * state->outChannels * outPixels;
      else if (!layouts.resultChannelsLast)
        destination = state->resultNhwc.data();
      for (Piece &piece : state->pieces) {
        piece.source.set_data_handle(source + piece.firstInputRow * state->inW *
                                                  state->channels);
        if (!state->byChannels)
          piece.destination.set_data_handle(
              destination + piece.firstRow * state->outW * state->outChannels);
        if (state->epilogue)
          setSideHandles(state->postOps, *epilogue, piece.sides,
                         piece.firstChannel,
                         image * state->outChannels * outPixels +
                             piece.firstRow * state->outW * state->outChannels);
      }
      absl::Status status = executePieces(
          context, state->pieces, "convolution", [&](const Piece &piece) {
            if (!state->byChannels || !layouts.resultChannelsLast)
              return;
            // A channel split's own result into its channels.
            float *target = state->epilogue ? destination : out;
            int64_t channels = piece.lastChannel - piece.firstChannel;
            for (int64_t q = 0; q < outPixels; ++q)
              std::copy_n(piece.ownResult.data() + q * channels, channels,
                          target + q * state->outChannels + piece.firstChannel);
          });
      if (!status.ok())
        return status;
      if (layouts.resultChannelsLast)
        continue;
      if (!state->byChannels)
        transpose(context.pool, state->resultNhwc.data(), out, outPixels,
                  state->outChannels);
      else
        for (const Piece &piece : state->pieces)
          transpose(context.pool, piece.ownResult.data(),
                    out + piece.firstChannel * outPixels, outPixels,
                    piece.lastChannel - piece.firstChannel);
    }
  } catch (const dnnl::error &error) {
    return context.error(std::string("oneDNN convolution failed: ") +
                         error.what());
  }
  if (epilogue)
    epilogue->applied = state->epilogue;
  return absl::OkStatus();
}

bool oneDnnConvolutionPrepared(const KernelContext &context) {
  auto *state = context.state
                    ? dynamic_cast<const ConvState *>(context.state->get())
                    : nullptr;
  return state && !state->unsupported;
}

} // namespace tessel::kernels
