//===- ChannelsLast.h - Channels-last buffers chosen at load ----*- C++ -*-===//
//
// Executables are laid out as ONNX is, channels first ([N, C, H, W]), and
// stay portable across backends. oneDNN's convolutions want channels last
// ([N, H, W, C]): a convolution between row-major buffers transposes its
// input in and its result out, which on MobileNet-style networks cost more
// than the convolutions themselves. So at load the host decides, per arena
// buffer, to keep it channels-last where every kernel that reads or writes
// it takes that (each kernel says so with its ChannelsLastRule: the
// convolutions oneDNN runs, fusions) and a convolution touches it. Program
// inputs, outputs, parameters and constants stay row-major, and so do
// buffers whose bytes another buffer uses while they live (reshape views),
// except a fusion's result written over its operand (both then share one
// layout). The instructions touching a channels-last buffer are rewritten
// by their kernel's rule, and the buffer's view carries its dimensions in
// memory order.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_CHANNELSLAST_H
#define TESSEL_RUNTIME_HOST_CHANNELSLAST_H

#include <optional>
#include <vector>

#include "runtime/Executable.h"
#include "runtime/ThreadPool.h"
#include "runtime/proto/executable.pb.h"

namespace tessel {

// BufferLiveness, bufferLiveness and arenaOverlap: runtime/Executable.h.

/// Per buffer of `program`: whether the host keeps it channels-last.
/// `pool` only completes the kernels' contexts (nothing runs on it).
std::vector<bool> chooseChannelsLast(const proto::DeviceProgram &program,
                                     ThreadPool &pool);
/// As above, with the program's liveness already computed.
std::vector<bool> chooseChannelsLast(const proto::DeviceProgram &program,
                                     ThreadPool &pool,
                                     const BufferLiveness &live);

/// The instructions of `program` as the kernels run them with `layouts`
/// (one per buffer, from chooseChannelsLast): a rewritten copy where an
/// instruction touches a channels-last buffer, else empty.
std::vector<std::optional<proto::Instruction>>
instructionsForLayouts(const proto::DeviceProgram &program,
                       const std::vector<bool> &layouts, ThreadPool &pool);

/// `dims` (logical) in the memory order of a channels-last buffer.
std::vector<int64_t> channelsLastDims(const std::vector<int64_t> &dims);

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_CHANNELSLAST_H
