//===- DeviceGroups.cpp - Which devices a collective joins ----------------===//

#include "dialects/spmd/DeviceGroups.h"

#include <map>

namespace tessel::spmd {
namespace {

/// Logical positions 0..n-1 as coordinates on the mesh axes.
std::vector<std::vector<int64_t>> coordinatesOf(MeshAttr mesh) {
  int64_t n = mesh.numDevices();
  auto axes = mesh.getAxes();
  std::vector<std::vector<int64_t>> coordinates(
      n, std::vector<int64_t>(axes.size()));
  for (int64_t p = 0; p < n; ++p)
    for (int64_t a = static_cast<int64_t>(axes.size()) - 1, rest = p; a >= 0;
         --a) {
      coordinates[p][a] = rest % axes[a].getSize();
      rest /= axes[a].getSize();
    }
  return coordinates;
}

int64_t deviceAt(MeshAttr mesh, int64_t position) {
  return mesh.getDeviceIds().empty() ? position : mesh.getDeviceIds()[position];
}

/// Index of axis `name` in the mesh, or -1.
int64_t axisIndex(MeshAttr mesh, const std::string &name) {
  for (auto [a, axis] : llvm::enumerate(mesh.getAxes()))
    if (axis.getName() == name)
      return a;
  return -1;
}

/// Mixed-radix number of `coordinates` on `axes` (major first).
int64_t numberOn(MeshAttr mesh, const std::vector<int64_t> &coordinates,
                 const std::vector<std::string> &axes) {
  int64_t number = 0;
  for (const std::string &name : axes) {
    int64_t a = axisIndex(mesh, name);
    if (a < 0)
      continue;
    number = number * mesh.getAxes()[a].getSize() + coordinates[a];
  }
  return number;
}

} // namespace

std::vector<std::vector<int64_t>>
deviceGroups(MeshAttr mesh, const std::vector<std::string> &axes) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  std::vector<bool> inGroup(mesh.getAxes().size(), false);
  int64_t groupSize = 1;
  for (const std::string &name : axes)
    if (int64_t a = axisIndex(mesh, name); a >= 0) {
      inGroup[a] = true;
      groupSize *= mesh.getAxes()[a].getSize();
    }
  // Devices with equal coordinates outside the group's axes form a group.
  std::map<std::vector<int64_t>, size_t> groupOf;
  std::vector<std::vector<int64_t>> groups;
  for (size_t p = 0; p < coordinates.size(); ++p) {
    std::vector<int64_t> key;
    for (size_t a = 0; a < inGroup.size(); ++a)
      if (!inGroup[a])
        key.push_back(coordinates[p][a]);
    auto [it, inserted] = groupOf.try_emplace(key, groups.size());
    if (inserted)
      groups.emplace_back(groupSize, -1);
    groups[it->second][numberOn(mesh, coordinates[p], axes)] =
        deviceAt(mesh, p);
  }
  return groups;
}

std::vector<int64_t> partIndices(MeshAttr mesh,
                                 const std::vector<std::string> &axes) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  std::vector<int64_t> parts(coordinates.size());
  for (size_t p = 0; p < coordinates.size(); ++p)
    parts[deviceAt(mesh, p)] = numberOn(mesh, coordinates[p], axes);
  return parts;
}

std::vector<int64_t> partIndicesOf(MeshAttr mesh,
                                   llvm::ArrayRef<AxisRefAttr> axes) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  std::vector<int64_t> parts(coordinates.size());
  for (size_t p = 0; p < coordinates.size(); ++p) {
    int64_t number = 0;
    for (AxisRefAttr axis : axes) {
      int64_t a = axisIndex(mesh, axis.getName().str());
      if (a < 0)
        continue;
      // "x":(pre)size: after a major part of `pre`, so the devices with
      // the next x coordinates share a part for (x / (pre * size)) steps.
      int64_t size = axis.size(mesh);
      int64_t pre = axis.isSubAxis() ? axis.getPreSize() : 1;
      int64_t minor = mesh.getAxes()[a].getSize() / (pre * size);
      number = number * size + (coordinates[p][a] / minor) % size;
    }
    parts[deviceAt(mesh, p)] = number;
  }
  return parts;
}

std::vector<int64_t>
permuteSources(MeshAttr mesh, const std::vector<std::vector<std::string>> &from,
               const std::vector<std::vector<std::string>> &to) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  int64_t n = coordinates.size();
  // Per logical position, the part (per dimension) it holds or needs.
  auto partsUnder = [&](const std::vector<std::vector<std::string>> &layout,
                        int64_t p) {
    std::vector<int64_t> parts;
    for (const std::vector<std::string> &axes : layout)
      parts.push_back(numberOn(mesh, coordinates[p], axes));
    return parts;
  };
  std::vector<int64_t> sources(n, -1);
  for (int64_t p = 0; p < n; ++p) {
    std::vector<int64_t> needed = partsUnder(to, p);
    int64_t best = -1, bestShared = -1;
    for (int64_t q = 0; q < n; ++q) {
      if (partsUnder(from, q) != needed)
        continue;
      int64_t shared = 0;
      for (size_t a = 0; a < coordinates[p].size(); ++a)
        shared += coordinates[p][a] == coordinates[q][a];
      if (shared > bestShared) {
        best = q;
        bestShared = shared;
      }
    }
    if (best < 0)
      return {};
    sources[deviceAt(mesh, p)] = deviceAt(mesh, best);
  }
  return sources;
}

} // namespace tessel::spmd
