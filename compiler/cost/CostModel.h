//===- CostModel.h - Seconds for compute and collectives --------*- C++ -*-===//
//
// Prices the pieces of a partitioned program on the machine a DeviceProfile
// describes, in seconds:
//
//  - compute by the roofline: an op doing F floating-point operations of
//    one element type and moving B bytes through memory takes
//    max(F / peak, B / bandwidth);
//  - collectives by the alpha-beta model on the link their group uses (the
//    closest link whose scope holds every member), for p members, a link
//    latency alpha and a bandwidth per device w:
//      all_reduce (ring)          2 (p - 1) alpha + 2 (p - 1) / p * B / w
//      all_gather, B the result   (p - 1) alpha + (p - 1) / p * B / w
//      reduce_scatter, B the input (p - 1) alpha + (p - 1) / p * B / w
//      all_to_all, B per device   (p - 1) alpha + (p - 1) / p * B / w
//      collective_permute         alpha + B / w
//      halo_exchange, B received  2 alpha + B / w
//    and nothing for a group of one.
//
// A calibrated profile (tessel-tune writes one) refines this: a kernel
// family it lists costs a launch plus the roofline at the family's own
// rates, a collective kind it lists uses its own latency and bandwidth, a
// processor the devices share slows each device's compute by the number
// of devices, and a step has a fixed cost.
//
// Groups are device ids (what DeviceGroups gives for mesh axes), so this
// library knows no mesh and no IR.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_COST_COSTMODEL_H
#define TESSEL_COMPILER_COST_COSTMODEL_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/cost/device_profile.pb.h"

namespace tessel::cost {

enum class Collective {
  AllReduce,
  AllGather,
  ReduceScatter,
  AllToAll,
  CollectivePermute,
  HaloExchange,
};

/// "all_reduce", ...: the name a profile's `collectives` map uses.
std::string collectiveName(Collective kind);
/// The kind a name (as collectiveName gives, any case) stands for.
std::optional<Collective> collectiveNamed(const std::string &name);

/// A collective's price as alpha-beta terms: `steps` latencies and
/// `transferBytes` sent at the link's bandwidth (the table above), for
/// `members` devices.
struct CollectiveTerms {
  double steps = 0, transferBytes = 0;
};
CollectiveTerms collectiveTerms(Collective kind, double bytes, int64_t members);

/// Writes `profile` to `path` in protobuf text form after `comment` (lines
/// starting with "#", or empty), whole or not at all: a temporary file
/// beside it, renamed over it. "-" writes to standard output.
absl::Status writeProfile(const proto::DeviceProfile &profile,
                          const std::string &path,
                          const std::string &comment = "");

class CostModel {
public:
  /// Checks the profile: positive figures, links ordered by scope, the
  /// last joining every device.
  static absl::StatusOr<CostModel> fromProfile(proto::DeviceProfile profile);
  /// Reads a profile in protobuf text form.
  static absl::StatusOr<CostModel> load(const std::string &path);
  /// A profile built into Tessel by name (`host`, `h100_sxm`, `a100_sxm`:
  /// the files of compiler/cost/profiles), else the file at `nameOrPath`.
  static absl::StatusOr<CostModel> named(const std::string &nameOrPath);
  /// The names of the built-in profiles.
  static std::vector<std::string> builtinProfiles();

  const proto::DeviceProfile &profile() const { return profile_; }

  /// Seconds for `flops` operations on `elementType` ("f32", ...) moving
  /// `bytes`. An element type the profile does not list runs at its
  /// slowest listed rate.
  double computeSeconds(double flops, const std::string &elementType,
                        double bytes) const;

  /// Seconds for one instruction of kernel `family` ("dot_general",
  /// "fusion", ...): the profile's `kernels` entry for it (a launch plus
  /// the roofline at its rates), else computeSeconds.
  double kernelSeconds(const std::string &family, double flops,
                       const std::string &elementType, double bytes) const;

  /// What each device's compute seconds are multiplied by on a mesh of
  /// `devices`: the device count if they share one processor, else 1.
  double computeShare(int64_t devices) const;

  /// The fixed cost of a step on `devices` devices.
  double stepSeconds(int64_t devices) const;

  /// The link a group of devices (ids) communicates over.
  const proto::DeviceProfile::Link &
  linkFor(const std::vector<int64_t> &group) const;

  /// Seconds for `kind` over `group`, with `bytes` as the table above says
  /// and `runs` the contiguous runs a member moves (Link.run_seconds each).
  double collectiveSeconds(Collective kind, double bytes,
                           const std::vector<int64_t> &group,
                           double runs = 0) const;

  /// Bytes one device holds.
  int64_t memoryBytes() const { return profile_.device().memory_bytes(); }
  /// The runtime's own memory per device (DeviceProfile runtime_bytes).
  int64_t runtimeBytes() const { return profile_.device().runtime_bytes(); }
  /// The workspace `kind` takes with an operand of `bytes` per device
  /// (DeviceProfile collective_workspace; 0 for a kind it does not list).
  int64_t collectiveWorkspaceBytes(Collective kind, double bytes) const;

private:
  explicit CostModel(proto::DeviceProfile profile)
      : profile_(std::move(profile)) {}

  proto::DeviceProfile profile_;
};

} // namespace tessel::cost

#endif // TESSEL_COMPILER_COST_COSTMODEL_H
