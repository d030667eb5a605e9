//===- CostModel.cpp - Seconds for compute and collectives ----------------===//

#include "compiler/cost/CostModel.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"

namespace tessel::cost {

namespace {
/// What a link (or a collective kind's calibrated entry) needs: a latency
/// and a cost per run >= 0, a bandwidth > 0.
constexpr const char *kLinkFigures =
    "a latency >= 0, a bandwidth > 0 and run_seconds >= 0";
bool linkFiguresValid(const proto::DeviceProfile::Link &link) {
  return link.latency() >= 0 && link.bandwidth() > 0 && link.run_seconds() >= 0;
}
} // namespace

absl::StatusOr<CostModel> CostModel::fromProfile(proto::DeviceProfile profile) {
  auto bad = [&](const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat("device profile '", profile.name(), "': ", what));
  };
  const proto::DeviceProfile::Device &device = profile.device();
  if (device.peak_flops().empty())
    return bad("device.peak_flops lists no element type");
  for (const auto &[type, flops] : device.peak_flops())
    if (!(flops > 0))
      return bad(absl::StrCat("peak_flops[\"", type, "\"] must be positive"));
  if (!(device.memory_bandwidth() > 0))
    return bad("device.memory_bandwidth must be positive");
  if (device.memory_bytes() <= 0)
    return bad("device.memory_bytes must be positive");
  if (profile.links().empty())
    return bad("no links: a profile needs at least one joining every device");
  int64_t scope = 0;
  for (const proto::DeviceProfile::Link &link : profile.links()) {
    if (!linkFiguresValid(link))
      return bad(absl::StrCat("link '", link.name(), "' needs ", kLinkFigures));
    if (link.devices() < 0 || (scope == 0 && &link != &profile.links(0)) ||
        (link.devices() != 0 && link.devices() <= scope))
      return bad(
          absl::StrCat("link '", link.name(),
                       "' must join more devices than the one before "
                       "it (links go from the closest to the farthest)"));
    scope = link.devices();
  }
  if (scope != 0)
    return bad(absl::StrCat("the last link, '",
                            profile.links().rbegin()->name(),
                            "', must join every device (devices: 0)"));
  for (const auto &[family, kernel] : profile.kernels())
    if (!(kernel.launch_seconds() >= 0) || !(kernel.flop_rate() >= 0) ||
        !(kernel.byte_rate() >= 0))
      return bad(absl::StrCat("kernels[\"", family,
                              "\"] needs figures >= 0 (0: the device's rate)"));
  for (const auto &[kind, link] : profile.collectives()) {
    if (!collectiveNamed(kind))
      return bad(absl::StrCat("collectives[\"", kind,
                              "\"] is not a collective kind (all_reduce, "
                              "all_gather, reduce_scatter, all_to_all, "
                              "collective_permute, halo_exchange)"));
    if (!linkFiguresValid(link))
      return bad(
          absl::StrCat("collectives[\"", kind, "\"] needs ", kLinkFigures));
  }
  if (device.runtime_bytes() < 0)
    return bad("device.runtime_bytes must be >= 0");
  for (const auto &[kind, multiple] : device.collective_workspace()) {
    if (!collectiveNamed(kind))
      return bad(absl::StrCat("device.collective_workspace[\"", kind,
                              "\"] is not a collective kind"));
    if (!(multiple >= 0) || !std::isfinite(multiple))
      return bad(absl::StrCat("device.collective_workspace[\"", kind,
                              "\"] must be a finite multiple >= 0"));
  }
  if (!(profile.step_seconds() >= 0) ||
      !(profile.step_seconds_per_device() >= 0))
    return bad("step_seconds and step_seconds_per_device must be >= 0");
  return CostModel(std::move(profile));
}

namespace {
/// The profiles of compiler/cost/profiles, by file name without
/// `.textproto`.
const std::map<std::string, std::string> &embeddedProfiles() {
  static const auto *profiles = new std::map<std::string, std::string>{
#include "compiler/cost/EmbeddedProfiles.inc"
  };
  return *profiles;
}

absl::StatusOr<CostModel> parseProfile(const std::string &text,
                                       const std::string &source) {
  proto::DeviceProfile profile;
  if (!google::protobuf::TextFormat::ParseFromString(text, &profile))
    return absl::InvalidArgumentError(
        absl::StrCat(source, " is not a DeviceProfile in protobuf text form"));
  return CostModel::fromProfile(std::move(profile));
}
} // namespace

std::vector<std::string> CostModel::builtinProfiles() {
  std::vector<std::string> names;
  for (const auto &[name, text] : embeddedProfiles())
    names.push_back(name);
  return names;
}

absl::StatusOr<CostModel> CostModel::named(const std::string &nameOrPath) {
  if (auto it = embeddedProfiles().find(nameOrPath);
      it != embeddedProfiles().end())
    return parseProfile(it->second, "built-in profile " + nameOrPath);
  std::ifstream in(nameOrPath);
  if (!in)
    return absl::NotFoundError(absl::StrCat(
        "'", nameOrPath, "' is neither a built-in device profile (",
        absl::StrJoin(builtinProfiles(), ", "),
        ") nor a readable profile file"));
  return load(nameOrPath);
}

absl::StatusOr<CostModel> CostModel::load(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read device profile ", path));
  std::stringstream text;
  text << in.rdbuf();
  return parseProfile(text.str(), path);
}

