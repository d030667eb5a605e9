//===- RandomProgram.h - Random sharded programs, checked -------*- C++ -*-===//
//
// The partitioner's invariant under random input: from a seed, a program
// of graph ops (elementwise, broadcasts, transposes, reshapes, reductions,
// contractions, softmax, slices, concatenations, pads, 1-D convolutions
// (grouped, depthwise) and pools, sharding constraints) on random shapes, a
// random mesh and random shardings of its arguments, results and some
// intermediate values (so that layouts conflict and need reshards, uneven
// splits included). Each case is compiled for the mesh and run on host devices;
// its outputs must equal the single-device program's, or compilation must say
// the case is not supported. tests/random runs a fixed set of seeds;
// bench/partition_soak runs many more.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_TESTS_RANDOM_RANDOMPROGRAM_H
#define TESSEL_TESTS_RANDOM_RANDOMPROGRAM_H

#include <cstdint>
#include <map>
#include <string>

#include "mlir/IR/MLIRContext.h"
#include "runtime/Backend.h"

namespace tessel::random {

/// The program of `seed`, as MLIR text with its mesh and shardings.
std::string generateProgram(uint64_t seed);

struct CaseResult {
  enum Kind {
    Pass,
    /// Compilation reported the case as not supported (a clear error).
    Unsupported,
    /// Anything else: a wrong number, a crash-free failure to compile or
    /// run. `detail` says what.
    Fail,
  };
  Kind kind = Fail;
  std::string detail;
  /// Collectives in device 0's program by kind ("all_gather", ...): what
  /// communication the case exercised.
  std::map<std::string, int> collectives;
};

/// Compiles `program` for its mesh, runs it and its single-device
/// reference on host devices with inputs drawn from `seed`, and compares.
/// Compiles `program` and runs it partitioned on `partitionedOn` (null:
/// the host backend) and whole on the host backend, comparing.
/// `overlapCollectives`: as tessel-compile's --overlap-collectives.
CaseResult runProgram(const std::string &program, uint64_t seed,
                      mlir::MLIRContext &context,
                      Backend *partitionedOn = nullptr,
                      int64_t overlapCollectives = 0);

/// The same, with the shardings chosen by --auto's search (the program's
/// own annotations kept as constraints, on a two-level profile); an
/// annotation no strategy gives is reported as not supported.
CaseResult runProgramAuto(const std::string &program, uint64_t seed,
                          mlir::MLIRContext &context);

} // namespace tessel::random

#endif // TESSEL_TESTS_RANDOM_RANDOMPROGRAM_H
