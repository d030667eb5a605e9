//===- DeviceGroups.h - Which devices a collective joins --------*- C++ -*-===//
//
// A collective over mesh axes joins the devices that differ only in those
// axes. These functions turn axes into explicit device lists, which the
// executable carries so that runtimes need not know the mesh:
//
//   mesh ["x"=2, "y"=4], devices 0..7 row-major (device (i, j) = 4i + j):
//   groups over "y": {0,1,2,3}, {4,5,6,7}; over "x": {0,4}, {1,5}, ...
//
// With `device_ids`, logical position p of the mesh is device
// device_ids[p].
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_SPMD_DEVICEGROUPS_H
#define TESSEL_DIALECTS_SPMD_DEVICEGROUPS_H

#include <cstdint>
#include <string>
#include <vector>

#include "dialects/spmd/SpmdDialect.h"

namespace tessel::spmd {

/// The groups of a collective over `axes` (axes or sub-axes of `mesh` as
/// axisName writes them, the first the most major): each group lists its
/// devices by rank, and groups are ordered by their smallest logical
/// position. Axes not in the mesh are an error for the caller to have
/// verified; they are ignored here.
std::vector<std::vector<int64_t>>
deviceGroups(MeshAttr mesh, const std::vector<std::string> &axes);

/// The part of a dimension split by `axes` (major first) that each device
/// holds, by device id: the mixed-radix number of its coordinates on those
/// axes.
std::vector<int64_t> partIndices(MeshAttr mesh,
                                 const std::vector<std::string> &axes);

/// The same for axes that may be sub-axes: on x=4, `"x":(1)2` (the major
/// half) numbers the devices 0 0 1 1, `"x":(2)2` 0 1 0 1.
std::vector<int64_t> partIndicesOf(MeshAttr mesh,
                                   llvm::ArrayRef<AxisRefAttr> axes);

/// For a collective_permute between two layouts that split every dimension
/// into the same number of parts (`from[d]` and `to[d]` are dimension d's
/// axes): for each device id, the device that holds, under `from`, the
/// part it needs under `to` — the device itself where it can, else the one
/// sharing the most mesh coordinates with it. Empty if some part is held
/// by no device (the layouts do not have equal part counts).
std::vector<int64_t>
permuteSources(MeshAttr mesh, const std::vector<std::vector<std::string>> &from,
               const std::vector<std::vector<std::string>> &to);

} // namespace tessel::spmd

#endif // TESSEL_DIALECTS_SPMD_DEVICEGROUPS_H