absl::Status writeProfile(const proto::DeviceProfile &profile,
                          const std::string &path, const std::string &comment) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(profile, &text))
    return absl::InternalError("could not print the device profile");
  text = comment + text;
  if (path == "-") {
    std::cout << text << std::flush;
    return absl::OkStatus();
  }
  std::string partial = path + ".partial";
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file)
      return absl::InternalError(
          absl::StrCat("cannot write the device profile '", partial, "'"));
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(partial.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write the device profile '", path, "': ", why));
  }
  return absl::OkStatus();
}

std::string collectiveName(Collective kind) {
  switch (kind) {
  case Collective::AllReduce:
    return "all_reduce";
  case Collective::AllGather:
    return "all_gather";
  case Collective::ReduceScatter:
    return "reduce_scatter";
  case Collective::AllToAll:
    return "all_to_all";
  case Collective::CollectivePermute:
    return "collective_permute";
  case Collective::HaloExchange:
    return "halo_exchange";
  }
  return "";
}

std::optional<Collective> collectiveNamed(const std::string &name) {
  for (Collective kind :
       {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
        Collective::AllToAll, Collective::CollectivePermute,
        Collective::HaloExchange})
    if (absl::AsciiStrToLower(name) == collectiveName(kind))
      return kind;
  return std::nullopt;
}

CollectiveTerms collectiveTerms(Collective kind, double bytes,
                                int64_t members) {
  double p = static_cast<double>(members);
  if (p <= 1)
    return {};
  double share = (p - 1) / p;
  switch (kind) {
  case Collective::AllReduce:
    return {2 * (p - 1), 2 * share * bytes};
  case Collective::AllGather:
  case Collective::ReduceScatter:
  case Collective::AllToAll:
    return {p - 1, share * bytes};
  case Collective::CollectivePermute:
    return {1, bytes};
  case Collective::HaloExchange:
    return {2, bytes};
  }
  return {};
}

namespace {
double peakFor(const proto::DeviceProfile::Device &device,
               const std::string &elementType) {
  const auto &peaks = device.peak_flops();
  if (auto it = peaks.find(elementType); it != peaks.end())
    return it->second;
  return std::min_element(
             peaks.begin(), peaks.end(),
             [](const auto &a, const auto &b) { return a.second < b.second; })
      ->second;
}
} // namespace

double CostModel::computeSeconds(double flops, const std::string &elementType,
                                 double bytes) const {
  return std::max(flops / peakFor(profile_.device(), elementType),
                  bytes / profile_.device().memory_bandwidth());
}

double CostModel::kernelSeconds(const std::string &family, double flops,
                                const std::string &elementType,
                                double bytes) const {
  auto it = profile_.kernels().find(family);
  if (it == profile_.kernels().end())
    return computeSeconds(flops, elementType, bytes);
  const proto::DeviceProfile::Kernel &kernel = it->second;
  double flopRate = kernel.flop_rate() > 0
                        ? kernel.flop_rate()
                        : peakFor(profile_.device(), elementType);
  double byteRate = kernel.byte_rate() > 0
                        ? kernel.byte_rate()
                        : profile_.device().memory_bandwidth();
  return kernel.launch_seconds() + std::max(flops / flopRate, bytes / byteRate);
}

double CostModel::computeShare(int64_t devices) const {
  return profile_.shared_processor() ? std::max<double>(1, devices) : 1;
}

double CostModel::stepSeconds(int64_t devices) const {
  return profile_.step_seconds() +
         profile_.step_seconds_per_device() * static_cast<double>(devices);
}

const proto::DeviceProfile::Link &
CostModel::linkFor(const std::vector<int64_t> &group) const {
  for (const proto::DeviceProfile::Link &link : profile_.links()) {
    if (link.devices() == 0 || group.empty())
      return link;
    int64_t scope = group.front() / link.devices();
    if (std::all_of(group.begin(), group.end(), [&](int64_t device) {
          return device / link.devices() == scope;
        }))
      return link;
  }
  return *profile_.links().rbegin();
}

double CostModel::collectiveSeconds(Collective kind, double bytes,
                                    const std::vector<int64_t> &group,
                                    double runs) const {
  if (group.size() <= 1)
    return 0;
  auto own = profile_.collectives().find(collectiveName(kind));
  const proto::DeviceProfile::Link &link =
      own != profile_.collectives().end() ? own->second : linkFor(group);
  CollectiveTerms terms =
      collectiveTerms(kind, bytes, static_cast<int64_t>(group.size()));
  return terms.steps * link.latency() + terms.transferBytes / link.bandwidth() +
         runs * link.run_seconds();
}

int64_t CostModel::collectiveWorkspaceBytes(Collective kind,
                                            double bytes) const {
  const auto &workspace = profile_.device().collective_workspace();
  auto it = workspace.find(collectiveName(kind));
  if (it == workspace.end())
    return 0;
  // A profile's multiple is finite and >= 0 (fromProfile); a product past
  // what a device could hold is held at that, so that peaks still add.
  double product = std::ceil(it->second * bytes);
  constexpr double kMost = static_cast<double>(int64_t{1} << 60);
  return product >= kMost ? int64_t{1} << 60 : static_cast<int64_t>(product);
}

} // namespace tessel::cost
