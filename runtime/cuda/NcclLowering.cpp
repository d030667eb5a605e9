//===- NcclLowering.cpp - Collectives as NCCL calls -----------------------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

absl::Status Planner::collective(kernels::KernelContext &c) {
  const proto::Collective &collective = c.instruction.collective();
  int self = static_cast<int>(program.device_id());
  std::vector<int> members;
  for (const proto::Ints &group : collective.groups()) {
    std::vector<int> ids(group.values().begin(), group.values().end());
    if (std::find(ids.begin(), ids.end(), self) != ids.end())
      members = ids;
  }
  if (members.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("collective for tensor '", c.instruction.location(),
                     "' leaves out device ", self));
  int rank = static_cast<int>(std::find(members.begin(), members.end(), self) -
                              members.begin());
  NcclLowering lowering(*this, groupIndex(members), rank,
                        static_cast<int>(members.size()));
  std::vector<int> sources = permuteSources(collective, members);
  // Every collective runs on the communication stream, once the compute
  // stream has written its operands; one device's NCCL calls thus keep
  // program order on one stream. The compute stream waits for it at once,
  // or, for an asynchronous one, at its done.
  waitFor(record(Stream::Compute), Stream::Communication);
  stream = Stream::Communication;
  absl::Status status =
      runCollective(lowering, c.instruction, sources, c.operands, c.results,
                    absl::StrCat("device ", self));
  stream = Stream::Compute;
  if (!status.ok())
    return status;
  int done = record(Stream::Communication);
  if (collective.async())
    inFlight[index] = {done, scratchUsed};
  else
    waitFor(done, Stream::Compute);
  return absl::OkStatus();
}

absl::Status Planner::collectiveDone(kernels::KernelContext &c) {
  auto start = c.instruction.attributes().find("start");
  auto started = start == c.instruction.attributes().end()
                     ? inFlight.end()
                     : inFlight.find(static_cast<int>(start->second.i()));
  if (started == inFlight.end())
    return c.error("names no asynchronous collective started before it and "
                   "not yet done");
  waitFor(started->second.done, Stream::Compute);
  inFlight.erase(started);
  return absl::OkStatus();
}

namespace {

NcclReduction ncclReduction(Reduction reduction) {
  return reduction == Reduction::Max   ? NcclReduction::Max
         : reduction == Reduction::Min ? NcclReduction::Min
                                       : NcclReduction::Sum;
}

/// i1 reduces as "or" (sum, max) and "and" (min) on the host: as max and
/// min of bytes 0 and 1.
NcclReduction reductionFor(DType type, Reduction reduction) {
  if (type == DType::I1 && reduction == Reduction::Sum)
    return NcclReduction::Max;
  return ncclReduction(reduction);
}

std::string shapeOf(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, "x"), "]");
}

/// A collective buffer's dims as the planner takes them.
std::vector<int64_t> dimsOf(const CollectiveBuffer &buffer) {
  return {buffer.dims.begin(), buffer.dims.end()};
}

} // namespace

