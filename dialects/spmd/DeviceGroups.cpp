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
int64_t axisIndex(MeshAttr mesh, llvm::StringRef name) {
  for (auto [a, axis] : llvm::enumerate(mesh.getAxes()))
    if (axis.getName() == name)
      return a;
  return -1;
}

/// An axis or sub-axis as a digit of a device's coordinate on mesh axis
/// `axis`: (coordinate / minor) % size. "x":(pre)size on x=X has
/// minor = X / (pre * size); a whole axis is the digit of minor 1.
struct Digit {
  int64_t axis, minor, size;
};

/// The digits `names` (axisName's forms) denote; names not in the mesh are
/// left out.
std::vector<Digit> digitsOf(MeshAttr mesh,
                            const std::vector<std::string> &names) {
  std::vector<Digit> digits;
  for (const std::string &name : names) {
    AxisRefAttr axis = parseAxisName(mesh.getContext(), name);
    int64_t a = axis ? axisIndex(mesh, axis.getName()) : -1;
    if (a < 0)
      continue;
    int64_t whole = mesh.getAxes()[a].getSize();
    int64_t size = axis.size(mesh);
    int64_t pre = axis.isSubAxis() ? axis.getPreSize() : 1;
    digits.push_back({a, std::max<int64_t>(1, whole / (pre * size)), size});
  }
  return digits;
}

/// Mixed-radix number of `coordinates` on `digits` (major first).
int64_t numberOn(const std::vector<int64_t> &coordinates,
                 const std::vector<Digit> &digits) {
  int64_t number = 0;
  for (const Digit &digit : digits)
    number = number * digit.size +
             (coordinates[digit.axis] / digit.minor) % digit.size;
  return number;
}

} // namespace

std::vector<std::vector<int64_t>>
deviceGroups(MeshAttr mesh, const std::vector<std::string> &axes) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  std::vector<Digit> digits = digitsOf(mesh, axes);
  int64_t groupSize = 1;
  for (const Digit &digit : digits)
    groupSize *= digit.size;
  // Devices whose coordinates agree once the group's digits are taken out
  // form a group.
  std::map<std::vector<int64_t>, size_t> groupOf;
  std::vector<std::vector<int64_t>> groups;
  for (size_t p = 0; p < coordinates.size(); ++p) {
    std::vector<int64_t> key = coordinates[p];
    for (const Digit &digit : digits)
      key[digit.axis] -=
          (coordinates[p][digit.axis] / digit.minor) % digit.size * digit.minor;
    auto [it, inserted] = groupOf.try_emplace(key, groups.size());
    if (inserted)
      groups.emplace_back(groupSize, -1);
    groups[it->second][numberOn(coordinates[p], digits)] = deviceAt(mesh, p);
  }
  return groups;
}

std::vector<int64_t> partIndices(MeshAttr mesh,
                                 const std::vector<std::string> &axes) {
  std::vector<std::vector<int64_t>> coordinates = coordinatesOf(mesh);
  std::vector<Digit> digits = digitsOf(mesh, axes);
  std::vector<int64_t> parts(coordinates.size());
  for (size_t p = 0; p < coordinates.size(); ++p)
    parts[deviceAt(mesh, p)] = numberOn(coordinates[p], digits);
  return parts;
}

std::vector<int64_t> partIndicesOf(MeshAttr mesh,
                                   llvm::ArrayRef<AxisRefAttr> axes) {
  std::vector<std::string> names;
  for (AxisRefAttr axis : axes)
    names.push_back(axisName(axis));
  return partIndices(mesh, names);
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
      parts.push_back(numberOn(coordinates[p], digitsOf(mesh, axes)));
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