absl::Status NcclLowering::allReduce(Reduction reduction,
                                     const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  if (in.dims != out.dims || in.type != out.type)
    return absl::InvalidArgumentError(absl::StrCat(
        "all_reduce of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  NcclCall c = call(NcclOp::AllReduce, type);
  c.reduction = reductionFor(type, reduction);
  c.send = in.data;
  c.receive = out.data;
  c.count = numElements(in);
  planner.nccl(std::move(c));
  return absl::OkStatus();
}

absl::Status NcclLowering::movePieces(const std::vector<int64_t> &dims,
                                      int64_t dim,
                                      const std::vector<int64_t> &blockDims,
                                      int32_t elementBytes, char *tensor,
                                      char *blocks, bool toBlocks) {
  int64_t whole = dims[dim], piece = blockDims[dim];
  int64_t blockElements = product(blockDims);
  std::vector<int64_t> tensorStrides = kernels::denseStrides(dims);
  std::vector<int64_t> blockStrides = kernels::denseStrides(blockDims);
  for (int r = 0; r < size; ++r) {
    int64_t valid = validOf(whole, piece, r);
    if (valid == 0)
      continue;
    std::vector<int64_t> copy = blockDims;
    copy[dim] = valid;
    int64_t tensorBase = r * piece * tensorStrides[dim];
    int64_t blockBase = r * blockElements;
    absl::Status status =
        toBlocks
            ? planner.copyBlock(copy, elementBytes, tensor, tensorStrides,
                                tensorBase, blocks, blockStrides, blockBase)
            : planner.copyBlock(copy, elementBytes, blocks, blockStrides,
                                blockBase, tensor, tensorStrides, tensorBase);
    if (!status.ok())
      return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool>
NcclLowering::piecesAreBlocks(const char *collective, int64_t dim,
                              const CollectiveBuffer &whole,
                              const CollectiveBuffer &piece) const {
  int64_t rank_ = static_cast<int64_t>(whole.dims.size());
  bool fits = whole.type == piece.type &&
              piece.dims.size() == whole.dims.size() && dim >= 0 &&
              dim < rank_ && piece.dims[dim] == pieceOf(whole.dims[dim], size);
  for (int64_t d = 0; d < rank_ && fits; ++d)
    fits = d == dim || piece.dims[d] == whole.dims[d];
  if (!fits)
    return absl::InvalidArgumentError(absl::StrCat(
        collective, " along ", dim, " between ", shapeOf(whole.dims), " and ",
        shapeOf(piece.dims), " among ", size));
  return product(std::vector<int64_t>(whole.dims.begin(),
                                      whole.dims.begin() + dim)) == 1 &&
         whole.dims[dim] == piece.dims[dim] * size;
}

absl::Status NcclLowering::allGather(int64_t dim, const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  absl::StatusOr<bool> direct = piecesAreBlocks("all_gather", dim, out, in);
  if (!direct.ok())
    return direct.status();
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t count = numElements(in);
  char *blocks =
      *direct ? static_cast<char *>(out.data)
              : planner.scratch(static_cast<uint64_t>(count) * size * bytes);
  NcclCall c = call(NcclOp::AllGather, type);
  c.send = in.data;
  c.receive = blocks;
  c.count = count;
  planner.nccl(std::move(c));
  if (*direct)
    return absl::OkStatus();
  return movePieces(dimsOf(out), dim, dimsOf(in), bytes,
                    static_cast<char *>(out.data), blocks, /*toBlocks=*/false);
}

absl::Status NcclLowering::reduceScatter(Reduction reduction, int64_t dim,
                                         const CollectiveBuffer &in,
                                         const CollectiveBuffer &out) {
  absl::StatusOr<bool> direct = piecesAreBlocks("reduce_scatter", dim, in, out);
  if (!direct.ok())
    return direct.status();
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t count = numElements(out);
  char *blocks = static_cast<char *>(in.data);
  if (!*direct) {
    blocks = planner.scratch(static_cast<uint64_t>(count) * size * bytes);
    char zero[8] = {};
    planner.fill(blocks, count * size, bytes, zero);
    if (absl::Status status =
            movePieces(dimsOf(in), dim, dimsOf(out), bytes,
                       static_cast<char *>(in.data), blocks, /*toBlocks=*/true);
        !status.ok())
      return status;
  }
  NcclCall c = call(NcclOp::ReduceScatter, type);
  c.reduction = reductionFor(type, reduction);
  c.send = blocks;
  c.receive = out.data;
  c.count = count;
  planner.nccl(std::move(c));
  return absl::OkStatus();
}

absl::Status NcclLowering::allToAll(int64_t splitDim, int64_t concatDim,
                                    const CollectiveBuffer &in,
                                    const CollectiveBuffer &out) {
  int64_t rank_ = static_cast<int64_t>(in.dims.size());
  if (in.type != out.type || out.dims.size() != in.dims.size() ||
      splitDim < 0 || splitDim >= rank_ || concatDim < 0 || concatDim >= rank_)
    return absl::InvalidArgumentError(absl::StrCat(
        "all_to_all of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  // The piece each member sends: in split along splitDim.
  std::vector<int64_t> block = dimsOf(in);
  block[splitDim] = pieceOf(in.dims[splitDim], size);
  // Received blocks are laid along concatDim in rank order.
  std::vector<int64_t> expected = block;
  expected[concatDim] = out.dims[concatDim];
  if (expected != dimsOf(out) ||
      block[concatDim] != pieceOf(out.dims[concatDim], size))
    return absl::InvalidArgumentError(
        absl::StrCat("all_to_all of ", shapeOf(in.dims), " (split ", splitDim,
                     ", concatenated along ", concatDim, ") into ",
                     shapeOf(out.dims), " among ", size));
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t blockBytes = product(block) * bytes;
  char *send = planner.scratch(static_cast<uint64_t>(blockBytes) * size);
  char *receive = planner.scratch(static_cast<uint64_t>(blockBytes) * size);
  char zero[8] = {};
  planner.fill(send, product(block) * size, bytes, zero);
  if (absl::Status status =
          movePieces(dimsOf(in), splitDim, block, bytes,
                     static_cast<char *>(in.data), send, /*toBlocks=*/true);
      !status.ok())
    return status;
  NcclCall c = call(NcclOp::SendRecv, type);
  for (int r = 0; r < size; ++r) {
    c.sends.push_back({r, send ? send + r * blockBytes : nullptr, blockBytes});
    c.receives.push_back(
        {r, receive ? receive + r * blockBytes : nullptr, blockBytes});
  }
  planner.nccl(std::move(c));
  return movePieces(dimsOf(out), concatDim, block, bytes,
                    static_cast<char *>(out.data), receive, /*toBlocks=*/false);
}

absl::Status NcclLowering::collectivePermute(const std::vector<int> &sources,
                                             const CollectiveBuffer &in,
                                             const CollectiveBuffer &out) {
  if (in.type != out.type || in.dims != out.dims ||
      static_cast<int>(sources.size()) != size)
    return absl::InvalidArgumentError(absl::StrCat("collective_permute of ",
                                                   shapeOf(in.dims), " into ",
                                                   shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  int64_t bytes = numElements(in) * dtypeBytes(type);
  NcclCall c = call(NcclOp::SendRecv, type);
  for (int r = 0; r < size; ++r)
    if (sources[r] == rank && r != rank)
      c.sends.push_back({r, static_cast<char *>(in.data), bytes});
  int source = sources[rank];
  if (source >= 0 && source != rank)
    c.receives.push_back({source, static_cast<char *>(out.data), bytes});
  if (in.data == out.data && !c.sends.empty() &&
      (!c.receives.empty() || source < 0)) {
    // What is sent must not be overwritten by what arrives (or zeros).
    char *copy = planner.scratch(static_cast<uint64_t>(bytes));
    planner.deviceCopy(copy, in.data, bytes);
    for (NcclCall::Transfer &transfer : c.sends)
      transfer.data = copy;
  }
  if (!c.sends.empty() || !c.receives.empty())
    planner.nccl(std::move(c));
  if (source < 0) {
    char zero[8] = {};
    planner.fill(out.data, numElements(out), dtypeBytes(type), zero);
  } else if (source == rank) {
    planner.deviceCopy(out.data, in.data, bytes);
  }
  return absl::OkStatus();
}

absl::Status NcclLowering::haloExchange(int64_t dim, int64_t low, int64_t high,
                                        double value,
                                        const CollectiveBuffer &in,
                                        const CollectiveBuffer &out) {
  int64_t rank_ = static_cast<int64_t>(in.dims.size());
  if (in.type != out.type || out.dims.size() != in.dims.size() || dim < 0 ||
      dim >= rank_ || !kernels::isFloatType(in.type))
    return absl::InvalidArgumentError(absl::StrCat(
        "halo_exchange of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  int64_t n = in.dims[dim];
  std::vector<int64_t> expected = dimsOf(in);
  expected[dim] = n + low + high;
  if (expected != dimsOf(out) || low > n || high > n || -low > n || -high > n)
    return absl::InvalidArgumentError(
        absl::StrCat("halo_exchange along ", dim, " (", low, ", ", high,
                     ") of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  std::vector<int64_t> inStrides = kernels::denseStrides(dimsOf(in));
  std::vector<int64_t> outStrides = kernels::denseStrides(dimsOf(out));
  auto rowsOf = [&](int64_t rows) {
    std::vector<int64_t> dims = dimsOf(in);
    dims[dim] = rows;
    return dims;
  };
  auto copyRows = [&](int64_t rows, const char *src,
                      const std::vector<int64_t> &srcStrides, int64_t srcRow,
                      char *dst, const std::vector<int64_t> &dstStrides,
                      int64_t dstRow) {
    if (rows <= 0)
      return absl::OkStatus();
    return planner.copyBlock(rowsOf(rows), bytes, src, srcStrides,
                             srcRow * srcStrides[dim], dst, dstStrides,
                             dstRow * dstStrides[dim]);
  };
  char *outData = static_cast<char *>(out.data);
  const char *inData = static_cast<const char *>(in.data);
  if (in.data == out.data) { // Rows shift within the buffer: read a copy.
    char *copy =
        planner.scratch(static_cast<uint64_t>(numElements(in)) * bytes);
    planner.deviceCopy(copy, in.data, numElements(in) * bytes);
    inData = copy;
  }
  char padding[8];
  kernels::encodeScalar(in.type, value, padding);
  NcclCall c = call(NcclOp::SendRecv, type);
  // Along the outermost dimension the rows sent and the halos received are
  // contiguous in the tensors: NCCL reads and writes them there. Otherwise
  // they are packed: what goes to each neighbour and what comes from it.
  bool contiguous = product(std::vector<int64_t>(in.dims.begin(),
                                                 in.dims.begin() + dim)) == 1;
  int64_t rowBytes = inStrides[dim] * bytes;
  auto packed = [&](int64_t rows) {
    return planner.scratch(static_cast<uint64_t>(product(rowsOf(rows))) *
                           bytes);
  };
  int64_t lowRows = std::max<int64_t>(low, 0),
          highRows = std::max<int64_t>(high, 0);
  int64_t firstOwn = std::max<int64_t>(0, -low);
  int64_t ownRows = n - firstOwn - std::max<int64_t>(0, -high);
  // Halo rows received from each neighbour (none past the first or last).
  char *fromPrevious = nullptr, *fromNext = nullptr;
  bool hasPrevious = false, hasNext = false;
  if (lowRows > 0) {
    std::vector<int64_t> strides = kernels::denseStrides(rowsOf(lowRows));
    if (rank + 1 < size) { // My last `low` rows are the next one's halo.
      char *send = const_cast<char *>(inData) + (n - lowRows) * rowBytes;
      if (!contiguous) {
        send = packed(lowRows);
        if (absl::Status status = copyRows(lowRows, inData, inStrides,
                                           n - lowRows, send, strides, 0);
            !status.ok())
          return status;
      }
      c.sends.push_back({rank + 1, send, product(rowsOf(lowRows)) * bytes});
    }
    if (rank > 0) {
      fromPrevious = contiguous ? outData : packed(lowRows);
      hasPrevious = true;
      c.receives.push_back(
          {rank - 1, fromPrevious, product(rowsOf(lowRows)) * bytes});
    }
  }
  if (highRows > 0) {
    std::vector<int64_t> strides = kernels::denseStrides(rowsOf(highRows));
    if (rank > 0) { // My first `high` rows are the previous one's halo.
      char *send = const_cast<char *>(inData);
      if (!contiguous) {
        send = packed(highRows);
        if (absl::Status status =
                copyRows(highRows, inData, inStrides, 0, send, strides, 0);
            !status.ok())
          return status;
      }
      c.sends.push_back({rank - 1, send, product(rowsOf(highRows)) * bytes});
    }
    if (rank + 1 < size) {
      fromNext = contiguous ? outData + (lowRows + ownRows) * rowBytes
                            : packed(highRows);
      hasNext = true;
      c.receives.push_back(
          {rank + 1, fromNext, product(rowsOf(highRows)) * bytes});
    }
  }
  // Own rows: [max(0, -low), n - max(0, -high)) to row max(low, 0).
  if (absl::Status status = copyRows(ownRows, inData, inStrides, firstOwn,
                                     outData, outStrides, lowRows);
      !status.ok())
    return status;
  if (!c.sends.empty() || !c.receives.empty())
    planner.nccl(std::move(c));
  auto place = [&](int64_t rows, char *from, bool received,
                   int64_t row) -> absl::Status {
    if (rows <= 0 || (received && contiguous)) // (Received in place.)
      return absl::OkStatus();
    if (!received) {
      // Past the first or last member: the padding value.
      std::vector<int64_t> dims = rowsOf(rows);
      char *filled =
          planner.scratch(static_cast<uint64_t>(product(dims)) * bytes);
      planner.fill(filled, product(dims), bytes, padding);
      from = filled;
    }
    return copyRows(rows, from, kernels::denseStrides(rowsOf(rows)), 0, outData,
                    outStrides, row);
  };
  if (absl::Status status = place(lowRows, fromPrevious, hasPrevious, 0);
      !status.ok())
    return status;
  return place(highRows, fromNext, hasNext, lowRows + ownRows);
}

void registerCollectivePlanners() {
  registerOpPlanner("collective", &Planner::collective);
  registerOpPlanner("collective_done", &Planner::collectiveDone);
}

} // namespace tessel::cuda
